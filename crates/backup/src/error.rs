use std::io;
use std::path::PathBuf;

/// Why a backup, a verification or a restore did not happen. Whatever the
/// error, no half backup is left looking complete and the source database is
/// untouched.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the disk holding {path} is full: the backup was not made (nothing half-written is kept, the database is untouched); free some space or give another backup directory")]
    DiskFull { path: PathBuf },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot run {program}: {source}; check the PostgreSQL client programs (SLIPWAY_PG_BINDIR)"
    )]
    ProgramMissing {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{program} on database '{database}' failed ({status}): {output}")]
    Program {
        program: &'static str,
        database: String,
        status: String,
        output: String,
    },

    #[error("database '{database}': {source}")]
    Database {
        database: String,
        #[source]
        source: slipway_postgres::PgError,
    },

    #[error("database '{database}' does not exist: it was dropped outside slipway, so there is nothing to back up")]
    DatabaseGone { database: String },

    #[error("database '{database}' is not an Odoo database ({reason})")]
    NotOdoo { database: String, reason: String },

    #[error("backup {id} does not exist in {dir}")]
    NotFound { id: String, dir: PathBuf },

    #[error("backup {id} cannot be read: {reason}")]
    Unreadable { id: String, reason: String },

    /// Its files do not match its manifest: it must not be restored.
    #[error("backup {id} is damaged and cannot be restored: {}", problems.join("; "))]
    Damaged { id: String, problems: Vec<String> },

    #[error("backup {id} holds an Odoo {backup_series} database; this project runs Odoo {series}: restore it into a project of its series")]
    OtherSeries {
        id: String,
        backup_series: String,
        series: String,
    },

    #[error(transparent)]
    Zip(#[from] crate::zip_import::ZipImportError),

    #[error("the filestore path '{path}' of an attachment is not a plain relative path; it was not backed up")]
    UnsafeFilestorePath { path: String },
}

impl BackupError {
    /// An I/O error; a full disk (or quota) is [`BackupError::DiskFull`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> BackupError {
        let path = path.into();
        if is_disk_full(&source) {
            BackupError::DiskFull { path }
        } else {
            BackupError::Io {
                action,
                path,
                source,
            }
        }
    }

    pub(crate) fn database(
        database: &str,
    ) -> impl Fn(slipway_postgres::PgError) -> BackupError + '_ {
        move |source| BackupError::Database {
            database: database.to_string(),
            source,
        }
    }

    /// A failed connection to `database`; a database that does not exist
    /// is [`BackupError::DatabaseGone`].
    pub(crate) fn connecting(database: &str, error: slipway_postgres::PgError) -> BackupError {
        if let slipway_postgres::PgError::Sql(sql) = &error {
            if sql.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) {
                return BackupError::DatabaseGone {
                    database: database.to_string(),
                };
            }
        }
        BackupError::database(database)(error)
    }

    pub(crate) fn sql(database: &str) -> impl Fn(tokio_postgres::Error) -> BackupError + '_ {
        move |source| BackupError::Database {
            database: database.to_string(),
            source: source.into(),
        }
    }

    /// Whether the disk filled up (the caller says so loudly and keeps going).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, BackupError::DiskFull { .. })
    }
}

pub(crate) fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || error.raw_os_error() == Some(libc::ENOSPC)
}
