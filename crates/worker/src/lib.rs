//! A worker: takes builds from the control-plane queue (a short claim, then a
//! lease renewed by heartbeats), runs them through the engine outside any
//! transaction, and keeps the good ones serving Odoo on a loopback port.

mod control_db;
mod execute;
mod housekeeping;

pub use control_db::{ControlDb, Session, CONTROL_DATABASE};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use slipway_build::{Engine, OdooServer};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinSet;

/// A build holds its lease this long without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(60);
/// Heartbeats come this often (a third of the lease: two may be lost).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(20);
/// Stopped builds' databases are dropped after this (Odoo.sh keeps them 3 days).
pub const STOPPED_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);
/// Expired leases are looked for, and retention applied, this often.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// Longest sleep between two looks at the queue when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unique among the workers sharing the control database.
    pub name: String,
    pub host: String,
    pub max_builds: usize,
    pub lease: Duration,
    pub stopped_retention: Duration,
}

impl WorkerConfig {
    /// `max_builds`: half the cores, at least one (an Odoo build keeps a core
    /// busy and PostgreSQL needs the rest).
    pub fn default_max_builds() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get() / 2)
            .unwrap_or(1)
            .max(1)
    }
}

/// Why a worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Control(#[from] slipway_control::ControlError),
}

pub struct Worker {
    pub config: WorkerConfig,
    pub engine: Arc<Engine>,
    pub control: ControlDb,
    /// The Odoo servers of this worker's serving builds, by build id.
    servers: Mutex<HashMap<i64, OdooServer>>,
}

impl Worker {
    pub fn new(config: WorkerConfig, engine: Arc<Engine>, control: ControlDb) -> Arc<Worker> {
        Arc::new(Worker {
            config,
            engine,
            control,
            servers: Mutex::new(HashMap::new()),
        })
    }

    /// Runs until `shutdown` turns true, then stops its builds and servers and
    /// hands its leases back.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), WorkerError> {
        {
            let session = self.control.session().await?;
            slipway_control::register_worker(
                &session,
                &self.config.name,
                &self.config.host,
                self.config.max_builds as i32,
            )
            .await?;
        }
        let mut wake =
            slipway_control::listen(&self.control.cluster.admin_config(&self.control.database))
                .await?;
        self.clone().restart_serving().await;
        tracing::info!(worker = %self.config.name, max_builds = self.config.max_builds, "worker started");
        let mut builds = JoinSet::new();
        let mut last_housekeeping: Option<tokio::time::Instant> = None;
        loop {
            if last_housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY) {
                if let Err(error) = self.housekeeping().await {
                    tracing::warn!(%error, "housekeeping failed; retrying soon");
                }
                last_housekeeping = Some(tokio::time::Instant::now());
            }
            while builds.len() < self.config.max_builds {
                let claimed = {
                    let session = self.control.session().await?;
                    slipway_control::claim(&session, &self.config.name, self.config.lease).await?
                };
                match claimed {
                    Some(build) => {
                        tracing::info!(build = build.id, commit = %build.commit, "build claimed");
                        builds.spawn(self.clone().execute(build, shutdown.clone()));
                    }
                    None => break,
                }
            }
            let pause = self.until_next_due().await.min(IDLE_POLL);
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = wake.recv() => {}
                _ = tokio::time::sleep(pause) => {}
                Some(_) = builds.join_next(), if !builds.is_empty() => {}
            }
        }
        tracing::info!(worker = %self.config.name, running = builds.len(), "worker stopping");
        // Builds see the shutdown themselves, kill their sandboxes and clean up.
        while builds.join_next().await.is_some() {}
        for (_, server) in self.servers.lock().await.drain() {
            server.stop().await;
        }
        let session = self.control.session().await?;
        slipway_control::release(&session, &self.config.name).await?;
        Ok(())
    }

    /// How long until the next pending build may start.
    async fn until_next_due(&self) -> Duration {
        let Ok(session) = self.control.session().await else {
            return IDLE_POLL;
        };
        match slipway_control::next_due(&session).await {
            Ok(Some(due)) => due,
            _ => IDLE_POLL,
        }
    }
}
