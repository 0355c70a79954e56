//! The claim loop against a real PostgreSQL, without Odoo: builds are held
//! mid-run in their fetch (a git server that never answers) while the test
//! takes their lease away or cuts the worker off the control database.

mod common;

use std::time::Duration;

use common::{Host, SilentGit, WORKER};
use slipway_control::{BuildState, BuildStatus, Outcome, Reclaimed};
use slipway_worker::Event;

const COMMIT: &str = "1111111111111111111111111111111111111111";
const NEXT_COMMIT: &str = "2222222222222222222222222222222222222222";
/// Generous bounds on what takes milliseconds, for a loaded machine.
const SOON: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_lost_mid_build_stops_the_build_and_leaves_it_to_the_new_owner() {
    let git = SilentGit::bind().await;
    // Heartbeats every second: the loss is seen within one.
    let mut host = Host::start("lease_lost", Duration::from_secs(3), None).await;
    let project = host.project("shop", &git.url(), "17.0").await;
    let build = host.push(&project, "feature", COMMIT).await;
    let fetch = git.fetching().await;
    let first_attempt = host.run_marker(&format!("s{}a1", build.id));
    assert!(first_attempt.exists(), "the running attempt has its marker");

    // The reaper takes the build back and another worker claims it, in one
    // transaction: this worker's heartbeat sees the new owner, never a queue.
    let other = host.sql().await;
    other.batch_execute("BEGIN").await.unwrap();
    other
        .execute(
            "UPDATE builds SET lease_until = now() - interval '1 second' WHERE id = $1",
            &[&build.id],
        )
        .await
        .unwrap();
    let reclaimed = slipway_control::reclaim_expired(&other).await.unwrap();
    assert!(matches!(
        reclaimed.as_slice(),
        [(id, Reclaimed::Retrying { attempt: 2, .. })] if *id == build.id
    ));
    let taken = slipway_control::claim(&other, "other-worker", Duration::from_secs(3600))
        .await
        .unwrap()
        .expect("the build is queued again");
    other.batch_execute("COMMIT").await.unwrap();
    assert_eq!((taken.id, taken.attempts), (build.id, 2));

    host.build_ended(build.id, SOON).await;
    assert!(
        !first_attempt.exists(),
        "the first attempt's resources were not removed after its lease was lost"
    );
    // The fetch fails now; the first worker must be gone from the build.
    drop(fetch);
    let now = host.build(build.id).await;
    assert_eq!(now.state, BuildState::Running);
    assert_eq!(now.worker.as_deref(), Some("other-worker"));
    assert_eq!((now.status, now.attempts), (None, 2));

    // The new owner's outcome is the one recorded.
    let outcome = Outcome {
        status: BuildStatus::Failed,
        serving: None,
        report: None,
        log_path: None,
        reason: Some("the other worker's outcome".into()),
    };
    let finished = slipway_control::finish(&other, build.id, "other-worker", &outcome)
        .await
        .expect("the new owner records its outcome");
    assert_eq!(finished.reason, outcome.reason);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_database_hiccup_mid_build_records_the_outcome_once() {
    let git = SilentGit::bind().await;
    // Far longer than the outage: the build stays this worker's throughout.
    let mut host = Host::start("hiccup", Duration::from_secs(60), None).await;
    let project = host.project("shop", &git.url(), "17.0").await;
    let build = host.push(&project, "feature", COMMIT).await;
    let fetch = git.fetching().await;

    // Every session of the worker killed, and no new one let in.
    let admin = slipway_postgres::test_support::shared()
        .await
        .cluster
        .connect("postgres")
        .await
        .unwrap();
    let database = host.database.clone();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ))
        .await
        .unwrap();
    // The fetch fails: the worker has an outcome to record and no database.
    drop(fetch);
    assert_eq!(
        host.next_event(SOON).await,
        Event::RecordDeferred { build: build.id },
        "the worker gave up its outcome instead of waiting out the hiccup"
    );
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"
        ))
        .await
        .unwrap();
    host.build_ended(build.id, SOON).await;
    let recorded = host.build(build.id).await;
    assert_eq!(
        (recorded.state, recorded.status),
        (BuildState::Done, Some(BuildStatus::Failed)),
        "the outcome was lost in the hiccup: {recorded:?}"
    );
    assert_eq!(recorded.worker.as_deref(), Some(WORKER));
    assert_eq!(recorded.attempts, 1, "the build was run twice");
    let reason = recorded.reason.unwrap_or_default();
    assert!(
        reason.starts_with("fetching git://127.0.0.1:"),
        "the fetch's failure is the reason: {reason}"
    );

    // The loop reconnected: the next push is taken and recorded too.
    let next = host.push(&project, "feature", NEXT_COMMIT).await;
    drop(git.fetching().await);
    host.build_ended(next.id, SOON).await;
    let next = host.build(next.id).await;
    assert_eq!(
        (next.state, next.status, next.attempts),
        (BuildState::Done, Some(BuildStatus::Failed), 1)
    );
    host.stop().await;
}
