use std::time::Duration;

use slipway_control::{
    builds_to_measure, builds_to_resume, claim, enqueue, finish, get_build, mark_collected,
    mark_stopped, record_disk_use, release, resume_serving, serving_builds_of_branch,
    stopped_builds_to_collect, BuildState, BuildStatus, ControlError, Outcome, Serving, Stage,
};
use tokio_postgres::Client;

use crate::common::{project, sync, Db};

const LEASE: Duration = Duration::from_secs(60);

/// Builds `commit` on the branch as `worker`, leaving it serving.
async fn serve(
    client: &Client,
    project_id: i64,
    branch_id: i64,
    commit: &str,
    worker: &str,
) -> i64 {
    let build = enqueue(
        client,
        project_id,
        branch_id,
        commit,
        Stage::Development,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        claim(client, worker, LEASE).await.unwrap().unwrap().id,
        build.id
    );
    let outcome = Outcome {
        status: BuildStatus::Success,
        serving: Some(Serving {
            url: format!("http://127.0.0.1:9{}", build.id),
            port: 9000,
            database: format!("s{}", build.id),
        }),
        report: None,
        log_path: None,
        reason: None,
    };
    finish(client, build.id, worker, &outcome).await.unwrap();
    build.id
}

#[tokio::test]
async fn a_branch_s_serving_builds_are_listed_newest_first() {
    let db = Db::new("serving_of_branch").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(&mut client, &shop, &[("dev", "d1"), ("other", "o1")]).await;
    let dev = changes.created.iter().find(|b| b.name == "dev").unwrap().id;
    let other = changes
        .created
        .iter()
        .find(|b| b.name == "other")
        .unwrap()
        .id;
    let first = serve(&client, shop.id, dev, "d1", "w1").await;
    let second = serve(&client, shop.id, dev, "d2", "w1").await;
    let third = serve(&client, shop.id, dev, "d3", "w1").await;
    serve(&client, shop.id, other, "o1", "w1").await;
    mark_stopped(&client, second, "replaced").await.unwrap();
    let ids: Vec<i64> = serving_builds_of_branch(&client, dev)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [third, first]);
}

#[tokio::test]
async fn a_restarted_worker_serves_again_what_it_served_and_only_that() {
    let db = Db::new("serving_resume").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(
        &mut client,
        &shop,
        &[("a", "a1"), ("b", "b1"), ("c", "c1"), ("gone", "g1")],
    )
    .await;
    let id = |name: &str| changes.created.iter().find(|b| b.name == name).unwrap().id;
    let released = serve(&client, shop.id, id("a"), "a1", "w1").await;
    let replaced = serve(&client, shop.id, id("b"), "b1", "w1").await;
    let elsewhere = serve(&client, shop.id, id("c"), "c1", "w2").await;
    let of_deleted_branch = serve(&client, shop.id, id("gone"), "g1", "w1").await;
    mark_stopped(&client, replaced, "replaced by a newer build")
        .await
        .unwrap();
    assert_eq!(
        release(&client, "w1").await.unwrap().stopped,
        [released, of_deleted_branch]
    );
    sync(&mut client, &shop, &[("a", "a1"), ("b", "b1"), ("c", "c1")]).await;

    let ids: Vec<i64> = builds_to_resume(&client, "w1")
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [released]);
    // After a crash (no release), what is still recorded as serving is resumed.
    let ids: Vec<i64> = builds_to_resume(&client, "w2")
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [elsewhere]);

    resume_serving(&client, released, "w1", "http://127.0.0.1:9999", 9999)
        .await
        .unwrap();
    let resumed = get_build(&client, released).await.unwrap();
    assert_eq!(resumed.state, BuildState::Serving);
    assert_eq!(
        (resumed.url.as_deref(), resumed.port),
        (Some("http://127.0.0.1:9999"), Some(9999))
    );
    assert_eq!((resumed.stopped_at, resumed.reason), (None, None));
    // Were w1 to crash now, it would serve it again.
    let listed = builds_to_resume(&client, "w1").await.unwrap();
    assert_eq!((listed.len(), listed[0].state), (1, BuildState::Serving));

    for (build, worker) in [(replaced, "w1"), (elsewhere, "w1")] {
        let error = resume_serving(&client, build, worker, "http://x", 1)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ControlError::NotResumable { build_id, .. } if build_id == build),
            "{error:?}"
        );
    }
    let error = resume_serving(&client, 999_999, "w1", "http://x", 1)
        .await
        .unwrap_err();
    assert!(matches!(error, ControlError::UnknownBuild(_)), "{error:?}");
}

#[tokio::test]
async fn stopped_builds_are_collected_after_the_retention_once() {
    let db = Db::new("serving_collect").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let dev = sync(&mut client, &shop, &[("dev", "d1")]).await.created[0].id;
    let old = serve(&client, shop.id, dev, "d1", "w1").await;
    let live = serve(&client, shop.id, dev, "d2", "w1").await;
    let released = serve(&client, shop.id, dev, "d3", "w1").await;
    mark_stopped(&client, old, "replaced").await.unwrap();
    client
        .execute(
            "UPDATE builds SET stopped_at = now() - interval '2 days' WHERE id = $1",
            &[&old],
        )
        .await
        .unwrap();

    let day = Duration::from_secs(86_400);
    let ids: Vec<i64> = stopped_builds_to_collect(&client, "w1", day)
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [old]);
    assert!(stopped_builds_to_collect(&client, "w2", day)
        .await
        .unwrap()
        .is_empty());

    mark_collected(&client, old).await.unwrap();
    assert!(get_build(&client, old)
        .await
        .unwrap()
        .collected_at
        .is_some());
    assert!(stopped_builds_to_collect(&client, "w1", day)
        .await
        .unwrap()
        .is_empty());
    let error = mark_collected(&client, live).await.unwrap_err();
    assert!(
        matches!(&error, ControlError::NotStopped { state, .. } if state == "serving"),
        "{error:?}"
    );

    // A collected build is not served again.
    mark_stopped(&client, live, "replaced").await.unwrap();
    release(&client, "w1").await.unwrap();
    mark_collected(&client, released).await.unwrap();
    assert!(builds_to_resume(&client, "w1").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_serving_build_s_disk_use_is_measured_when_new_then_again_when_old_and_forgotten_when_collected(
) {
    let db = Db::new("serving_disk_use").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let dev = sync(&mut client, &shop, &[("dev", "d1")]).await.created[0].id;
    let build = serve(&client, shop.id, dev, "d1", "w1").await;
    let every = Duration::from_secs(600);
    let due = |worker: &'static str| {
        let client = &client;
        async move {
            builds_to_measure(client, worker, every)
                .await
                .unwrap()
                .iter()
                .map(|b| b.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due("w1").await, [build], "never measured");
    assert!(due("w2").await.is_empty(), "another worker's build");
    assert_eq!(get_build(&client, build).await.unwrap().disk_use(), None);

    record_disk_use(&client, build, 12 << 20, 3 << 20)
        .await
        .unwrap();
    let measured = get_build(&client, build).await.unwrap().disk_use().unwrap();
    assert_eq!(
        (
            measured.database_bytes,
            measured.files_bytes,
            measured.total_bytes()
        ),
        (12 << 20, 3 << 20, 15 << 20)
    );
    assert!(due("w1").await.is_empty(), "measured just now");
    client
        .execute(
            "UPDATE builds SET disk_measured_at = now() - interval '11 minutes' WHERE id = $1",
            &[&build],
        )
        .await
        .unwrap();
    assert_eq!(due("w1").await, [build], "measured long ago");

    // Stopped: its last figure stays while its database does.
    mark_stopped(&client, build, "replaced").await.unwrap();
    assert!(due("w1").await.is_empty());
    assert!(get_build(&client, build)
        .await
        .unwrap()
        .disk_use()
        .is_some());
    mark_collected(&client, build).await.unwrap();
    assert_eq!(get_build(&client, build).await.unwrap().disk_use(), None);
}
