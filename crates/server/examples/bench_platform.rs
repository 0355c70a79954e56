//! Figures of `slipway serve` (docs/benchmarks.md), against a real embedded
//! PostgreSQL and real git, side by side with the naive way:
//!
//! 1. `GET /api/v1/projects/{name}/builds` with 10 000 builds in the table,
//!    through HTTP with pooled sessions, against one new session per request.
//! 2. One poll round of a repository with 200 branches (`git ls-remote` + branch
//!    sync), against fetching a mirror each round.
//!
//! `cargo run --release -p slipway_server --example bench_platform` (as root or
//! not; root runs PostgreSQL as the `slipway` user).

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_control::ControlDb;
use slipway_control::{NewProject, ProjectSettings};
use slipway_server::{AppState, ServerParts};

const API_CALLS: usize = 1000;
const NAIVE_CALLS: usize = 200;
const POLL_ROUNDS: usize = 20;
const VIEW_CALLS: usize = 300;
const NAIVE_VIEW_CALLS: usize = 30;

#[tokio::main]
async fn main() {
    let temp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let account = slipway_engine::host::build_account().unwrap();
    let embedded = slipway_postgres::EmbeddedCluster::new(
        temp.path().join("postgres"),
        slipway_postgres::PgBinaries::find(None).unwrap(),
        account.map(|a| slipway_postgres::ClusterUser {
            uid: a.uid,
            gid: a.gid,
        }),
    );
    let cluster = embedded.ensure_running().await.unwrap();
    let control = ControlDb::prepare(cluster.clone(), "slipway_control")
        .await
        .unwrap();

    let repo = temp.path().join("repo");
    make_repository_with_branches(&repo, 200);
    let session = control.session().await.unwrap();
    let project = slipway_control::add_project(
        &session,
        &NewProject {
            name: "bench".into(),
            repo_url: repo.display().to_string(),
            odoo: "14.0".into(),
            production_branch: "main".into(),
            webhook_secret: "x".into(),
            settings: ProjectSettings::default(),
        },
    )
    .await
    .unwrap();
    drop(session);
    let changes = slipway_server::watcher::poll(&control, &project)
        .await
        .unwrap();
    println!("repository: {} branches", changes.created.len());

    fill_builds(&control, project.id).await;
    api_figures(&control, temp.path()).await;
    poll_figures(&control, &project, &repo, temp.path()).await;
    embedded.stop().unwrap();
}

async fn fill_builds(control: &ControlDb, project_id: i64) {
    let session = control.session().await.unwrap();
    // 50 builds on each of the 200 branches, oldest first, all finished.
    session
        .execute(
            "INSERT INTO builds (project_id, branch_id, commit, stage, state, status, created_at, finished_at) \
             SELECT $1, br.id, md5(br.id::text || g::text) || '00000000', 'development', 'done', 'success', \
                    now() - (10000 - g * 200 - br.id % 200) * interval '1 minute', now() \
               FROM branches br, generate_series(1, 50) g WHERE br.project_id = $1",
            &[&project_id],
        )
        .await
        .unwrap();
    session.batch_execute("ANALYZE builds").await.unwrap();
    let count: i64 = session
        .query_one("SELECT count(*) FROM builds", &[])
        .await
        .unwrap()
        .get(0);
    println!("builds in the table: {count}");
}

/// An engine over the benchmark's data dir and cluster (no build runs).
fn bench_engine(home: &Path, control: &ControlDb) -> slipway_engine::Engine {
    let layout = slipway_engine::Layout::at(home);
    slipway_engine::Engine::new(
        layout.clone(),
        slipway_image::ImageStore::new(&layout.images),
        control.cluster.clone(),
        Box::new(slipway_sandbox::Bubblewrap::locate().unwrap()),
        slipway_engine::host::build_account().unwrap(),
    )
}

async fn api_figures(control: &ControlDb, home: &Path) {
    let (state, _watcher) = AppState::start(ServerParts {
        control: control.clone(),
        engine: Arc::new(bench_engine(home, control)),
        token: "bench-token".into(),
        addresses: slipway_server::Addresses::new("localhost", 8800),
        worker: None,
        pg_binaries: slipway_postgres::PgBinaries::find(None).unwrap(),
        proxy_cache: slipway_server::proxy::CacheLife::DEFAULT,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, slipway_server::router(state))
            .await
            .unwrap()
    });

    let mut pooled = Vec::with_capacity(API_CALLS);
    for _ in 0..API_CALLS {
        let started = Instant::now();
        let body = tokio::task::spawn_blocking(move || get(port, "/api/v1/projects/bench/builds"))
            .await
            .unwrap();
        pooled.push(started.elapsed());
        assert!(
            body.contains("\"state\":\"done\""),
            "unexpected answer: {body}"
        );
    }
    // Naive: a new PostgreSQL session per request (SCRAM handshake included).
    let mut naive = Vec::with_capacity(NAIVE_CALLS);
    for _ in 0..NAIVE_CALLS {
        let started = Instant::now();
        let fresh = ControlDb::new(control.cluster.clone(), control.database.clone());
        let session = fresh.session().await.unwrap();
        let project = slipway_control::get_project(&session, "bench")
            .await
            .unwrap();
        let builds = slipway_control::list_builds(&session, project.id, None, 200)
            .await
            .unwrap();
        assert_eq!(builds.len(), 200);
        naive.push(started.elapsed());
    }
    report(
        &format!("API builds over HTTP, pooled sessions ({API_CALLS} calls)"),
        &mut pooled,
    );
    branches_view_figures(control, port).await;
    report(
        &format!("same query, new session per call, no HTTP ({NAIVE_CALLS} calls)"),
        &mut naive,
    );
}

/// The branches view of the 200-branch project (20 builds shown per branch):
/// the page over HTTP as a signed-in administrator, against the naive way of
/// reading the same data (one query for the branches, then one per branch).
async fn branches_view_figures(control: &ControlDb, port: u16) {
    let session = control.session().await.unwrap();
    let user = slipway_control::add_user(&session, "bench", "unused", true)
        .await
        .unwrap();
    let token = "bench-session-token";
    slipway_control::create_session(
        &session,
        user.id,
        &slipway_control::SecretHash::of(token),
        "csrf",
        slipway_server::auth::SESSION_LIFETIME,
    )
    .await
    .unwrap();
    let cookie = format!("slipway_session={token}");
    let mut rendered = Vec::with_capacity(VIEW_CALLS);
    let mut size = 0;
    for _ in 0..VIEW_CALLS {
        let cookie = cookie.clone();
        let started = Instant::now();
        let page = tokio::task::spawn_blocking(move || {
            get_with(port, "/projects/bench", &format!("Cookie: {cookie}"))
        })
        .await
        .unwrap();
        rendered.push(started.elapsed());
        size = page.len();
        assert!(
            page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
            "{}",
            &page[..200.min(page.len())]
        );
    }
    let cells = {
        let page = get_with(port, "/projects/bench", &format!("Cookie: {cookie}"));
        page.matches("<a class=\"cell ").count()
    };
    let project = slipway_control::get_project(&session, "bench")
        .await
        .unwrap();
    let mut naive = Vec::with_capacity(NAIVE_VIEW_CALLS);
    for _ in 0..NAIVE_VIEW_CALLS {
        let started = Instant::now();
        let branches = slipway_control::list_branches(&session, "bench")
            .await
            .unwrap();
        let mut builds = 0;
        for branch in &branches {
            builds += slipway_control::list_builds(&session, project.id, Some(&branch.name), 20)
                .await
                .unwrap()
                .len();
        }
        assert_eq!(builds, cells);
        naive.push(started.elapsed());
    }
    report(
        &format!(
            "branches view over HTTP, 200 branches x 20 builds = {cells} cells, {} KB ({VIEW_CALLS} calls)",
            size / 1024
        ),
        &mut rendered,
    );
    report(
        &format!("naive: 1 + 200 queries for the same data, no HTML ({NAIVE_VIEW_CALLS} calls)"),
        &mut naive,
    );
}

async fn poll_figures(
    control: &ControlDb,
    project: &slipway_control::Project,
    repo: &Path,
    home: &Path,
) {
    let mut polls = Vec::with_capacity(POLL_ROUNDS);
    for _ in 0..POLL_ROUNDS {
        let started = Instant::now();
        let changes = slipway_server::watcher::poll(control, project)
            .await
            .unwrap();
        polls.push(started.elapsed());
        assert!(changes.created.is_empty() && changes.updated.is_empty());
    }
    // Naive: fetch a mirror of the repository every round.
    let mirror = home.join("mirror.git");
    slipway_checkout::update_mirror(&repo.display().to_string(), &mirror).unwrap();
    let mut fetches = Vec::with_capacity(POLL_ROUNDS);
    for _ in 0..POLL_ROUNDS {
        let started = Instant::now();
        slipway_checkout::update_mirror(&repo.display().to_string(), &mirror).unwrap();
        fetches.push(started.elapsed());
    }
    report("poll round, 200 branches: ls-remote + sync", &mut polls);
    report(
        "naive poll round, 200 branches: git fetch of a mirror",
        &mut fetches,
    );
}

fn get(port: u16, path: &str) -> String {
    get_with(port, path, "Authorization: Bearer bench-token")
}

fn get_with(port: u16, path: &str, header: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost:8800\r\n{header}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn make_repository_with_branches(repo: &Path, branches: usize) {
    std::fs::create_dir_all(repo).unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@slipway.invalid",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(repo)
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("README"), "bench").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let refs: String = (1..branches)
        .map(|i| format!("create refs/heads/feature-{i:03} HEAD\n"))
        .collect();
    let mut update = Command::new("git")
        .args(["update-ref", "--stdin"])
        .current_dir(repo)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    update
        .stdin
        .take()
        .unwrap()
        .write_all(refs.as_bytes())
        .unwrap();
    assert!(update.wait().unwrap().success());
}
