//! The build engine: a repository of Odoo addons at one commit in; a real Odoo
//! server that installed it into its own database and ran its tests, and the
//! verdict from its log, out.
//!
//! The way of a development build ([`Engine::run_development`]):
//! checkout → addons discovered → dependencies resolved → database (copied from a
//! template, or new) → Odoo in the sandbox (install + tests) → log analysed →
//! modules checked in the database → report → everything removed (unless kept).

mod code;
mod config;
mod connect;
mod deployment;
mod development;
mod error;
pub mod host;
mod layout;
pub mod locks;
mod modules;
mod odoo;
mod report;
mod requirements;
mod resources;
mod serving;
mod shell;
pub mod templates;

pub use config::{MailRoute, ServiceOptions};
pub use connect::{CONNECT_PATH, CONNECT_SECRET_HEADER};
pub use deployment::{
    plan_update, DeploymentRequest, Neutralize, Origin, Staged, StagedDeployment, UpdatePlan,
    INSTALLED_CHECKSUMS,
};
pub use development::{DevelopmentRequest, Engine, PreparedBuild};
pub use error::BuildError;
pub use layout::{Layout, SYSTEM_HOME};
pub use locks::{lock as lock_file, LockMode};
pub use report::{BuildReport, KeptBuild, TemplateUse};
pub use resources::{prune_logs, reap_orphans, Resources, Tracker, LOG_RETENTION};
pub use serving::{free_port, http_status, OdooServer, ServedBuild};

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
