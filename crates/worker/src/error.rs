//! Why a build's work stopped short; each Display is the reason recorded on
//! the failed build, which testers read in the UI and API.

/// Why a claimed build (or a restart) could not run to its report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Control(#[from] slipway_control::ControlError),

    #[error(transparent)]
    Engine(#[from] slipway_engine::BuildError),

    #[error(transparent)]
    Image(#[from] slipway_image::ImageError),

    #[error(transparent)]
    Postgres(#[from] slipway_postgres::PgError),

    /// Fetching the repository failed; the text has its credentials hidden.
    #[error("{0}")]
    Fetch(String),

    #[error("the project no longer has the Odoo source '{0}' this build was queued with: rebuild the branch")]
    SourceGone(String),

    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),

    #[error("the mail catcher is not running; non-production builds cannot run without it")]
    NoMailCatcher,

    #[error("the build's network or limits could not be made: {0}")]
    Confinement(String),

    /// A backup, a verification or an import that could not be done (the
    /// text says what and what to do).
    #[error("{0}")]
    Backup(String),

    #[error("cannot record the restarted server: {0}")]
    RecordRestart(slipway_control::ControlError),
}
