use std::collections::BTreeSet;
use std::time::Duration;

use slipway_control::{
    claim, enqueue, finish, get_build, heartbeat, list_workers, listen, mark_stopped, next_due,
    reclaim_expired, register_worker, release, touch_worker, BuildState, BuildStatus, ControlError,
    Outcome, Reclaimed, Serving, Stage,
};

use crate::common::{expire_leases, project, report, sync, Db};

const LEASE: Duration = Duration::from_secs(60);

fn done(status: BuildStatus) -> Outcome {
    Outcome {
        status,
        serving: None,
        report: None,
        log_path: None,
        reason: None,
    }
}

fn serving(name: &str) -> Outcome {
    Outcome {
        serving: Some(Serving {
            url: format!("https://{name}.example"),
            port: 8069,
            database: name.to_string(),
        }),
        ..done(BuildStatus::Success)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_never_claim_the_same_build() {
    let db = Db::new("queue_concurrent_claims").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let pairs: Vec<(String, String)> = (0..20)
        .map(|n| (format!("b{n:02}"), format!("c{n}")))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(b, c)| (b.as_str(), c.as_str()))
        .collect();
    let changes = sync(&mut client, &shop, &pairs).await;
    let mut queued = BTreeSet::new();
    for branch in &changes.created {
        let build = enqueue(
            &client,
            shop.id,
            branch.id,
            branch.head.as_deref().unwrap(),
            branch.stage,
            Duration::ZERO,
            &[],
        )
        .await
        .unwrap();
        queued.insert(build.id);
    }
    assert_eq!(queued.len(), 20);

    let mut tasks = Vec::new();
    for worker in 0..4 {
        let session = db.connect().await;
        tasks.push(tokio::spawn(async move {
            let name = format!("w{worker}");
            let mut mine = Vec::new();
            while let Some(build) = claim(&session, &name, LEASE).await.unwrap() {
                assert_eq!(build.state, BuildState::Running);
                assert_eq!(build.worker.as_deref(), Some(name.as_str()));
                assert_eq!(build.attempts, 1);
                mine.push(build.id);
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    claimed.sort_unstable();
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "a build was claimed twice: {claimed:?}"
    );
    assert_eq!(unique, queued);
    let running: i64 = client
        .query_one("SELECT count(*) FROM builds WHERE state = 'running'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(running, 20);
}

#[tokio::test]
async fn a_branch_runs_one_build_at_a_time_and_waits_for_its_quiet_period() {
    let db = Db::new("queue_one_per_branch").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c1")]).await.created[0].clone();

    let first = enqueue(
        &client,
        shop.id,
        main.id,
        "c1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let running = claim(&client, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(running.id, first.id);
    assert!(running.started_at.is_some() && running.lease_until.is_some());
    // A push while it runs queues a second build, which waits for the first.
    let second = enqueue(
        &client,
        shop.id,
        main.id,
        "c2",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(claim(&client, "w2", LEASE).await.unwrap(), None);
    finish(&client, first.id, "w1", &done(BuildStatus::Success))
        .await
        .unwrap();
    let next = claim(&client, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!((next.id, next.commit.as_str()), (second.id, "c2"));
    finish(&client, next.id, "w2", &done(BuildStatus::Warning))
        .await
        .unwrap();

    // Not before its quiet period.
    let later = enqueue(
        &client,
        shop.id,
        main.id,
        "c3",
        Stage::Production,
        Duration::from_secs(3600),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(claim(&client, "w1", LEASE).await.unwrap(), None);
    let due = next_due(&client).await.unwrap().unwrap();
    assert!(
        due > Duration::from_secs(3500) && due <= Duration::from_secs(3600),
        "{due:?}"
    );
    enqueue(
        &client,
        shop.id,
        main.id,
        "c3",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(next_due(&client).await.unwrap(), Some(Duration::ZERO));
    assert_eq!(
        claim(&client, "w1", LEASE).await.unwrap().unwrap().id,
        later.id
    );
    assert_eq!(next_due(&client).await.unwrap(), None);
}

#[tokio::test]
async fn expired_leases_are_retried_then_failed_and_the_old_worker_is_told() {
    let db = Db::new("queue_lease_expiry").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c1")]).await.created[0].clone();
    let build = enqueue(
        &client,
        shop.id,
        main.id,
        "c1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();

    // Nothing expired yet.
    claim(&client, "w1", LEASE).await.unwrap().unwrap();
    assert!(reclaim_expired(&client).await.unwrap().is_empty());
    assert!(heartbeat(&client, build.id, "w1", LEASE).await.unwrap());
    assert!(!heartbeat(&client, build.id, "w2", LEASE).await.unwrap());

    expire_leases(&client).await;
    assert_eq!(
        reclaim_expired(&client).await.unwrap(),
        [(
            build.id,
            Reclaimed::Retrying {
                attempt: 2,
                max_attempts: 3
            }
        )]
    );
    let retried = get_build(&client, build.id).await.unwrap();
    assert_eq!(retried.state, BuildState::Pending);
    assert_eq!(retried.worker, None);
    assert_eq!(retried.lease_until, None);
    assert_eq!(retried.attempts, 1);
    assert_eq!(
        retried.reason.as_deref(),
        Some("worker w1 stopped answering; retrying (attempt 2 of 3)")
    );
    // The old worker learns it lost the build, and cannot finish it.
    assert!(!heartbeat(&client, build.id, "w1", LEASE).await.unwrap());

    let second = claim(&client, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!((second.id, second.attempts), (build.id, 2));
    let error = finish(&client, build.id, "w1", &done(BuildStatus::Success))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ControlError::LeaseLost { build_id, worker } if *build_id == build.id && worker == "w1"),
        "{error:?}"
    );
    assert!(heartbeat(&client, build.id, "w2", LEASE).await.unwrap());

    expire_leases(&client).await;
    assert_eq!(
        reclaim_expired(&client).await.unwrap(),
        [(
            build.id,
            Reclaimed::Retrying {
                attempt: 3,
                max_attempts: 3
            }
        )]
    );
    claim(&client, "w3", LEASE).await.unwrap().unwrap();
    expire_leases(&client).await;
    assert_eq!(
        reclaim_expired(&client).await.unwrap(),
        [(build.id, Reclaimed::Failed { attempts: 3 })]
    );
    let failed = get_build(&client, build.id).await.unwrap();
    assert_eq!(
        (failed.state, failed.status),
        (BuildState::Done, Some(BuildStatus::Failed))
    );
    assert_eq!(
        failed.reason.as_deref(),
        Some("worker w3 stopped answering 3 times")
    );
    assert!(failed.finished_at.is_some());
    assert_eq!(claim(&client, "w4", LEASE).await.unwrap(), None);
    assert!(!heartbeat(&client, build.id, "w3", LEASE).await.unwrap());
    let error = finish(&client, 999_999, "w3", &done(BuildStatus::Success))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::UnknownBuild(999_999)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_reclaimed_build_with_a_newer_commit_queued_is_not_retried() {
    let db = Db::new("queue_reclaim_superseded").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c1")]).await.created[0].clone();
    let old = enqueue(
        &client,
        shop.id,
        main.id,
        "c1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    claim(&client, "w1", LEASE).await.unwrap().unwrap();
    let newer = enqueue(
        &client,
        shop.id,
        main.id,
        "c2",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    expire_leases(&client).await;
    assert_eq!(
        reclaim_expired(&client).await.unwrap(),
        [(old.id, Reclaimed::Superseded { by: newer.id })]
    );
    let old = get_build(&client, old.id).await.unwrap();
    assert_eq!(
        (old.state, old.status),
        (BuildState::Done, Some(BuildStatus::Killed))
    );
    assert!(old.reason.unwrap().contains(&format!("#{}", newer.id)));
    assert_eq!(
        claim(&client, "w2", LEASE).await.unwrap().unwrap().id,
        newer.id
    );
}

#[tokio::test]
async fn finishing_records_the_outcome_and_serving_builds_can_be_stopped() {
    let db = Db::new("queue_finish").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("main", "m1"), ("dev", "d1")]).await;
    for branch in &changes.created {
        enqueue(
            &client,
            shop.id,
            branch.id,
            branch.head.as_deref().unwrap(),
            branch.stage,
            Duration::ZERO,
            &[],
        )
        .await
        .unwrap();
    }
    let a = claim(&client, "w1", LEASE).await.unwrap().unwrap();
    let b = claim(&client, "w1", LEASE).await.unwrap().unwrap();
    let served = finish(&client, a.id, "w1", &serving("a")).await.unwrap();
    assert_eq!(served.state, BuildState::Serving);
    assert_eq!(served.status, Some(BuildStatus::Success));
    assert_eq!(served.lease_until, None);
    assert_eq!(
        (served.port, served.database.as_deref()),
        (Some(8069), Some("a"))
    );
    let failed = finish(
        &client,
        b.id,
        "w1",
        &Outcome {
            report: Some(report(1)),
            log_path: Some("/logs/b.log".into()),
            reason: Some("2 tests failed".into()),
            ..done(BuildStatus::Failed)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (failed.state, failed.status),
        (BuildState::Done, Some(BuildStatus::Failed))
    );
    assert_eq!(failed.reason.as_deref(), Some("2 tests failed"));
    // Finishing twice is refused: the build is no longer running.
    let error = finish(&client, b.id, "w1", &done(BuildStatus::Success))
        .await
        .unwrap_err();
    assert!(matches!(error, ControlError::LeaseLost { .. }), "{error:?}");

    let stopped = mark_stopped(&client, a.id, "replaced by a newer build")
        .await
        .unwrap();
    assert_eq!(stopped.state, BuildState::Stopped);
    assert_eq!(stopped.status, Some(BuildStatus::Success));
    assert!(stopped.stopped_at.is_some());
    let error = mark_stopped(&client, b.id, "x").await.unwrap_err();
    assert!(
        matches!(&error, ControlError::NotServing { state, .. } if state == "done"),
        "{error:?}"
    );
    let error = mark_stopped(&client, 999_999, "x").await.unwrap_err();
    assert!(matches!(error, ControlError::UnknownBuild(_)), "{error:?}");
}

#[tokio::test]
async fn release_on_shutdown_requeues_running_builds_and_stops_serving_ones() {
    let db = Db::new("queue_release").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(
        &mut client,
        &shop,
        &[
            ("main", "m1"),
            ("dev", "d1"),
            ("fix", "f1"),
            ("other", "o1"),
        ],
    )
    .await;
    let id = |name: &str| changes.created.iter().find(|b| b.name == name).unwrap().id;
    let served = enqueue(
        &client,
        shop.id,
        id("main"),
        "m1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    claim(&client, "w1", LEASE).await.unwrap().unwrap();
    finish(&client, served.id, "w1", &serving("main"))
        .await
        .unwrap();
    let running = enqueue(
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
    assert_eq!(
        claim(&client, "w1", LEASE).await.unwrap().unwrap().id,
        running.id
    );
    let superseded = enqueue(
        &client,
        shop.id,
        id("fix"),
        "f1",
        Stage::Development,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        claim(&client, "w1", LEASE).await.unwrap().unwrap().id,
        superseded.id
    );
    let newer = enqueue(
        &client,
        shop.id,
        id("fix"),
        "f2",
        Stage::Development,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    // Another worker's builds are left alone.
    let others = enqueue(
        &client,
        shop.id,
        id("other"),
        "o2",
        Stage::Development,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        claim(&client, "w2", LEASE).await.unwrap().unwrap().id,
        others.id
    );

    let released = release(&client, "w1").await.unwrap();
    assert_eq!(released.requeued, [running.id]);
    assert_eq!(released.superseded, [superseded.id]);
    assert_eq!(released.stopped, [served.id]);

    let requeued = get_build(&client, running.id).await.unwrap();
    assert_eq!(requeued.state, BuildState::Pending);
    assert_eq!(
        requeued.attempts, 0,
        "an interrupted attempt is not counted"
    );
    assert_eq!(requeued.worker, None);
    let stopped = get_build(&client, served.id).await.unwrap();
    assert_eq!(stopped.state, BuildState::Stopped);
    assert!(stopped.stopped_at.is_some());
    assert_eq!(
        get_build(&client, superseded.id).await.unwrap().status,
        Some(BuildStatus::Killed)
    );
    assert_eq!(
        get_build(&client, newer.id).await.unwrap().state,
        BuildState::Pending
    );
    assert_eq!(
        get_build(&client, others.id).await.unwrap().state,
        BuildState::Running
    );
    assert_eq!(release(&client, "w1").await.unwrap(), Default::default());
}

#[tokio::test]
async fn listeners_are_woken_when_a_build_is_queued_or_changes_state() {
    let db = Db::new("queue_notify").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c1")]).await.created[0].clone();
    let mut wakeups = listen(&db.config().await).await.unwrap();

    let build = enqueue(
        &client,
        shop.id,
        main.id,
        "c1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(5), wakeups.recv()).await;
    assert_eq!(woken.expect("a notification within 5 s"), Some(build.id));

    claim(&client, "w1", LEASE).await.unwrap().unwrap();
    // Heartbeats are silent; the state change that follows is announced.
    heartbeat(&client, build.id, "w1", LEASE).await.unwrap();
    finish(&client, build.id, "w1", &done(BuildStatus::Success))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(id)) = tokio::time::timeout(Duration::from_millis(500), wakeups.recv()).await
    {
        seen.push(id);
    }
    assert_eq!(
        seen,
        [build.id, build.id],
        "claim and finish, not the heartbeat"
    );
}

#[tokio::test]
async fn workers_register_and_report_they_are_alive() {
    let db = Db::new("queue_workers").await;
    let client = db.connect().await;
    let first = register_worker(&client, "host-a-1", "host-a", 4, true)
        .await
        .unwrap();
    assert_eq!((first.host.as_str(), first.max_builds), ("host-a", 4));
    assert!(first.confined);
    let again = register_worker(&client, "host-a-1", "host-a", 8, false)
        .await
        .unwrap();
    assert_eq!(again.max_builds, 8);
    assert!(!again.confined, "restarted --unconfined");
    register_worker(&client, "host-b-1", "host-b", 2, true)
        .await
        .unwrap();
    assert!(touch_worker(&client, "host-b-1").await.unwrap());
    assert!(!touch_worker(&client, "nobody").await.unwrap());
    let names: Vec<String> = list_workers(&client)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["host-a-1", "host-b-1"]);
    let error = register_worker(&client, "bad", "h", 0, true)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::InvalidSetting(_)),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn reclaiming_while_pushes_arrive_keeps_one_queued_build_per_branch() {
    let db = Db::new("queue_reclaim_race").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c0")]).await.created[0].clone();
    let (pusher, reclaimer) = (db.connect().await, db.connect().await);
    for round in 0..30 {
        enqueue(
            &client,
            shop.id,
            main.id,
            &format!("old{round}"),
            Stage::Production,
            Duration::ZERO,
            &[],
        )
        .await
        .unwrap();
        let running = claim(&client, "w1", LEASE).await.unwrap().unwrap();
        expire_leases(&client).await;
        let commit = format!("new{round}");
        let (pushed, reclaimed) = tokio::join!(
            enqueue(
                &pusher,
                shop.id,
                main.id,
                &commit,
                Stage::Production,
                Duration::ZERO,
                &[]
            ),
            reclaim_expired(&reclaimer),
        );
        let pushed = pushed.unwrap();
        let reclaimed = reclaimed.unwrap();
        assert_eq!(reclaimed.len(), 1, "{reclaimed:?}");
        assert_eq!(reclaimed[0].0, running.id);
        // Whichever came first, the branch has one queued build, of the new commit.
        let pending = client
            .query(
                "SELECT id, commit FROM builds WHERE branch_id = $1 AND state = 'pending'",
                &[&main.id],
            )
            .await
            .unwrap();
        assert_eq!(pending.len(), 1, "round {round}: {reclaimed:?}");
        assert_eq!(pending[0].get::<_, &str>(1), commit);
        assert_eq!(pending[0].get::<_, i64>(0), pushed.id);
        // Drain it for the next round.
        let build = claim(&client, "w2", LEASE).await.unwrap().unwrap();
        finish(&client, build.id, "w2", &done(BuildStatus::Success))
            .await
            .unwrap();
    }
}

/// Regression (a new project's staging built before production): staging
/// copies production, so while none serves it is not started before the
/// production build to come.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_staging_waits_for_a_production_build_to_come() {
    let db = Db::new("queue_staging_after_production").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let created = sync(&mut client, &shop, &[("main", "p1"), ("stage", "s1")])
        .await
        .created;
    let (main, stage) = (&created[0], &created[1]);
    assert_eq!(main.name, "main");
    // Staging queued first: still production is claimed first.
    let staging = enqueue(
        &client,
        shop.id,
        stage.id,
        "s1",
        Stage::Staging,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let production = enqueue(
        &client,
        shop.id,
        main.id,
        "p1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let first = claim(&client, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(first.id, production.id);
    // While production runs, staging waits.
    assert_eq!(claim(&client, "w1", LEASE).await.unwrap(), None);
    finish(&client, production.id, "w1", &serving("shop"))
        .await
        .unwrap();
    let next = claim(&client, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(next.id, staging.id);
}
