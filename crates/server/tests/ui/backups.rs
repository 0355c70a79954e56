//! Backups, restores and test instances through the API and the Backups
//! tab: the JSON contract, the roles, refusals that say what to do, and a
//! backup whose verification failed shown loudly on the board.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use slipway_api::{ErrorBody, Role};

use crate::common::{api, api_as, App};

fn error_of(answer: &str) -> String {
    serde_json::from_str::<ErrorBody>(answer).unwrap().error
}

#[tokio::test]
async fn backups_follow_the_contract_and_refuse_what_cannot_be_done() {
    let app = App::new("backups_api").await;
    let project = app
        .project("shop", &[("main", "production"), ("stage-1", "staging")])
        .await;

    // Nothing to back up before production serves.
    let (status, answer) = api(
        &app,
        Method::POST,
        "/api/v1/projects/shop/backups",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        error_of(&answer).contains("no production database yet"),
        "{answer}"
    );

    app.build(&project, "main", "serving", Some("success"), None)
        .await;
    let (status, answer) = api(
        &app,
        Method::POST,
        "/api/v1/projects/shop/backups",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let requested: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(requested["kind"], "manual");
    assert_eq!(requested["state"], "requested");
    assert_eq!(requested["verified"], "pending");
    assert!(requested["size_bytes"].is_null());
    let id = requested["id"].as_i64().unwrap();

    // `slipway backup list --json`: newest first, the contract's fields.
    app.sql(&format!(
        "INSERT INTO backups (project_id, kind, state, verification, size_bytes, created_at) \
         VALUES ({}, 'daily', 'done', 'ok', 1234, now() - interval '1 day')",
        project.id
    ))
    .await;
    let (_, answer) = api(
        &app,
        Method::GET,
        "/api/v1/projects/shop/backups",
        Value::Null,
    )
    .await;
    let listed: Vec<Value> = serde_json::from_str(&answer).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], id, "newest first");
    for field in ["id", "kind", "created_at", "size_bytes", "verified"] {
        assert!(listed[1].get(field).is_some(), "{field} in {}", listed[1]);
    }
    assert_eq!(
        (
            &listed[1]["kind"],
            &listed[1]["size_bytes"],
            &listed[1]["verified"]
        ),
        (&json!("daily"), &json!(1234), &json!("ok"))
    );

    // A backup still being made cannot be restored; a failed one neither.
    let restore = format!("/api/v1/projects/shop/backups/{id}/restore");
    let (status, answer) = api(
        &app,
        Method::POST,
        &restore,
        json!({"target": "production"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(error_of(&answer).contains("not complete"), "{answer}");
    app.sql(&format!(
        "UPDATE backups SET state = 'done', verification = 'failed', reason = 'database.dump does not match its checksum (damaged)' WHERE id = {id}"
    ))
    .await;
    let (status, answer) = api(
        &app,
        Method::POST,
        &restore,
        json!({"target": "production"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        error_of(&answer).contains("verification failed"),
        "{answer}"
    );

    let (status, answer) = api(
        &app,
        Method::GET,
        &format!("/api/v1/projects/shop/backups/{id}/download"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        error_of(&answer).contains("cannot be downloaded"),
        "{answer}"
    );

    // Into a branch that is not staging: refused, saying where backups go.
    let (status, answer) = api(
        &app,
        Method::POST,
        "/api/v1/projects/shop/backups/999999/restore",
        json!({"target": "branch", "branch": "stage-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(
        error_of(&answer).contains("slipway backup list shop"),
        "{answer}"
    );

    // Test instances: a name that is no name, then the newest verified backup.
    let (status, answer) = api(
        &app,
        Method::POST,
        "/api/v1/projects/shop/testinstances",
        json!({"name": "Demo Instance"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = api(
        &app,
        Method::POST,
        "/api/v1/projects/shop/testinstances",
        json!({"name": "demo"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let queued: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (&queued["stage"], &queued["duplicate"]),
        (&json!("staging"), &json!(true))
    );
    let (_, answer) = api(
        &app,
        Method::GET,
        "/api/v1/projects/shop/testinstances",
        Value::Null,
    )
    .await;
    let instances: Vec<Value> = serde_json::from_str(&answer).unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["name"], "demo");
    assert_eq!(instances[0]["build"], queued["id"]);
    assert_eq!(instances[0]["state"], "pending");
    assert_eq!(
        instances[0]["backup"], listed[1]["id"],
        "the newest verified backup"
    );
    for field in ["name", "build", "state", "backup", "created_at"] {
        assert!(instances[0].get(field).is_some(), "{field}");
    }
    let (status, answer) = api(
        &app,
        Method::POST,
        "/api/v1/projects/shop/testinstances",
        json!({"name": "demo"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // Removing it while its build is queued: refused.
    let (status, answer) = api(
        &app,
        Method::DELETE,
        "/api/v1/projects/shop/testinstances/demo",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    // The board gives test instances a section of their own, to testers too.
    app.user("tess", false, &[("shop", Role::Tester)]).await;
    let mut tester = app.signed_in("tess").await;
    let board = tester.get("/projects/shop").await;
    assert!(
        board.body.contains("id=\"board-test-instances\""),
        "{}",
        board.body
    );
    assert!(board.body.contains(">demo</a>"), "{}", board.body);
    let tab = tester.get("/projects/shop/backups").await;
    assert!(
        tab.body.contains("demo") && tab.body.contains("queued"),
        "{}",
        tab.body
    );

    // Settings: nonsense refused, a change kept.
    let settings = "/api/v1/projects/shop/backup-settings";
    let (_, answer) = api(&app, Method::GET, settings, Value::Null).await;
    let mut current: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (&current["daily"], &current["weekly"], &current["monthly"]),
        (&json!(7), &json!(4), &json!(3))
    );
    current["daily_at_minute"] = json!(1440);
    let (status, _) = api(&app, Method::PUT, settings, current.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    current["daily_at_minute"] = json!(90);
    let (status, answer) = api(&app, Method::PUT, settings, current.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, answer) = api(&app, Method::GET, settings, Value::Null).await;
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["daily_at_minute"],
        90
    );

    // Never while a build of the production branch is queued or running
    // (an update; here the test instance's build).
    let verified = listed[1]["id"].as_i64().unwrap();
    let (status, answer) = api(
        &app,
        Method::POST,
        &format!("/api/v1/projects/shop/backups/{verified}/restore"),
        json!({"target": "production"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(error_of(&answer).contains("queued or running"), "{answer}");

    // An empty upload is refused; a zip is stored for a worker to check,
    // readable by slipway only.
    let upload = |body: &'static [u8]| {
        axum::http::Request::builder()
            .method(Method::POST)
            .uri("/api/v1/projects/shop/imports?file=acme%20prod.zip")
            .header(
                axum::http::header::HOST,
                format!("127.0.0.1:{}", crate::common::PORT),
            )
            .header(axum::http::header::AUTHORIZATION, "Bearer host-token")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let empty = app.send(upload(b"")).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    assert!(error_of(&empty.body).contains("empty"), "{}", empty.body);
    let stored = app.send(upload(b"PK not really a zip")).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);
    let import: Value = serde_json::from_str(&stored.body).unwrap();
    assert_eq!(
        (&import["kind"], &import["state"]),
        (&json!("import"), &json!("requested"))
    );
    let path = app
        .control
        .session()
        .await
        .unwrap()
        .query_one(
            "SELECT upload_path, upload_name FROM backups WHERE kind = 'import'",
            &[],
        )
        .await
        .unwrap();
    let (path, name): (String, String) = (path.get(0), path.get(1));
    assert_eq!(name, "acme prod.zip");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{path}");
    let uploads = std::path::Path::new(&path).parent().unwrap();
    assert_eq!(
        std::fs::read_dir(uploads).unwrap().count(),
        1,
        "the empty upload left nothing"
    );
}

#[tokio::test]
async fn roles_apply_to_backups_and_a_failed_verification_is_loud_on_the_board() {
    let app = App::new("backups_roles").await;
    let project = app.project("shop", &[("main", "production")]).await;
    app.build(&project, "main", "serving", Some("success"), None)
        .await;
    app.sql(&format!(
        "INSERT INTO backups (project_id, kind, state, verification, size_bytes, reason) \
         VALUES ({}, 'daily', 'done', 'failed', 10, 'table res_partner has 3 rows restored, the manifest says 4')",
        project.id
    ))
    .await;
    app.user("dev", false, &[("shop", Role::Developer)]).await;
    app.user("tess", false, &[("shop", Role::Tester)]).await;
    app.user("ada", false, &[("shop", Role::Admin)]).await;

    // Developers see production's backups but take none; testers see none.
    let dev = app.api_token("dev").await;
    let (status, _) = api_as(
        &app,
        &dev,
        Method::GET,
        "/api/v1/projects/shop/backups",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api_as(
        &app,
        &dev,
        Method::POST,
        "/api/v1/projects/shop/backups",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let tess = app.api_token("tess").await;
    let (status, _) = api_as(
        &app,
        &tess,
        Method::GET,
        "/api/v1/projects/shop/backups",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_as(
        &app,
        &tess,
        Method::GET,
        "/api/v1/projects/shop/testinstances",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "testers see the test instances");

    // `slipway status` says it to those who see production, only them.
    let (_, answer) = api_as(&app, &dev, Method::GET, "/api/v1/status", Value::Null).await;
    let status: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        status["failed_backups"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );
    let (_, answer) = api_as(&app, &tess, Method::GET, "/api/v1/status", Value::Null).await;
    let status: Value = serde_json::from_str(&answer).unwrap();
    assert!(status.get("failed_backups").is_none(), "{answer}");

    // The board and the Backups tab say it loudly, to those who see production.
    let mut admin = app.signed_in("ada").await;
    let board = admin.get("/projects/shop").await;
    assert!(
        board.body.contains("id=\"failed-backups\""),
        "{}",
        board.body
    );
    assert!(board
        .body
        .contains("1 backup of production failed verification"));
    let tab = admin.get("/projects/shop/backups").await;
    assert_eq!(tab.status, StatusCode::OK);
    assert!(tab.body.contains("cannot be restored"), "{}", tab.body);
    assert!(tab.body.contains("the manifest says 4"));
    assert!(tab.body.contains("Back up production now"));
    let mut tester = app.signed_in("tess").await;
    let board = tester.get("/projects/shop").await;
    assert!(!board.body.contains("failed-backups"));
    let tab = tester.get("/projects/shop/backups").await;
    assert_eq!(tab.status, StatusCode::OK);
    assert!(!tab.body.contains("Back up production now"));
    assert!(!tab.body.contains("the manifest says 4"));

    // Taking one from the tab, as an admin.
    let csrf = admin.csrf().await;
    let taken = admin
        .post("/projects/shop/backups", &[("csrf", &csrf)])
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.query_i64("SELECT count(*) FROM backups WHERE kind = 'manual' AND state = 'requested'")
            .await,
        1
    );
}
