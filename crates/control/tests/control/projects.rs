use std::time::Duration;

use slipway_control::{
    add_project, claim, enqueue, get_project, get_project_by_id, list_projects, remove_project,
    update_project, ControlError, ProjectUpdate, Stage,
};

use crate::common::{new_project, project, sync, Db};

#[tokio::test]
async fn projects_are_added_listed_and_found_by_name() {
    let db = Db::new("projects_add").await;
    let client = db.connect().await;
    let mut new = new_project("shop-eu_2");
    new.settings.modules = Some(vec!["sale".into(), "stock".into()]);
    new.settings.limits = slipway_api::ProjectLimits {
        staging_memory_mib: Some(6144),
        egress_allow: vec!["203.0.113.7:443".parse().unwrap()],
        ..slipway_api::ProjectLimits::default()
    };
    new.settings.ignore_rules = vec!["*.md".into()];
    let added = add_project(&client, &new).await.unwrap();
    assert_eq!(added.name, "shop-eu_2");
    assert_eq!(added.settings, new.settings);
    let age = time::OffsetDateTime::now_utc() - added.created_at;
    assert!(age.abs() < time::Duration::minutes(1), "{age}");
    project(&client, "alpha").await;

    assert_eq!(get_project(&client, "shop-eu_2").await.unwrap(), added);
    assert_eq!(get_project_by_id(&client, added.id).await.unwrap(), added);
    let names: Vec<String> = list_projects(&client)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["alpha", "shop-eu_2"]);

    let error = get_project(&client, "nope").await.unwrap_err();
    assert!(matches!(&error, ControlError::UnknownProject(name) if name == "nope"));

    // The webhook secret is never printed.
    let printed = format!("{added:?}");
    assert!(
        !printed.contains("s3cret") && printed.contains("poll_interval_s: 60"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_duplicate_name_is_refused_with_a_typed_error() {
    let db = Db::new("projects_duplicate").await;
    let client = db.connect().await;
    project(&client, "shop").await;
    let error = add_project(&client, &new_project("shop"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ControlError::ProjectExists(name) if name == "shop"),
        "{error:?}"
    );
    assert!(error.to_string().contains("already exists"), "{error}");
}

#[tokio::test]
async fn invalid_names_and_settings_are_refused_with_typed_errors() {
    let db = Db::new("projects_invalid").await;
    let client = db.connect().await;
    for name in [
        "",
        "Shop",
        "-shop",
        "shop.eu",
        "a b",
        &"x".repeat(64),
        "shop'; DROP TABLE projects; --",
    ] {
        let error = add_project(&client, &new_project(name)).await.unwrap_err();
        assert!(
            matches!(&error, ControlError::InvalidProjectName(n) if n == name),
            "{name}: {error:?}"
        );
        assert!(
            !error.to_string().contains("projects_name_valid"),
            "{error}"
        );
    }
    add_project(&client, &new_project(&"x".repeat(63)))
        .await
        .unwrap();

    let mut new = new_project("shop");
    new.settings.poll_interval_s = 0;
    let error = add_project(&client, &new).await.unwrap_err();
    assert!(
        matches!(error, ControlError::InvalidSetting(_)),
        "{error:?}"
    );
    project(&client, "shop").await;
    let error = update_project(
        &client,
        "shop",
        &ProjectUpdate {
            quiet_period_s: Some(-1),
            ..ProjectUpdate::default()
        },
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("quiet period"), "{error}");
}

#[tokio::test]
async fn updates_change_only_what_they_name() {
    let db = Db::new("projects_update").await;
    let client = db.connect().await;
    let mut new = new_project("shop");
    new.settings.modules = Some(vec!["sale".into()]);
    new.settings.test_tags = Some("/sale".into());
    let before = add_project(&client, &new).await.unwrap();

    let after = update_project(
        &client,
        "shop",
        &ProjectUpdate {
            odoo: Some("18.0".into()),
            poll_interval_s: Some(300),
            modules: Some(None),
            ignore_rules: Some(vec!["doc/*".into()]),
            ..ProjectUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(after.odoo, "18.0");
    assert_eq!(after.settings.poll_interval_s, 300);
    assert_eq!(after.settings.modules, None);
    assert_eq!(after.settings.test_tags, Some("/sale".into()));
    assert_eq!(after.settings.ignore_rules, ["doc/*"]);
    assert_eq!(after.settings.limits, before.settings.limits);
    assert_eq!(after.repo_url, before.repo_url);
    assert_eq!(after.webhook_secret, before.webhook_secret);
    assert_eq!(
        after.settings.quiet_period_s,
        before.settings.quiet_period_s
    );

    let limits = slipway_api::ProjectLimits {
        development_memory_mib: Some(2048),
        ..slipway_api::ProjectLimits::default()
    };
    let limited = update_project(
        &client,
        "shop",
        &ProjectUpdate {
            limits: Some(limits.clone()),
            ..ProjectUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limited.settings.limits, limits);
    assert_eq!(limited.settings.modules, after.settings.modules);

    let error = update_project(&client, "nope", &ProjectUpdate::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ControlError::UnknownProject(_)));
}

#[tokio::test]
async fn removing_a_project_cascades_and_reports_its_live_builds() {
    let db = Db::new("projects_remove").await;
    let mut client = db.connect().await;
    let shop = project(&client, "shop").await;
    let other = project(&client, "other").await;
    let changes = sync(&mut client, &shop, &[("main", "c1"), ("dev", "d1")]).await;
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
    let kept = sync(&mut client, &other, &[("main", "o1")]).await.created[0].clone();
    enqueue(
        &client,
        other.id,
        kept.id,
        "o1",
        Stage::Production,
        Duration::from_secs(3600),
        &[],
    )
    .await
    .unwrap();
    let running = claim(&client, "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();

    let removed = remove_project(&mut client, "shop").await.unwrap();
    assert_eq!(removed.project.id, shop.id);
    assert_eq!(removed.live_builds.len(), 1);
    assert_eq!(removed.live_builds[0].id, running.id);
    for table in ["branches", "builds"] {
        let count: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE project_id = $1"),
                &[&shop.id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 0, "{table}");
    }
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM builds WHERE project_id = $1",
            &[&other.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    let error = remove_project(&mut client, "shop").await.unwrap_err();
    assert!(matches!(error, ControlError::UnknownProject(_)));
}
