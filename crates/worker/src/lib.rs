//! A worker: takes builds from the control-plane queue (a short claim, then a
//! lease renewed by heartbeats), runs them through the engine outside any
//! transaction, each in a network of its own, and keeps the good ones
//! serving Odoo there, reached by slipway's proxy only.

mod backups;
mod confinement;
mod deploy;
mod error;
mod execute;
mod housekeeping;
mod mail;

pub use confinement::{Confined, Confinement, StageLimits};
pub use error::RunError;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use slipway_control::ControlDb;
use slipway_engine::{Engine, OdooServer};
use tokio::sync::{broadcast, watch, Mutex};
use tokio::task::JoinSet;

/// A build holds its lease this long without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(60);
/// Stopped builds' databases are dropped after this (Odoo.sh keeps them 3 days).
pub const STOPPED_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);
/// Expired leases are looked for, and retention applied, this often.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// Longest sleep between two looks at the queue when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Pause after a control-database error before trying again.
pub const ERROR_PAUSE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unique among the workers sharing the control database.
    pub name: String,
    pub host: String,
    pub max_builds: usize,
    pub lease: Duration,
    pub stopped_retention: Duration,
    /// A network and limits of its own per build, or the host's network and
    /// no limits (`--unconfined`).
    pub confinement: Confinement,
    /// PostgreSQL's client programs (pg_dump, pg_restore, psql) for backups.
    pub pg_binaries: slipway_postgres::PgBinaries,
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

/// What a worker did, for whoever waits on it: the tests drive the loop by
/// these instead of sleeping and hoping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Recording build `build`'s outcome failed because the control database
    /// did not answer; it is tried again after [`ERROR_PAUSE`].
    RecordDeferred { build: i64 },
    /// The task of claimed build `build` ended: its outcome recorded, or the
    /// build given up (lease lost, shutdown) and what it made removed.
    BuildEnded { build: i64 },
}

/// Events kept for a slow listener before it misses some.
const EVENTS_KEPT: usize = 64;

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
    /// The port of this worker's mail catcher, once started.
    mail_port: std::sync::OnceLock<u16>,
    /// Stopped builds being started again on request.
    restarting: Mutex<std::collections::HashSet<i64>>,
    /// The control groups of this worker's builds (their limits).
    cgroups: confinement::Confinements,
    events: broadcast::Sender<Event>,
    /// Held while a backup writes or retention collects the backups' shared
    /// filestore pool (a file just pooled has no link from a backup yet).
    backup_lock: Mutex<()>,
}

impl Worker {
    pub fn new(config: WorkerConfig, engine: Arc<Engine>, control: ControlDb) -> Arc<Worker> {
        let cgroups = confinement::Confinements::new(&engine.layout().home);
        Arc::new(Worker {
            config,
            engine,
            control,
            servers: Mutex::new(HashMap::new()),
            mail_port: std::sync::OnceLock::new(),
            restarting: Mutex::new(std::collections::HashSet::new()),
            cgroups,
            events: broadcast::channel(EVENTS_KEPT).0,
            backup_lock: Mutex::new(()),
        })
    }

    /// What this worker does from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(crate) fn tell(&self, event: Event) {
        // Nobody listening is the usual case.
        let _ = self.events.send(event);
    }

    /// Where this worker's builds send their mail (`None` before it runs, or if
    /// the catcher could not start).
    pub fn mail_port(&self) -> Option<u16> {
        self.mail_port.get().copied()
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
                matches!(self.config.confinement, Confinement::Confined(_)),
            )
            .await?;
        }
        match mail::start(
            self.control.clone(),
            &self.config.confinement,
            shutdown.clone(),
        )
        .await
        {
            Ok(port) => {
                let _ = self.mail_port.set(port);
                tracing::info!(port, "mail catcher started");
            }
            Err(error) => {
                tracing::error!(%error, "the mail catcher could not start; builds' mail will fail")
            }
        }
        let mut wake = self.listen().await;
        if let Err(error) = self.engine_housekeeping().await {
            tracing::warn!(%error, "cleaning up after interrupted builds failed");
        }
        if let Err(error) = self.reap_confinement().await {
            tracing::warn!(%error, "removing the networks and limits of interrupted builds failed");
        }
        self.clone().restart_serving().await;
        let backups = tokio::spawn(self.clone().backup_loop(shutdown.clone()));
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
            // A database hiccup is waited out, never fatal: running builds and
            // servers must not be dropped with the loop.
            if let Err(error) = self.claim_up_to_capacity(&mut builds, &shutdown).await {
                tracing::warn!(%error, "cannot take builds from the queue; retrying");
                tokio::time::sleep(ERROR_PAUSE).await;
            }
            if let Err(error) = self.serve_requested().await {
                tracing::warn!(%error, "cannot look for builds to start again; retrying");
            }
            let full = builds.len() >= self.config.max_builds;
            // Due now and still queued after claiming means blocked (its branch
            // has a build running): wait for a wake-up rather than spin.
            let pause = if full {
                IDLE_POLL
            } else {
                self.until_next_due().await.min(IDLE_POLL)
            };
            let pause = if pause.is_zero() { IDLE_POLL } else { pause };
            tokio::select! {
                _ = shutdown.changed() => break,
                woken = wake.recv() => {
                    if woken.is_none() {
                        // The LISTEN session is gone (e.g. PostgreSQL restarted).
                        tokio::time::sleep(ERROR_PAUSE).await;
                        wake = self.listen().await;
                    }
                }
                _ = tokio::time::sleep(pause) => {}
                Some(joined) = builds.join_next(), if !builds.is_empty() => {
                    if let Err(error) = joined {
                        tracing::error!(%error, "a build task crashed");
                    }
                }
            }
        }
        tracing::info!(worker = %self.config.name, running = builds.len(), "worker stopping");
        // Builds see the shutdown themselves, kill their sandboxes and clean up.
        while builds.join_next().await.is_some() {}
        // A backup in progress is abandoned: its directory is partial, never
        // complete, and cleared at the next start.
        backups.abort();
        let _ = backups.await;
        for (_, server) in self.servers.lock().await.drain() {
            server.stop().await;
        }
        // Made again when they serve again: a stopped slipway leaves none.
        self.release_confinement().await;
        if let (Confinement::Confined(confined), Some(port)) =
            (&self.config.confinement, self.mail_port())
        {
            // Another program may take the catcher's port: builds must not reach it.
            if let Err(error) = confined.plumbing.forbid_catcher_port(port) {
                tracing::warn!(%error, port, "closing the mail catcher's port to builds failed");
            }
        }
        let session = self.control.session().await?;
        slipway_control::release(&session, &self.config.name).await?;
        Ok(())
    }

    async fn claim_up_to_capacity(
        self: &Arc<Self>,
        builds: &mut JoinSet<()>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), WorkerError> {
        while builds.len() < self.config.max_builds {
            let session = self.control.session().await?;
            let Some(build) =
                slipway_control::claim(&session, &self.config.name, self.config.lease).await?
            else {
                return Ok(());
            };
            tracing::info!(build = build.id, commit = %build.commit, "build claimed");
            let (worker, id, shutdown) = (self.clone(), build.id, shutdown.clone());
            builds.spawn(async move {
                worker.clone().execute(build, shutdown).await;
                worker.tell(Event::BuildEnded { build: id });
            });
        }
        Ok(())
    }

    /// Notifications of queue changes; without them (LISTEN failed) the worker
    /// still looks at the queue every [`IDLE_POLL`].
    async fn listen(&self) -> tokio::sync::mpsc::Receiver<i64> {
        match slipway_control::listen(&self.control.cluster.admin_config(&self.control.database))
            .await
        {
            Ok(receiver) => receiver,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for queue changes; polling only");
                let (sender, receiver) = tokio::sync::mpsc::channel(1);
                // Kept open so that the channel never reads as closed.
                std::mem::forget(sender);
                receiver
            }
        }
    }

    /// What earlier runs of this host left: resources of killed builds, old logs.
    async fn engine_housekeeping(&self) -> Result<(), slipway_engine::BuildError> {
        self.engine.reap_orphans().await?;
        self.engine.collect_old();
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
