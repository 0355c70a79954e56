use std::time::Duration;

use slipway_control::{
    claim, enqueue, enqueue_duplicate, finish, get_mail, list_builds, list_mails,
    mail_secret_matches, mark_stopped, previous_staging_build, production_build,
    production_databases, production_snapshots, set_mail_secret, store_mail, BuildAttempt,
    BuildStatus, ControlError, NewMail, Outcome, Serving, Stage,
};
use tokio_postgres::Client;

use crate::common::{project, sync, Db};

const LEASE: Duration = Duration::from_secs(60);

/// Runs `commit` of the branch in `stage` to `status`, serving when it passed.
async fn build(
    client: &Client,
    project_id: i64,
    branch_id: i64,
    commit: &str,
    stage: Stage,
    status: BuildStatus,
) -> i64 {
    let queued = enqueue(
        client,
        project_id,
        branch_id,
        commit,
        stage,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let claimed = claim(client, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, queued.id);
    let serving = (status != BuildStatus::Failed).then(|| Serving {
        url: format!("http://127.0.0.1:9{}", queued.id),
        port: 9000,
        database: format!("slipway_b_{}", BuildAttempt::new(queued.id, 1)),
    });
    let outcome = Outcome {
        status,
        serving,
        report: None,
        log_path: None,
        reason: None,
    };
    finish(client, queued.id, "w1", &outcome).await.unwrap();
    queued.id
}

#[tokio::test]
async fn production_is_the_newest_serving_production_build_and_a_failed_update_lists_after_it() {
    let db = Db::new("deployments_production").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("main", "m1")]).await;
    let main = changes.created[0].id;
    assert_eq!(production_build(&client, shop.id).await.unwrap(), None);

    let first = build(
        &client,
        shop.id,
        main,
        "m1",
        Stage::Production,
        BuildStatus::Success,
    )
    .await;
    let second = build(
        &client,
        shop.id,
        main,
        "m2",
        Stage::Production,
        BuildStatus::Success,
    )
    .await;
    // The instant between recording the new build and stopping the old one.
    assert_eq!(
        production_build(&client, shop.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        second
    );
    mark_stopped(&client, first, "replaced").await.unwrap();
    let failed = build(
        &client,
        shop.id,
        main,
        "m3",
        Stage::Production,
        BuildStatus::Failed,
    )
    .await;
    assert_eq!(
        production_build(&client, shop.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        second
    );

    let listed: Vec<i64> = list_builds(&client, shop.id, Some("main"), 10)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(listed, vec![second, failed, first]);

    // The stopped one is the snapshot taken by the update.
    let snapshots: Vec<i64> = production_snapshots(&client, shop.id)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(snapshots, vec![first]);

    // Serving and stopped-but-kept production databases are never neutralized.
    let mut protected = production_databases(&client).await.unwrap();
    protected.sort();
    assert_eq!(
        protected,
        vec![
            format!("slipway_b_{}", BuildAttempt::new(first, 1)),
            format!("slipway_b_{}", BuildAttempt::new(second, 1))
        ]
    );
}

#[tokio::test]
async fn a_duplicate_needs_production_and_copies_its_commit() {
    let db = Db::new("deployments_duplicate").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("main", "m1")]).await;
    let main = changes.created[0].id;
    let refused = enqueue_duplicate(&client, "shop").await.unwrap_err();
    assert!(
        matches!(refused, ControlError::NoProduction(_)),
        "{refused}"
    );
    assert!(refused.to_string().contains("no production database yet"));
    assert!(matches!(
        enqueue_duplicate(&client, "nope").await.unwrap_err(),
        ControlError::UnknownProject(_)
    ));

    let production = build(
        &client,
        shop.id,
        main,
        "m1",
        Stage::Production,
        BuildStatus::Success,
    )
    .await;
    let duplicate = enqueue_duplicate(&client, "shop").await.unwrap();
    assert!(duplicate.duplicate);
    assert_eq!(duplicate.stage, Stage::Staging);
    assert_eq!(duplicate.commit, "m1");
    assert_eq!(duplicate.branch_id, main);
    // A second request while the first is queued is refused, not merged.
    assert!(matches!(
        enqueue_duplicate(&client, "shop").await.unwrap_err(),
        ControlError::BuildInProgress { .. }
    ));
    // A serving duplicate is never taken for production.
    let claimed = claim(&client, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, duplicate.id);
    let outcome = Outcome {
        status: BuildStatus::Success,
        serving: Some(Serving {
            url: "http://127.0.0.1:9999".into(),
            port: 9999,
            database: "slipway_b_dup".into(),
        }),
        report: None,
        log_path: None,
        reason: None,
    };
    finish(&client, duplicate.id, "w1", &outcome).await.unwrap();
    assert_eq!(
        production_build(&client, shop.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        production
    );
    assert!(!production_databases(&client)
        .await
        .unwrap()
        .contains(&"slipway_b_dup".to_string()));
}

#[tokio::test]
async fn the_previous_staging_build_is_the_branch_s_newest_serving_one() {
    let db = Db::new("deployments_previous_staging").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("main", "m1"), ("rc", "r1")]).await;
    let rc = changes.created.iter().find(|b| b.name == "rc").unwrap().id;
    assert_eq!(previous_staging_build(&client, rc).await.unwrap(), None);
    let first = build(
        &client,
        shop.id,
        rc,
        "r1",
        Stage::Staging,
        BuildStatus::Success,
    )
    .await;
    build(
        &client,
        shop.id,
        rc,
        "r2",
        Stage::Staging,
        BuildStatus::Failed,
    )
    .await;
    assert_eq!(
        previous_staging_build(&client, rc)
            .await
            .unwrap()
            .unwrap()
            .id,
        first
    );
}

#[tokio::test]
async fn mail_is_stored_per_build_behind_its_own_secret() {
    let db = Db::new("deployments_mails").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("dev", "d1")]).await;
    let dev = changes.created[0].id;
    let id = build(
        &client,
        shop.id,
        dev,
        "d1",
        Stage::Development,
        BuildStatus::Success,
    )
    .await;
    assert!(
        !mail_secret_matches(&client, id, "abc").await.unwrap(),
        "no secret yet"
    );
    set_mail_secret(&client, id, "abc").await.unwrap();
    assert!(mail_secret_matches(&client, id, "abc").await.unwrap());
    assert!(!mail_secret_matches(&client, id, "abd").await.unwrap());
    assert!(!mail_secret_matches(&client, id + 1, "abc").await.unwrap());

    let to = vec!["customer@example.com".to_string()];
    let raw = b"Subject: Hello\r\n\r\nBody\r\n";
    let mail = store_mail(
        &client,
        id,
        &NewMail {
            envelope_from: "shop@example.com",
            envelope_to: &to,
            from: "Shop <shop@example.com>",
            to: &to,
            subject: "Hello",
            date: None,
            raw,
        },
    )
    .await
    .unwrap();
    let listed = list_mails(&client, id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, mail);
    assert_eq!(listed[0].subject, "Hello");
    assert_eq!(listed[0].to, to);
    assert_eq!(get_mail(&client, id, mail).await.unwrap(), raw.to_vec());
    assert!(matches!(
        get_mail(&client, id + 1, mail).await.unwrap_err(),
        ControlError::UnknownMail { .. }
    ));
    assert!(matches!(
        list_mails(&client, 999_999).await.unwrap_err(),
        ControlError::UnknownBuild(999_999)
    ));
}

#[tokio::test]
async fn builds_that_copy_production_go_to_the_worker_serving_it() {
    let db = Db::new("deployments_pinning").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("rc", "r1"), ("dev", "d1")],
    )
    .await;
    let id = |name: &str| changes.created.iter().find(|b| b.name == name).unwrap().id;
    build(
        &client,
        shop.id,
        id("main"),
        "m1",
        Stage::Production,
        BuildStatus::Success,
    )
    .await;
    let staging = enqueue(
        &client,
        shop.id,
        id("rc"),
        "r1",
        Stage::Staging,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let update = enqueue(
        &client,
        shop.id,
        id("main"),
        "m2",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let development = enqueue(
        &client,
        shop.id,
        id("dev"),
        "d1",
        Stage::Development,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    // Another host gets the development build only.
    assert_eq!(
        claim(&client, "w2", LEASE).await.unwrap().unwrap().id,
        development.id
    );
    assert_eq!(claim(&client, "w2", LEASE).await.unwrap(), None);
    let mut taken = vec![
        claim(&client, "w1", LEASE).await.unwrap().unwrap().id,
        claim(&client, "w1", LEASE).await.unwrap().unwrap().id,
    ];
    taken.sort();
    assert_eq!(taken, vec![staging.id, update.id]);
}
