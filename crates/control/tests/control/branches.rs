use std::time::Duration;

use slipway_control::{
    claim, enqueue, finish, get_build, get_project, list_branches, promote_to_production,
    set_stage, BuildState, BuildStatus, ControlError, Outcome, Stage,
};

use crate::common::{names, project, sync, Db};

#[tokio::test]
async fn sync_creates_updates_deletes_and_revives_branches() {
    let db = Db::new("branches_sync").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;

    let changes = sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("feature", "f1"), ("fix", "x1")],
    )
    .await;
    assert_eq!(names(&changes.created), ["feature", "fix", "main"]);
    let stages: Vec<(&str, Stage)> = changes
        .created
        .iter()
        .map(|b| (b.name.as_str(), b.stage))
        .collect();
    assert_eq!(
        stages,
        [
            ("feature", Stage::Development),
            ("fix", Stage::Development),
            ("main", Stage::Production)
        ]
    );
    assert!(changes.updated.is_empty() && changes.deleted.is_empty() && changes.revived.is_empty());

    // Nothing moved: nothing to do.
    let changes = sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("feature", "f1"), ("fix", "x1")],
    )
    .await;
    assert!(changes.is_empty(), "{changes:?}");

    // `fix` moved, `feature` is gone (its queued build with it), `new` appeared.
    let feature = list_branches(&client, "shop")
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.name == "feature")
        .unwrap();
    assert_eq!(feature.head.as_deref(), Some("f1"));
    let feature_id: i64 = client
        .query_one("SELECT id FROM branches WHERE name = 'feature'", &[])
        .await
        .unwrap()
        .get(0);
    let queued = enqueue(
        &client,
        shop.id,
        feature_id,
        "f1",
        Stage::Development,
        Duration::from_secs(60),
        &[],
    )
    .await
    .unwrap();
    let changes = sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("fix", "x2"), ("new", "n1")],
    )
    .await;
    assert_eq!(names(&changes.created), ["new"]);
    assert_eq!(names(&changes.updated), ["fix"]);
    assert_eq!(changes.updated[0].head.as_deref(), Some("x2"));
    assert_eq!(names(&changes.deleted), ["feature"]);
    assert!(changes.deleted[0].deleted_at.is_some());
    assert_eq!(changes.cancelled_builds, [queued.id]);
    let cancelled = get_build(&client, queued.id).await.unwrap();
    assert_eq!(
        (cancelled.state, cancelled.status),
        (BuildState::Done, Some(BuildStatus::Killed))
    );
    let to_build: Vec<&str> = changes.to_build().map(|b| b.name.as_str()).collect();
    assert_eq!(to_build, ["new", "fix"]);
    let listed: Vec<String> = list_branches(&client, "shop")
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(!listed.contains(&"feature".to_string()), "{listed:?}");

    // `feature` is pushed again: the same row comes back, as a new branch would.
    set_stage(&mut client, "shop", "fix", Stage::Staging)
        .await
        .unwrap();
    let changes = sync(
        &mut client,
        &shop,
        &[
            ("main", "m1"),
            ("fix", "x2"),
            ("new", "n1"),
            ("feature", "f9"),
        ],
    )
    .await;
    assert_eq!(names(&changes.revived), ["feature"]);
    assert_eq!(changes.revived[0].id, feature_id);
    assert_eq!(changes.revived[0].head.as_deref(), Some("f9"));
    assert_eq!(changes.revived[0].stage, Stage::Development);
    assert_eq!(changes.revived[0].deleted_at, None);
    assert!(changes.created.is_empty() && changes.updated.is_empty() && changes.deleted.is_empty());
}

#[tokio::test]
async fn a_recreated_production_branch_is_production_only_if_the_project_has_none() {
    let db = Db::new("branches_production_recreated").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    sync(&mut client, &shop, &[("main", "m1"), ("rc", "r1")]).await;
    // main disappears; rc takes over as production.
    sync(&mut client, &shop, &[("rc", "r1")]).await;
    set_stage(&mut client, "shop", "rc", Stage::Staging)
        .await
        .unwrap();
    let rc = set_stage(&mut client, "shop", "rc", Stage::Production)
        .await
        .unwrap();
    assert_eq!(rc.stage, Stage::Production);
    assert_eq!(
        get_project(&client, "shop")
            .await
            .unwrap()
            .production_branch,
        "rc"
    );
    // main comes back: rc stays the production branch.
    let changes = sync(&mut client, &shop, &[("main", "m2"), ("rc", "r1")]).await;
    assert_eq!(changes.revived[0].stage, Stage::Development);

    // A project whose production branch is pushed late gets it as production.
    let late = project(&client, "late").await;
    let changes = sync(&mut client, &late, &[("dev", "d1")]).await;
    assert_eq!(changes.created[0].stage, Stage::Development);
    let changes = sync(&mut client, &late, &[("dev", "d1"), ("main", "m1")]).await;
    assert_eq!(changes.created[0].stage, Stage::Production);
}

#[tokio::test]
async fn stage_changes_follow_odoo_sh_rules_with_a_distinct_error_each() {
    let db = Db::new("branches_stage_rules").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("dev", "d1"), ("rc", "r1"), ("gone", "g1")],
    )
    .await;
    sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("dev", "d1"), ("rc", "r1")],
    )
    .await;

    let error = set_stage(&mut client, "shop", "dev", Stage::Production)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ControlError::DevelopmentToProduction { branch, .. } if branch == "dev"),
        "{error:?}"
    );
    assert!(error.to_string().contains("staging first"), "{error}");

    let rc = set_stage(&mut client, "shop", "rc", Stage::Staging)
        .await
        .unwrap();
    assert_eq!(rc.stage, Stage::Staging);
    let error = set_stage(&mut client, "shop", "rc", Stage::Production)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ControlError::SecondProduction { branch, current, .. } if branch == "rc" && current == "main"),
        "{error:?}"
    );
    assert!(error.to_string().contains("'main'"), "{error}");

    let error = set_stage(&mut client, "shop", "main", Stage::Staging)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ControlError::ProductionDemotion { branch, .. } if branch == "main"),
        "{error:?}"
    );
    assert!(error.to_string().contains("promote another"), "{error}");

    for missing in ["nope", "gone"] {
        let error = set_stage(&mut client, "shop", missing, Stage::Staging)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ControlError::UnknownBranch { branch, .. } if branch == missing),
            "{error:?}"
        );
    }
    let error = set_stage(&mut client, "nope", "main", Stage::Staging)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::UnknownProject(_)),
        "{error:?}"
    );

    // Same stage: nothing to do. Staging back to development is fine.
    assert_eq!(
        set_stage(&mut client, "shop", "main", Stage::Production)
            .await
            .unwrap()
            .stage,
        Stage::Production
    );
    set_stage(&mut client, "shop", "dev", Stage::Staging)
        .await
        .unwrap();
    assert_eq!(
        set_stage(&mut client, "shop", "dev", Stage::Development)
            .await
            .unwrap()
            .stage,
        Stage::Development
    );

    // The way to replace production: promote a staging branch. Its queued build
    // follows its stage.
    let rc_id = rc.id;
    let queued = enqueue(
        &client,
        shop.id,
        rc_id,
        "r1",
        Stage::Staging,
        Duration::from_secs(60),
        &[],
    )
    .await
    .unwrap();
    let error = promote_to_production(&mut client, "shop", "dev")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::DevelopmentToProduction { .. }),
        "{error:?}"
    );
    let promotion = promote_to_production(&mut client, "shop", "rc")
        .await
        .unwrap();
    assert_eq!(promotion.promoted.stage, Stage::Production);
    assert_eq!(
        promotion
            .demoted
            .as_ref()
            .map(|b| (b.name.as_str(), b.stage)),
        Some(("main", Stage::Staging))
    );
    assert_eq!(
        get_project(&client, "shop")
            .await
            .unwrap()
            .production_branch,
        "rc"
    );
    assert_eq!(
        get_build(&client, queued.id).await.unwrap().stage,
        Stage::Production
    );
    let production: i64 = client
        .query_one(
            "SELECT count(*) FROM branches WHERE stage = 'production' AND deleted_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(production, 1);
}

#[tokio::test]
async fn branches_are_listed_production_first_then_by_last_build() {
    let db = Db::new("branches_list").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(
        &mut client,
        &shop,
        &[
            ("main", "m1"),
            ("a-old", "a1"),
            ("b-new", "b1"),
            ("z-never", "z1"),
            ("c-never", "c1"),
        ],
    )
    .await;
    let id = |name: &str| changes.created.iter().find(|b| b.name == name).unwrap().id;
    // Builds in this order: b-new, a-old, main, b-new again (newest).
    for (branch, commit) in [
        ("b-new", "b0"),
        ("a-old", "a1"),
        ("main", "m1"),
        ("b-new", "b1"),
    ] {
        enqueue(
            &client,
            shop.id,
            id(branch),
            commit,
            Stage::Development,
            Duration::ZERO,
            &[],
        )
        .await
        .unwrap();
        let build = claim(&client, "w", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        finish(
            &client,
            build.id,
            "w",
            &Outcome {
                status: BuildStatus::Success,
                serving: None,
                report: None,
                log_path: None,
                reason: None,
            },
        )
        .await
        .unwrap();
    }
    let listed = list_branches(&client, "shop").await.unwrap();
    let order: Vec<&str> = listed.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(order, ["main", "b-new", "a-old", "c-never", "z-never"]);
    assert_eq!(listed[0].stage, Stage::Production);
    let last = listed[1].last_build.as_ref().unwrap();
    assert_eq!(
        (last.branch.as_str(), last.commit.as_str()),
        ("b-new", "b1")
    );
    assert!(listed[3].last_build.is_none() && listed[4].last_build.is_none());
    assert_eq!(listed[3].head.as_deref(), Some("c1"));

    let error = list_branches(&client, "nope").await.unwrap_err();
    assert!(matches!(error, ControlError::UnknownProject(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_syncing_the_same_project_at_once_do_not_interleave() {
    let db = Db::new("branches_sync_concurrent").await;
    let client = db.connect().await;
    let shop = project(&client, "shop").await;
    let heads = crate::common::heads(&[("main", "m1"), ("a", "a1"), ("b", "b1"), ("c", "c1")]);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut session = db.connect().await;
        let heads = heads.clone();
        let project_id = shop.id;
        tasks.push(tokio::spawn(async move {
            slipway_control::sync_branches(&mut session, project_id, &heads)
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task.await.unwrap().created.len();
    }
    assert_eq!(created, 4, "each branch is created once");
}

/// Regression guard: a head recorded by a poll whose process died before it
/// queued the build must still be built.
#[tokio::test]
async fn a_recorded_head_that_was_never_queued_is_found() {
    let db = Db::new("unbuilt_heads").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let changes = sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("dev", "d1"), ("fresh", "f1")],
    )
    .await;
    let dev = changes.created.iter().find(|b| b.name == "dev").unwrap().id;
    let build = slipway_control::enqueue(
        &client,
        shop.id,
        dev,
        "d1",
        Stage::Development,
        std::time::Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    // Queued: nothing to catch up. Never built ("fresh"): not this function's business.
    assert!(unbuilt(&client, shop.id).await.is_empty());
    let claimed = slipway_control::claim(&client, "w", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, build.id);
    // A new head recorded while d1 runs, then the process dies before queuing it.
    sync(
        &mut client,
        &shop,
        &[("main", "m1"), ("dev", "d2"), ("fresh", "f1")],
    )
    .await;
    assert!(
        unbuilt(&client, shop.id).await.is_empty(),
        "a running build waits for its end"
    );
    slipway_control::finish(
        &client,
        build.id,
        "w",
        &slipway_control::Outcome {
            status: slipway_control::BuildStatus::Failed,
            serving: None,
            report: None,
            log_path: None,
            reason: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(unbuilt(&client, shop.id).await, ["dev"]);
    slipway_control::enqueue(
        &client,
        shop.id,
        dev,
        "d2",
        Stage::Development,
        std::time::Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    assert!(unbuilt(&client, shop.id).await.is_empty());
}

async fn unbuilt(client: &tokio_postgres::Client, project_id: i64) -> Vec<String> {
    slipway_control::unbuilt_heads(client, project_id)
        .await
        .unwrap()
        .into_iter()
        .map(|branch| branch.name)
        .collect()
}
