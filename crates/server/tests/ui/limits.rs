//! A project's own limits through the API (memory per stage, the egress
//! allow-list of development and staging), and a build's disk use on its
//! page and in the API.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use slipway_api::{BuildDetail, ErrorBody, Project, Role};

use crate::common::{api, api_as, App};

async fn project_answer(app: &App, method: Method, path: &str, body: Value) -> Project {
    let (status, answer) = api(app, method, path, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    serde_json::from_str(&answer).unwrap()
}

async fn refusal(app: &App, body: Value) -> String {
    let (status, answer) = api(app, Method::PATCH, "/api/v1/projects/shop/limits", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    serde_json::from_str::<ErrorBody>(&answer).unwrap().error
}

#[tokio::test]
async fn a_project_s_limits_change_through_the_api_and_nonsense_is_refused_naming_it() {
    let app = App::new("limits_api").await;
    app.project("shop", &[("main", "production")]).await;
    let path = "/api/v1/projects/shop/limits";

    let changed = project_answer(
        &app,
        Method::PATCH,
        path,
        json!({"development_memory_mib": 2048, "staging_memory_mib": 6144,
               "egress_allow": ["203.0.113.7:443", "198.51.100.2:8069"]}),
    )
    .await;
    assert_eq!(changed.limits.development_memory_mib, Some(2048));
    assert_eq!(changed.limits.egress_allow.len(), 2);
    let listed: Vec<Project> = {
        let (_, answer) = api(&app, Method::GET, "/api/v1/projects", Value::Null).await;
        serde_json::from_str(&answer).unwrap()
    };
    assert_eq!(listed[0].limits, changed.limits, "the list shows them");

    // Null goes back to the default; what is not named stays.
    let reset = project_answer(
        &app,
        Method::PATCH,
        path,
        json!({"development_memory_mib": null, "egress_allow": []}),
    )
    .await;
    assert_eq!(reset.limits.development_memory_mib, None);
    assert_eq!(reset.limits.staging_memory_mib, Some(6144));
    assert!(reset.limits.egress_allow.is_empty());

    let small = refusal(&app, json!({"production_memory_mib": 100})).await;
    assert!(
        small.contains("production memory") && small.contains("256"),
        "{small}"
    );
    let named = refusal(&app, json!({"egress_allow": ["api.example.com:443"]})).await;
    assert!(
        named.contains("api.example.com:443") && named.contains("IPv4 address"),
        "{named}"
    );
    let unknown = refusal(&app, json!({"memory": 1})).await;
    assert!(unknown.contains("memory"), "{unknown}");
    let after = project_answer(&app, Method::PATCH, path, json!({})).await;
    assert_eq!(after.limits, reset.limits, "refusals changed nothing");

    // Only an administrator changes them.
    app.user("dev", false, &[("shop", Role::Developer)]).await;
    let token = app.api_token("dev").await;
    let (status, answer) = api_as(
        &app,
        &token,
        Method::PATCH,
        path,
        json!({"development_memory_mib": 8192}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _) = api(
        &app,
        Method::PATCH,
        "/api/v1/projects/nope/limits",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_build_s_disk_use_is_shown_on_its_page_and_in_the_api_until_it_is_collected() {
    let app = App::new("limits_disk").await;
    let shop = app.project("shop", &[("dev", "development")]).await;
    let build = app
        .build(&shop, "dev", "serving", Some("success"), Some(9))
        .await;
    app.user("ada", false, &[("shop", Role::Developer)]).await;
    assert_eq!(
        detail(&app, build).await.build.disk,
        None,
        "not measured yet"
    );
    let mut browser = app.signed_in("ada").await;
    let page = browser.get(&format!("/builds/{build}")).await;
    assert!(!page.body.contains("disk-use"), "nothing to show yet");

    app.sql(&format!(
        "UPDATE builds SET database_bytes = 25165824, files_bytes = 3145728, \
         disk_measured_at = now() WHERE id = {build}"
    ))
    .await;
    let disk = detail(&app, build).await.build.disk.expect("measured");
    assert_eq!(
        (disk.database_bytes, disk.files_bytes),
        (25_165_824, 3_145_728)
    );
    let page = browser.get(&format!("/builds/{build}")).await;
    assert!(
        page.body.contains("27 MiB · database 24 MiB, files 3 MiB"),
        "{}",
        page.body
    );

    app.sql(&format!(
        "UPDATE builds SET state = 'stopped', stopped_at = now(), collected_at = now() \
         WHERE id = {build}"
    ))
    .await;
    assert_eq!(
        detail(&app, build).await.build.disk,
        None,
        "its database was dropped"
    );
}

async fn detail(app: &App, build: i64) -> BuildDetail {
    let (status, answer) = api(
        app,
        Method::GET,
        &format!("/api/v1/builds/{build}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    serde_json::from_str(&answer).unwrap()
}
