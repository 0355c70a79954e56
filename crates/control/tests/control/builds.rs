use std::time::Duration;

use slipway_control::{
    claim, enqueue, finish, get_build, list_builds, rebuild, BuildState, BuildStatus, ControlError,
    Outcome, Serving, Stage,
};

use crate::common::{project, report, sync, Db};

fn success() -> Outcome {
    Outcome {
        status: BuildStatus::Success,
        serving: None,
        report: None,
        log_path: None,
        reason: None,
    }
}

#[tokio::test]
async fn a_burst_of_pushes_yields_one_build_of_the_last_commit() {
    let db = Db::new("builds_burst").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c0")]).await.created[0].clone();
    let mut ids = Vec::new();
    for commit in ["c1", "c2", "c3", "c4", "c5"] {
        let build = enqueue(
            &client,
            shop.id,
            main.id,
            commit,
            Stage::Production,
            Duration::from_secs(10),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(build.state, BuildState::Pending);
        assert_eq!(build.commit, commit);
        ids.push(build.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let rows = client
        .query(
            "SELECT commit, state FROM builds WHERE branch_id = $1",
            &[&main.id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(0), "c5");
    // The quiet period started again with the last push.
    let wait: f64 = client
        .query_one(
            "SELECT extract(epoch FROM not_before - now())::float8 FROM builds",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(wait > 5.0 && wait <= 10.0, "{wait}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 5)]
async fn concurrent_pushes_on_separate_sessions_still_yield_one_build() {
    let db = Db::new("builds_burst_concurrent").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c0")]).await.created[0].clone();
    let mut tasks = Vec::new();
    for n in 0..5 {
        let session = db.connect().await;
        let (project_id, branch_id) = (shop.id, main.id);
        tasks.push(tokio::spawn(async move {
            enqueue(
                &session,
                project_id,
                branch_id,
                &format!("c{n}"),
                Stage::Production,
                Duration::ZERO,
                &[],
            )
            .await
            .unwrap()
            .id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let count: i64 = client
        .query_one("SELECT count(*) FROM builds", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn enqueue_refuses_a_deleted_or_foreign_branch() {
    let db = Db::new("builds_enqueue_refused").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let other = project(&client, "other").await;
    let changes = sync(&mut client, &shop, &[("main", "c0"), ("old", "o1")]).await;
    sync(&mut client, &shop, &[("main", "c0")]).await;
    let old = changes.created.iter().find(|b| b.name == "old").unwrap();
    let main = changes.created.iter().find(|b| b.name == "main").unwrap();
    for (project_id, branch_id) in [(shop.id, old.id), (other.id, main.id), (shop.id, 999_999)] {
        let error = enqueue(
            &client,
            project_id,
            branch_id,
            "c1",
            Stage::Development,
            Duration::ZERO,
            &[],
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, ControlError::UnknownBranchId { .. }),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn rebuild_is_refused_while_a_build_is_queued_or_running() {
    let db = Db::new("builds_rebuild").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c1")]).await.created[0].clone();

    let queued = enqueue(
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
    let error = rebuild(&client, "shop", "main", None).await.unwrap_err();
    assert!(
        matches!(error, ControlError::BuildInProgress { build_id, .. } if build_id == queued.id),
        "{error:?}"
    );

    let running = claim(&client, "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.id, queued.id);
    let error = rebuild(&client, "shop", "main", None).await.unwrap_err();
    assert!(
        matches!(error, ControlError::BuildInProgress { build_id, .. } if build_id == running.id),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&format!("#{}", running.id)),
        "{error}"
    );

    finish(&client, running.id, "w1", &success()).await.unwrap();
    sync(&mut client, &shop, &[("main", "c2")]).await;
    let again = rebuild(&client, "shop", "main", None).await.unwrap();
    assert_ne!(again.id, running.id);
    assert_eq!(
        (again.commit.as_str(), again.state, again.stage),
        ("c2", BuildState::Pending, Stage::Production)
    );
    // Due at once.
    assert_eq!(again.not_before, again.created_at);

    for (project, branch) in [("shop", "nope"), ("nope", "main")] {
        let error = rebuild(&client, project, branch, None).await.unwrap_err();
        assert!(
            matches!(
                error,
                ControlError::UnknownBranch { .. } | ControlError::UnknownProject(_)
            ),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn builds_are_listed_newest_first_per_project_or_branch() {
    let db = Db::new("builds_list").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let other = project(&client, "other").await;
    let changes = sync(&mut client, &shop, &[("main", "m0"), ("dev", "d0")]).await;
    let other_main = sync(&mut client, &other, &[("main", "x0")]).await.created[0].clone();
    let id = |name: &str| changes.created.iter().find(|b| b.name == name).unwrap().id;
    let mut expected = Vec::new();
    for n in 0..3 {
        for branch in ["main", "dev"] {
            let commit = format!("{branch}{n}");
            let build = enqueue(
                &client,
                shop.id,
                id(branch),
                &commit,
                Stage::Development,
                Duration::ZERO,
                &[],
            )
            .await
            .unwrap();
            let running = claim(&client, "w", Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(running.id, build.id);
            let outcome = Outcome {
                serving: (branch == "main").then(|| Serving {
                    url: format!("https://{commit}.example"),
                    port: 8069,
                    database: format!("db_{commit}"),
                }),
                report: Some(report(n)),
                log_path: Some(format!("/logs/{commit}.log")),
                ..success()
            };
            finish(&client, build.id, "w", &outcome).await.unwrap();
            expected.push((build.id, branch, commit));
        }
    }
    enqueue(
        &client,
        other.id,
        other_main.id,
        "x1",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    expected.reverse();

    let listed = list_builds(&client, shop.id, None, 50).await.unwrap();
    let got: Vec<(i64, &str, &str)> = listed
        .iter()
        .map(|b| (b.id, b.branch.as_str(), b.commit.as_str()))
        .collect();
    let want: Vec<(i64, &str, &str)> = expected
        .iter()
        .map(|(id, branch, commit)| (*id, *branch, commit.as_str()))
        .collect();
    assert_eq!(got, want);
    let newest = &listed[0];
    assert_eq!(newest.state, BuildState::Done);
    assert_eq!(newest.report, Some(report(2).into()));
    assert_eq!(newest.log_path.as_deref(), Some("/logs/dev2.log"));
    assert!(newest.finished_at.is_some());
    let serving = &listed[1];
    assert_eq!(serving.state, BuildState::Serving);
    assert_eq!(serving.url.as_deref(), Some("https://main2.example"));
    assert_eq!(serving.port, Some(8069));
    assert_eq!(get_build(&client, serving.id).await.unwrap(), *serving);

    let limited = list_builds(&client, shop.id, None, 2).await.unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0].id, want[0].0);
    let dev = list_builds(&client, shop.id, Some("dev"), 50)
        .await
        .unwrap();
    let dev_ids: Vec<i64> = dev.iter().map(|b| b.id).collect();
    let want_dev: Vec<i64> = want.iter().filter(|w| w.1 == "dev").map(|w| w.0).collect();
    assert_eq!(dev_ids, want_dev);

    let error = list_builds(&client, shop.id, Some("nope"), 50)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ControlError::UnknownBranch { project, .. } if project == "shop"),
        "{error:?}"
    );
    let error = get_build(&client, 999_999).await.unwrap_err();
    assert!(matches!(error, ControlError::UnknownBuild(999_999)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_push_racing_the_deletion_of_its_branch_leaves_no_queued_build_behind() {
    let db = Db::new("builds_push_vs_delete").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let (pusher, mut poller) = (db.connect().await, db.connect().await);
    for round in 0..40 {
        let name = format!("b{round}");
        let branch = sync(&mut client, &shop, &[("main", "m"), (&name, "c0")])
            .await
            .created[0]
            .clone();
        let poll = crate::common::heads(&[("main", "m")]);
        let (pushed, _) = tokio::join!(
            enqueue(
                &pusher,
                shop.id,
                branch.id,
                "c1",
                Stage::Development,
                Duration::ZERO,
                &[]
            ),
            slipway_control::sync_branches(&mut poller, shop.id, &poll),
        );
        // Either the push came first and the deletion cancelled its build, or
        // the deletion came first and the push was refused.
        match pushed {
            Ok(build) => {
                let build = get_build(&client, build.id).await.unwrap();
                assert_eq!(
                    (build.state, build.status),
                    (BuildState::Done, Some(slipway_control::BuildStatus::Killed)),
                    "round {round}"
                );
            }
            Err(error) => assert!(
                matches!(error, ControlError::UnknownBranchId { .. }),
                "{error:?}"
            ),
        }
        let pending: i64 = client
            .query_one("SELECT count(*) FROM builds WHERE state = 'pending'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(pending, 0, "round {round}");
    }
}

/// Regression guard: a branch pushed to more often than its quiet period must
/// still build, at most `MAX_QUIET_PERIODS` quiet periods after the first push.
#[tokio::test]
async fn a_branch_pushed_without_pause_still_builds_after_the_maximum_wait() {
    let db = Db::new("max_quiet_wait").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("main", "m1"), ("dev", "d1")]).await;
    let dev = changes.created.iter().find(|b| b.name == "dev").unwrap().id;
    let quiet = Duration::from_secs(10);
    let first = enqueue(&client, shop.id, dev, "d1", Stage::Development, quiet, &[])
        .await
        .unwrap();
    // The first push was long ago; pushes kept coming every few seconds since.
    client
        .execute(
            "UPDATE builds SET created_at = now() - interval '300 seconds' WHERE id = $1",
            &[&first.id],
        )
        .await
        .unwrap();
    let later = enqueue(&client, shop.id, dev, "d9", Stage::Development, quiet, &[])
        .await
        .unwrap();
    assert_eq!(
        later.id, first.id,
        "the same queued build, with the newer commit"
    );
    assert_eq!(later.commit, "d9");
    let waits: f64 = client
        .query_one(
            "SELECT extract(epoch FROM not_before - now())::float8 FROM builds WHERE id = $1",
            &[&first.id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(waits <= 0.0, "due now, not {waits} s from now");
}

/// A reason quoting a repository URL (a failed fetch) is stored without its
/// credentials, and one stored before that rule is read without them.
#[tokio::test]
async fn regression_a_reason_keeps_no_credentials() {
    let db = Db::new("builds_reason_credentials").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let main = sync(&mut client, &shop, &[("main", "c0")]).await.created[0].clone();
    let build = enqueue(
        &client,
        shop.id,
        main.id,
        "c0",
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    claim(&client, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let outcome = Outcome {
        status: BuildStatus::Failed,
        reason: Some(
            "fetching https://ghp_SECRET@git.example/shop.git: fatal: clone of \
             'https://u:hunter2@git.example/sub.git' failed"
                .into(),
        ),
        ..success()
    };
    let finished = finish(&client, build.id, "w", &outcome).await.unwrap();
    let shown = "fetching https://***@git.example/shop.git: fatal: clone of \
                 'https://u:***@git.example/sub.git' failed";
    assert_eq!(finished.reason.as_deref(), Some(shown));
    let stored: String = client
        .query_one("SELECT reason FROM builds WHERE id = $1", &[&build.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, shown);

    client
        .execute(
            "UPDATE builds SET reason = 'fetching https://ghp_OLD@git.example/shop.git: boom' \
             WHERE id = $1",
            &[&build.id],
        )
        .await
        .unwrap();
    let read = get_build(&client, build.id).await.unwrap();
    assert_eq!(
        read.reason.as_deref(),
        Some("fetching https://***@git.example/shop.git: boom")
    );
}
