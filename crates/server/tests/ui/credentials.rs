//! A repository URL carrying an access token (`https://<token>@host/...`, the
//! form GitHub tokens take) never shows on any surface when its fetch fails:
//! the build's stored reason, the API, the UI, slipway's own log.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use slipway_control::{BuildState, Stage};
use slipway_worker::{Worker, WorkerConfig};

use crate::common::{api, App};

const TOKEN: &str = "ghp_SECRET0123456789";

/// What the process logs, as `slipway serve` prints it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn regression_a_token_in_the_repository_url_shows_nowhere_when_its_fetch_fails() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime is one thread: the worker's tasks log through this.
    let _logging = tracing::subscriber::set_default(subscriber);

    let app = App::new("credentials").await;
    let project = app.project("acme", &[("main", "production")]).await;
    // Nothing listens on port 9: the fetch fails at once.
    let url = format!("https://{TOKEN}@127.0.0.1:9/acme/addons.git");
    app.sql(&format!(
        "UPDATE projects SET repo_url = '{url}' WHERE id = {}",
        project.id
    ))
    .await;
    let session = app.control.session().await.unwrap();
    let branch_id = app
        .query_i64("SELECT id FROM branches WHERE name = 'main'")
        .await;
    let queued = slipway_control::enqueue(
        &session,
        project.id,
        branch_id,
        &format!("{:0>40}", 4),
        Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();

    let worker = Worker::new(
        WorkerConfig {
            name: "this-host".into(),
            host: "localhost".into(),
            max_builds: 1,
            lease: slipway_worker::LEASE,
            stopped_retention: slipway_worker::STOPPED_RETENTION,
            confinement: slipway_worker::Confinement::Unconfined,
            pg_binaries: slipway_postgres::PgBinaries::find(None).expect("PostgreSQL's programs"),
        },
        app.state.engine.clone(),
        app.control.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let build = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let build = slipway_control::get_build(&session, queued.id)
                .await
                .unwrap();
            if build.state == BuildState::Done {
                return build;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the build fails within a minute");
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();

    // The reason as stored, then as each surface shows it.
    let stored: String = session
        .query_one("SELECT reason FROM builds WHERE id = $1", &[&build.id])
        .await
        .unwrap()
        .get(0);
    let shown = "fetching https://***@127.0.0.1:9/acme/addons.git";
    assert!(stored.starts_with(shown), "{stored}");

    let api = api_get(&app, &format!("/api/v1/builds/{}", build.id)).await;
    assert!(api.contains(shown), "{api}");

    app.user("ada", true, &[]).await;
    let mut browser = app.signed_in("ada").await;
    let page = browser.get(&format!("/builds/{}", build.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(shown), "{}", page.body);

    // The log line saying why the build failed, with its reason field.
    let logged = log.text();
    let build_field = format!("build={}", build.id);
    let line = logged
        .lines()
        .find(|line| line.contains(" WARN ") && line.contains(&build_field))
        .unwrap_or_else(|| panic!("no warning about the build in:\n{logged}"));
    assert!(
        line.contains("failed") && line.contains("reason="),
        "{line}"
    );
    assert!(line.contains(shown), "{line}");

    let projects = api_get(&app, "/api/v1/projects").await;
    let branches = browser.get("/projects/acme").await.body;
    for (surface, text) in [
        ("stored reason", &stored),
        ("API", &api),
        ("build page", &page.body),
        ("log", &logged),
        ("project list", &projects),
        ("branches view", &branches),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the token shows in the {surface}:\n{text}"
        );
    }
}

/// The body of an API answer to the host's token.
async fn api_get(app: &App, path: &str) -> String {
    let (status, body) = api(app, Method::GET, path, serde_json::Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}
