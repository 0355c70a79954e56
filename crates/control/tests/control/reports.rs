//! The report kept with a build, read back.

use std::time::Duration;

use slipway_control::{enqueue, get_build, list_builds, Stage};
use slipway_report::StoredReport;
use tokio_postgres::Client;

use crate::common::{project, sync, Db};

/// A build of the project `shop` whose stored report is `json`, as a row
/// written by some version of slipway holds it.
async fn build_with_report(client: &mut Client, json: &str) -> (i64, i64) {
    let shop = project(client, "shop").await;
    let main = sync(client, &shop, &[("main", "c0")]).await.created[0].clone();
    let build = enqueue(
        client,
        shop.id,
        main.id,
        "c0",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    client
        .execute(
            "UPDATE builds SET report = $2::text::jsonb WHERE id = $1",
            &[&build.id, &json],
        )
        .await
        .unwrap();
    (shop.id, build.id)
}

#[tokio::test]
async fn regression_report_of_an_older_version_still_reads() {
    let db = Db::new("reports_older").await;
    let mut client = db.connect().await;
    // As written before the failed tests were kept with the build: the
    // `slipway ci --json` object alone.
    let (_, id) = build_with_report(
        &mut client,
        r#"{"status": "failed", "commit": "c0", "odoo": "17.0", "modules": ["demo"],
            "tests": {"run": 3, "failed": 1, "errors": 0, "skipped": 0},
            "errors": [{"message": "FAIL: TestDemo.test_fail", "traceback": ""}],
            "warnings": [], "duration_s": 12.5, "log": "/logs/odoo.log"}"#,
    )
    .await;
    let build = get_build(&client, id).await.unwrap();
    let Some(StoredReport::Readable(report)) = build.report else {
        panic!("an older report does not read: {:?}", build.report);
    };
    assert_eq!((report.run.tests.run, report.run.tests.failed), (3, 1));
    assert_eq!(report.run.errors[0].message, "FAIL: TestDemo.test_fail");
    assert!(report.failed_tests.is_empty());
}

#[tokio::test]
async fn regression_unreadable_report_is_not_shown_as_zero_tests() {
    let db = Db::new("reports_unreadable").await;
    let mut client = db.connect().await;
    let (project, id) =
        build_with_report(&mut client, r#"{"status": "failed", "tests": "many"}"#).await;
    let build = get_build(&client, id).await.unwrap();
    assert!(
        matches!(build.report, Some(StoredReport::Unreadable(_))),
        "{:?}",
        build.report
    );
    assert_eq!(build.report.as_ref().and_then(StoredReport::readable), None);
    // The list of builds still lists it (an unreadable report used to fail
    // the whole listing).
    let listed = list_builds(&client, project, None, 50).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(matches!(
        listed[0].report,
        Some(StoredReport::Unreadable(_))
    ));
}
