use std::io;
use std::path::PathBuf;

/// Why a dump could not be written. Whatever the error, no dump file and no
/// temporary file is left behind.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The database does not exist (any more): the build's database was
    /// collected, or dropped while being dumped.
    #[error("database '{database}' does not exist any more (the build's database was collected); rebuild the branch to get a database to dump")]
    DatabaseGone { database: String },

    #[error("cannot connect to database '{database}': {reason}")]
    Connect { database: String, reason: String },

    /// Odoo's zip needs `ir_module_module` and the `base` module's version.
    #[error("database '{database}' is not an Odoo database ({reason}); it cannot be dumped in Odoo's zip format, only as a pg_dump")]
    NotOdoo { database: String, reason: String },

    #[error("reading the manifest of database '{database}': {reason}")]
    Manifest { database: String, reason: String },

    #[error("cannot run {program} to dump database '{database}': {source}; check the PostgreSQL client programs (SLIPWAY_PG_BINDIR)")]
    PgDumpMissing {
        database: String,
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("pg_dump of database '{database}' failed ({status}): {output}{hint}")]
    PgDump {
        database: String,
        status: String,
        output: String,
        /// What to do, when the output says it (starts with "; ").
        hint: String,
    },

    #[error("cannot write the dump of database '{database}' in {path}: {source}; choose another destination or make the directory writable for slipway")]
    OutputNotWritable {
        database: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("the disk holding {path} is full while dumping database '{database}': free some space and try again")]
    DiskFull { database: String, path: PathBuf },

    #[error("{action} {path} while dumping database '{database}': {source}")]
    Io {
        database: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl DumpError {
    /// An I/O error; a full disk (or quota) is [`DumpError::DiskFull`].
    pub(crate) fn io(
        database: &str,
        action: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> DumpError {
        let path = path.into();
        if is_disk_full(&source) {
            DumpError::DiskFull {
                database: database.to_string(),
                path,
            }
        } else {
            DumpError::Io {
                database: database.to_string(),
                action,
                path,
                source,
            }
        }
    }
}

pub(crate) fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || error.raw_os_error() == Some(libc::ENOSPC)
}

/// The server's own message, without the client library's wrapper text.
pub(crate) fn sql_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(error) {
            Some(cause) => cause.to_string(),
            None => error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_its_own_error() {
        let full = DumpError::io(
            "build_1",
            "writing",
            "/srv/dumps/x.zip",
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(matches!(full, DumpError::DiskFull { .. }), "{full:?}");
        let text = full.to_string();
        assert!(
            text.contains("build_1") && text.contains("free some space"),
            "{text}"
        );
        let quota = DumpError::io(
            "build_1",
            "writing",
            "/srv/dumps/x.zip",
            io::Error::from_raw_os_error(libc::EDQUOT),
        );
        assert!(matches!(quota, DumpError::DiskFull { .. }), "{quota:?}");
        let other = DumpError::io(
            "build_1",
            "reading",
            "/srv/fs/ab/cd",
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(matches!(other, DumpError::Io { .. }), "{other:?}");
        assert!(other.to_string().contains("/srv/fs/ab/cd"));
    }

    #[test]
    fn a_gone_database_says_what_happened_and_what_to_do() {
        let text = DumpError::DatabaseGone {
            database: "p1_b42".into(),
        }
        .to_string();
        assert!(
            text.contains("'p1_b42'") && text.contains("collected") && text.contains("rebuild"),
            "{text}"
        );
    }
}
