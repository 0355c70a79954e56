//! The PostgreSQL that builds run against.
//!
//! slipway runs its own *embedded* cluster by default (initdb/pg_ctl from the host's
//! binaries, socket-only, password authentication for every role) or uses an
//! external cluster given by URL. Every build gets its own database and its own
//! login role that owns only that database.

mod binaries;
mod cluster;
mod deployments;
mod embedded;
mod names;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use binaries::PgBinaries;
pub use cluster::{Cluster, DatabaseCopy, Endpoint};
pub use embedded::EmbeddedCluster;
pub use names::{random_secret, validate_identifier};

use std::path::PathBuf;

/// A host account that owns and runs the embedded cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterUser {
    pub uid: u32,
    pub gid: u32,
}

/// Why PostgreSQL could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries not found (looked for initdb in {searched}); install them \
         (`apt-get install postgresql`) or point SLIPWAY_PG_BINDIR at the directory holding initdb and pg_ctl"
    )]
    BinariesMissing { searched: String },

    #[error("the embedded cluster in {dir} was created by PostgreSQL {found}, but the binaries are {wanted}; point SLIPWAY_PG_BINDIR at PostgreSQL {found}'s binaries or move the directory away")]
    VersionMismatch {
        dir: PathBuf,
        found: String,
        wanted: u32,
    },

    #[error("`{program}` failed ({status}): {output}")]
    Command {
        program: String,
        status: String,
        output: String,
    },

    #[error("invalid PostgreSQL URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("invalid database object name '{0}': only lowercase letters, digits and '_' (at most 63) are used")]
    InvalidName(String),

    #[error("database '{0}' does not exist")]
    NoSuchDatabase(String),

    #[error("database '{0}' is still owned by the role that built it and cannot serve as a template yet")]
    TemplateNotFrozen(String),

    /// Displayed with the server's own message; the client library's wrapper
    /// text ("db error") is left out.
    #[error("{}", sql_message(.0))]
    Sql(tokio_postgres::Error),

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<tokio_postgres::Error> for PgError {
    fn from(error: tokio_postgres::Error) -> PgError {
        PgError::Sql(error)
    }
}

fn sql_message(error: &tokio_postgres::Error) -> String {
    use tokio_postgres::error::SqlState;
    match error.as_db_error() {
        Some(db) if db.code() == &SqlState::DISK_FULL || db.message().contains("No space left on device") => format!(
            "the disk holding PostgreSQL's data is full ({}): free some space (e.g. `slipway templates prune`) and try again",
            db.message()
        ),
        Some(db) => format!("PostgreSQL refused: {}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("PostgreSQL connection failed: {cause}"),
            None => format!("PostgreSQL connection failed: {error}"),
        },
    }
}

impl PgError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> PgError {
        let path = path.into();
        move |source| PgError::Io {
            action,
            path,
            source,
        }
    }
}
