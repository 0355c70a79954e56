//! What gets built when a project is added or a branch changes stage, through
//! the API, with a real git repository.

use axum::http::{Method, StatusCode};

use crate::common::{api, repository, App};

/// (branch, stage, commit, state) of every build, oldest first.
async fn builds(app: &App) -> Vec<(String, String, String, String)> {
    let session = app.control.session().await.unwrap();
    session
        .query(
            "SELECT br.name, b.stage, b.commit, b.state FROM builds b \
             JOIN branches br ON br.id = b.branch_id ORDER BY b.id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

/// Regression: adding a project recorded its branches and built nothing
/// until the next push; a branch made staging waited for its next push too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_adding_a_project_builds_production_and_a_branch_made_staging_builds_at_once() {
    let app = App::new("queueing_new_project").await;
    let repo = tempfile::tempdir().unwrap();
    let (main, feature) = repository(repo.path());
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/v1/projects",
        serde_json::json!({
            "name": "shop",
            "repo": repo.path(),
            "odoo": "19.0",
            "production_branch": "main",
            "quiet_period_s": 600,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Production's head at once (not after the quiet period); the
    // development branch waits for a push or a rebuild.
    let expected = vec![(
        "main".to_string(),
        "production".to_string(),
        main.clone(),
        "pending".to_string(),
    )];
    assert_eq!(builds(&app).await, expected);
    let session = app.control.session().await.unwrap();
    let waits: bool = session
        .query_one("SELECT not_before > now() FROM builds", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        !waits,
        "the first production build waits for the quiet period"
    );
    drop(session);

    let (status, body) = api(
        &app,
        Method::PUT,
        "/api/v1/projects/shop/stage",
        serde_json::json!({"branch": "feature", "stage": "staging"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected = expected;
    expected.push((
        "feature".to_string(),
        "staging".to_string(),
        feature,
        "pending".to_string(),
    ));
    assert_eq!(builds(&app).await, expected);

    // Asking again for the stage it has queues nothing more.
    let (status, _) = api(
        &app,
        Method::PUT,
        "/api/v1/projects/shop/stage",
        serde_json::json!({"branch": "feature", "stage": "staging"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(builds(&app).await.len(), 2);
}
