use slipway_control::{migrate, ControlError, LATEST_VERSION};

use crate::common::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_each_version_once_and_rerunning_is_a_no_op() {
    let db = Db::empty("migrations_concurrent").await;
    let (mut first, mut second) = (db.connect().await, db.connect().await);
    let (a, b) = tokio::join!(
        tokio::spawn(async move { migrate(&mut first).await }),
        tokio::spawn(async move { migrate(&mut second).await }),
    );
    assert_eq!(a.unwrap().unwrap(), LATEST_VERSION);
    assert_eq!(b.unwrap().unwrap(), LATEST_VERSION);

    let mut client = db.connect().await;
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=LATEST_VERSION as i32).collect::<Vec<_>>());
    assert_eq!(migrate(&mut client).await.unwrap(), LATEST_VERSION);
    let count: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, i64::from(LATEST_VERSION));
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_slipway_is_refused() {
    let db = Db::new("migrations_newer").await;
    let mut client = db.connect().await;
    client
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&(LATEST_VERSION as i32 + 1)],
        )
        .await
        .unwrap();
    let error = migrate(&mut client).await.unwrap_err();
    assert!(
        matches!(error, ControlError::SchemaTooNew { found, known } if found == LATEST_VERSION + 1 && known == LATEST_VERSION),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade"), "{error}");
}

#[tokio::test]
async fn using_an_unmigrated_database_says_to_migrate() {
    let db = Db::empty("migrations_missing").await;
    let client = db.connect().await;
    let error = slipway_control::list_projects(&client).await.unwrap_err();
    assert!(error.to_string().contains("run the migrations"), "{error}");
}
