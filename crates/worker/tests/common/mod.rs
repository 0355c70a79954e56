//! A real worker loop in-process against a real PostgreSQL (one cluster per
//! test binary, one migrated control database per test), driven by the
//! worker's [`Event`]s rather than by sleeps.

#![allow(dead_code)] // Not every test binary uses every helper.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use slipway_control::{Build, ControlDb, NewProject, Project, ProjectSettings};
use slipway_worker::{Event, Worker, WorkerConfig, WorkerError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// The worker's name in the control database.
pub const WORKER: &str = "worker-under-test";

/// `future`, or a panic saying what did not happen within `limit`.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {limit:?}"))
}

/// One host: an engine on a fresh data dir and a worker running its loop.
pub struct Host {
    pub worker: Arc<Worker>,
    /// The test's control database, in the binary's shared cluster.
    pub database: String,
    pub home: tempfile::TempDir,
    events: broadcast::Receiver<Event>,
    shutdown: watch::Sender<bool>,
    run: JoinHandle<Result<(), WorkerError>>,
}

impl Host {
    /// A worker whose builds hold their lease for `lease`; one build at a time.
    pub async fn start(name: &str, lease: Duration, images: Option<&Path>) -> Host {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let server = slipway_postgres::test_support::shared().await;
        let database = format!("w_{name}");
        let control = ControlDb::prepare(server.cluster.clone(), &database)
            .await
            .expect("the control database");
        let home = tempfile::tempdir().expect("a data dir");
        let mut layout = slipway_engine::Layout::at(home.path());
        if let Some(images) = images {
            layout.images = images.to_path_buf();
        }
        let engine = slipway_engine::Engine::new(
            layout.clone(),
            slipway_image::ImageStore::new(&layout.images),
            server.cluster.clone(),
            Box::new(slipway_sandbox::Bubblewrap::locate().expect("bwrap installed")),
            None,
        );
        let config = WorkerConfig {
            name: WORKER.to_string(),
            host: "localhost".to_string(),
            max_builds: 1,
            lease,
            stopped_retention: slipway_worker::STOPPED_RETENTION,
            confinement: slipway_worker::Confinement::Unconfined,
            pg_binaries: slipway_postgres::PgBinaries::find(None).expect("PostgreSQL's programs"),
        };
        let worker = Worker::new(config, Arc::new(engine), control);
        // Subscribed before the loop starts: no event is missed.
        let events = worker.events();
        let (shutdown, stop) = watch::channel(false);
        let run = tokio::spawn(worker.clone().run(stop));
        Host {
            worker,
            database,
            home,
            events,
            shutdown,
            run,
        }
    }

    /// A new session to the control database (never one of the worker's).
    pub async fn sql(&self) -> tokio_postgres::Client {
        let server = slipway_postgres::test_support::shared().await;
        server
            .cluster
            .connect(&self.database)
            .await
            .expect("a session to the control database")
    }

    pub async fn project(&self, name: &str, repo_url: &str, odoo: &str) -> Project {
        slipway_control::add_project(
            &self.sql().await,
            &NewProject {
                name: name.to_string(),
                repo_url: repo_url.to_string(),
                odoo: odoo.to_string(),
                production_branch: "main".to_string(),
                webhook_secret: "secret".to_string(),
                settings: ProjectSettings::default(),
            },
        )
        .await
        .expect("a project")
    }

    /// What a push of `commit` to `branch` does: the branch's new head, a
    /// build queued to start now.
    pub async fn push(&self, project: &Project, branch: &str, commit: &str) -> Build {
        let mut client = self.sql().await;
        let known = slipway_control::list_branches(&client, &project.name)
            .await
            .expect("the project's branches");
        let mut heads: BTreeMap<String, String> = known
            .iter()
            .filter_map(|known| Some((known.name.clone(), known.head.clone()?)))
            .collect();
        heads.insert(branch.to_string(), commit.to_string());
        let changes = slipway_control::sync_branches(&mut client, project.id, &heads)
            .await
            .expect("syncing the branches");
        let pushed = changes
            .created
            .iter()
            .chain(&changes.updated)
            .chain(&changes.revived)
            .find(|pushed| pushed.name == branch)
            .expect("the pushed branch changed");
        slipway_control::enqueue(
            &client,
            project.id,
            pushed.id,
            commit,
            pushed.stage,
            Duration::ZERO,
            &[],
        )
        .await
        .expect("queueing the build")
    }

    pub async fn build(&self, id: i64) -> Build {
        slipway_control::get_build(&self.sql().await, id)
            .await
            .expect("the build")
    }

    /// The next event the worker tells.
    pub async fn next_event(&mut self, limit: Duration) -> Event {
        within(limit, "a worker event", async {
            loop {
                match self.events.recv().await {
                    Ok(event) => return event,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => panic!("the worker is gone"),
                }
            }
        })
        .await
    }

    /// Waits for the task of claimed build `build` to end.
    pub async fn build_ended(&mut self, build: i64, limit: Duration) {
        within(limit, &format!("the end of build #{build}'s task"), async {
            while self.next_event(limit).await != (Event::BuildEnded { build }) {}
        })
        .await
    }

    /// The engine's run marker of an attempt: present while it has resources.
    pub fn run_marker(&self, attempt: &str) -> PathBuf {
        slipway_engine::Layout::at(self.home.path())
            .runs()
            .join(format!("{attempt}.json"))
    }

    /// Stops the loop as `slipway serve` does on SIGTERM; it must stop cleanly.
    pub async fn stop(self) {
        self.shutdown.send(true).expect("the loop listens");
        within(Duration::from_secs(60), "the worker's stop", self.run)
            .await
            .expect("the loop did not panic")
            .expect("the loop stopped cleanly");
    }
}

/// A git server that accepts connections and never answers: a build fetching
/// from it is held mid-run until the test drops the connection, which fails
/// the fetch.
pub struct SilentGit {
    listener: TcpListener,
}

impl SilentGit {
    pub async fn bind() -> SilentGit {
        SilentGit {
            listener: TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port"),
        }
    }

    pub fn url(&self) -> String {
        let port = self.listener.local_addr().expect("bound").port();
        format!("git://127.0.0.1:{port}/shop.git")
    }

    /// The connection of a build's fetch: the build is now mid-run.
    pub async fn fetching(&self) -> TcpStream {
        within(
            Duration::from_secs(60),
            "a build's fetch",
            self.listener.accept(),
        )
        .await
        .expect("accepting the fetch")
        .0
    }
}
