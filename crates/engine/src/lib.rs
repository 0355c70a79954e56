//! The build engine: a repository of Odoo addons at one commit in; a real Odoo
//! server that installed it into its own database and ran its tests, and the
//! verdict from its log, out.
//!
//! A build is a recipe ([`recipes`]) of steps ([`steps`], one file each),
//! on an Odoo prepared first ([`Engine::prepare_odoo`]: Debian's package, or
//! sources at exact commits on a runtime built from them):
//!
//! - development ([`Engine::run_development`]): code checked out and planned →
//!   Python requirements → template database (outside dependencies) → the
//!   build's database, a copy of it → Odoo installs and tests → verdict →
//!   kept to serve, or everything removed;
//! - deployment ([`Engine::stage_deployment`], then [`Engine::deploy`]): code
//!   and requirements while production still serves → a new database or a
//!   copy of the previous build's → neutralized (staging) → the changed
//!   modules updated → verdict → kept to serve, or removed (the origin is
//!   never written: that is the rollback).

mod config;
mod connect;
mod disk_use;
mod engine;
mod error;
pub mod host;
mod layout;
pub mod locks;
mod logs;
mod modules;
mod odoo;
mod odoo_install;
mod recipes;
mod report;
mod resources;
mod serving;
mod shell;
mod steps;
pub mod templates;

pub use config::{MailRoute, ServiceOptions};
pub use connect::{CONNECT_PATH, CONNECT_SECRET_HEADER};
pub use disk_use::DiskUse;
pub use engine::{build_database, build_of_database, Engine, PreparedBuild};
pub use error::BuildError;
pub use layout::{BuildDir, Layout, SYSTEM_HOME};
pub use locks::{lock as lock_file, LockMode};
pub use logs::LogFile;
pub use odoo_install::{OdooInstall, SourceTree};
pub use recipes::deployment::{DeploymentRequest, Origin, Staged, StagedDeployment};
pub use recipes::development::DevelopmentRequest;
pub use report::{BuildReport, KeptBuild, TemplateUse};
pub use resources::{prune_logs, reap_orphans, Resources, Tracker, LOG_RETENTION};
pub use serving::{free_port, http_status, OdooServer, ServeAt, ServedBuild, BUILD_PORT};
pub use steps::neutralize::Neutralize;
pub use steps::odoo_sources::{OdooRequest, TREE_RETENTION};
pub use steps::update_plan::{plan_update, UpdatePlan, INSTALLED_CHECKSUMS};

/// What a build reports while it runs, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A new phase starts ("checking out", "installing modules", ...).
    Step(&'a str),
    /// Something the user should know that is not an error.
    Notice(&'a str),
    /// One line of Odoo's output.
    OdooLine(&'a str),
}

/// Receives [`Event`]s. Must be cheap: it is called for every Odoo log line.
pub trait Observer: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// Passes events on and logs how long each step took (`RUST_LOG=info`), so that
/// slipway's own overhead can be told apart from Odoo's time.
pub struct StepClock<'a> {
    inner: &'a dyn Observer,
    current: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl<'a> StepClock<'a> {
    pub fn new(inner: &'a dyn Observer) -> StepClock<'a> {
        StepClock {
            inner,
            current: std::sync::Mutex::new(None),
        }
    }

    /// Closes the current step under `next` (or ends timing with `None`).
    pub fn switch(&self, next: Option<&str>) {
        let mut current = self.current.lock().expect("step clock lock");
        if let Some((step, started)) = current.take() {
            tracing::info!(step = %step, ms = started.elapsed().as_millis() as u64, "step finished");
        }
        *current = next.map(|step| (step.to_string(), std::time::Instant::now()));
    }
}

impl Observer for StepClock<'_> {
    fn event(&self, event: Event<'_>) {
        if let Event::Step(step) = event {
            self.switch(Some(step));
        }
        self.inner.event(event);
    }
}
