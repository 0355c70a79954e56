//! Dumps of a build's Odoo database, in the two formats of Odoo's own database
//! manager (`/web/database/backup`), so that `/web/database/restore` (or any Odoo
//! of the same series) takes them back:
//!
//! - [`DumpFormat::Zip`]: a zip holding `dump.sql` (plain `pg_dump --no-owner`),
//!   `manifest.json` and `filestore/` (the database's attachments), as
//!   `odoo/service/db.py`'s `dump_db` writes it with `odoo/tools/osutil.py`'s
//!   `zip_dir`: deflated, zip64 when large, `dump.sql` first, files only.
//! - [`DumpFormat::PgCustom`]: `pg_dump --no-owner --format=c`, no filestore
//!   (Odoo restores it with `pg_restore --no-owner`).
//!
//! Odoo writes the manifest from the running server (`odoo.release`); slipway
//! reads it from the database itself: the series from the `base` module's
//! `latest_version` (`14.0.1.3` → `14.0`), the modules and the server version.
//!
//! The dump is written to a hidden temporary file next to its destination and
//! renamed into place at the end: a failed dump leaves nothing behind. Nothing is
//! held in memory: pg_dump writes to a temporary file, which is copied into the
//! zip in chunks with the filestore's files. Symbolic links in the filestore are
//! never followed (a build runs code of its branch, which could plant one).

mod archive;
mod error;
mod manifest;
mod pg_dump;
mod walk;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::NamedTempFile;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

pub use error::DumpError;
pub use manifest::Manifest;
pub use walk::{SkipReason, Skipped};

/// What `/web/database/backup` calls `backup_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// Odoo's zip: `dump.sql`, `manifest.json`, `filestore/`.
    Zip,
    /// `pg_dump --format=c`, without the filestore.
    PgCustom,
}

impl DumpFormat {
    /// The file name extension Odoo gives the format (`zip`, `dump`).
    pub fn extension(self) -> &'static str {
        match self {
            DumpFormat::Zip => "zip",
            DumpFormat::PgCustom => "dump",
        }
    }
}

/// The database to dump and how to reach it.
#[derive(Clone)]
pub struct DumpSource<'a> {
    /// The `pg_dump` program (`PgBinaries::program("pg_dump")`); its major version
    /// must be at least the server's.
    pub pg_dump: &'a Path,
    /// libpq's environment: `PGHOST` (host name or socket directory), `PGPORT`,
    /// `PGUSER`, `PGPASSWORD` (`Cluster::libpq_env`). pg_dump gets these and
    /// nothing else of slipway's environment.
    pub connection: Vec<(String, String)>,
    pub database: &'a str,
    /// `<data_dir>/filestore/<database>`; absent or missing means no filestore
    /// (as for Odoo). Only used by [`DumpFormat::Zip`]. Its last two components
    /// are in the build's hands: if either is a link, the filestore is left out
    /// (reported in [`DumpSummary::skipped`] as `.`); links above are followed.
    pub filestore: Option<&'a Path>,
}

impl std::fmt::Debug for DumpSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connection: Vec<(&str, &str)> = self
            .connection
            .iter()
            .map(|(key, value)| {
                let shown = if key == "PGPASSWORD" {
                    "<hidden>"
                } else {
                    value
                };
                (key.as_str(), shown)
            })
            .collect();
        f.debug_struct("DumpSource")
            .field("pg_dump", &self.pg_dump)
            .field("connection", &connection)
            .field("database", &self.database)
            .field("filestore", &self.filestore)
            .finish()
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct DumpSummary {
    pub format: DumpFormat,
    pub path: PathBuf,
    /// Size of the dump file.
    pub bytes: u64,
    /// Files of the filestore in the zip, and their total size (uncompressed).
    pub filestore_files: u64,
    pub filestore_bytes: u64,
    /// Filestore entries left out: symbolic links, special files, ...
    pub skipped: Vec<Skipped>,
    /// The zip's `manifest.json`.
    pub manifest: Option<Manifest>,
}

/// Bounded so that an unreachable server is an error after seconds, not minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Dumps `source.database` to `out` (replaced if it exists; mode 0600: a dump
/// holds password hashes and API keys). On error, nothing is left at `out` nor
/// next to it. A zip needs room for pg_dump's SQL and the zip at once in `out`'s
/// directory while it is written.
pub async fn write_dump(
    source: &DumpSource<'_>,
    format: DumpFormat,
    out: &Path,
) -> Result<DumpSummary, DumpError> {
    let database = source.database;
    // The destination first: an unwritable directory fails before any work.
    let output = temporary_next_to(database, out, "part")?;
    let client = connect(source).await?;
    let manifest = match format {
        DumpFormat::Zip => Some(manifest::read(&client, database).await?),
        DumpFormat::PgCustom => None,
    };
    drop(client);
    tracing::info!(database, ?format, out = %out.display(), "dumping database");

    let (output, stats) = match format {
        DumpFormat::PgCustom => {
            run_pg_dump(source, &["--format=c"], output.path()).await?;
            (output, archive::Stats::default())
        }
        DumpFormat::Zip => {
            let sql = temporary_next_to(database, out, "sql.part")?;
            run_pg_dump(source, &[], sql.path()).await?;
            let manifest_json = manifest
                .as_ref()
                .expect("zip dumps have a manifest")
                .to_json();
            let job = archive::Job {
                database: database.to_string(),
                output,
                sql,
                manifest_json,
                filestore: source.filestore.map(Path::to_path_buf),
            };
            tokio::task::spawn_blocking(move || archive::write(job))
                .await
                .map_err(|error| DumpError::Io {
                    database: database.to_string(),
                    action: "writing the zip",
                    path: out.to_path_buf(),
                    source: std::io::Error::other(error.to_string()),
                })??
        }
    };

    let file = output.as_file();
    file.sync_all()
        .map_err(|e| DumpError::io(database, "writing", output.path(), e))?;
    let bytes = file
        .metadata()
        .map_err(|e| DumpError::io(database, "reading", output.path(), e))?
        .len();
    output.persist(out).map_err(|error| {
        // Dropping `error.file` removes the temporary file.
        DumpError::io(database, "renaming the dump to", out, error.error)
    })?;
    if !stats.skipped.is_empty() {
        tracing::warn!(
            database,
            skipped = stats.skipped.len(),
            "filestore entries were left out of the dump (symbolic links or special files)"
        );
    }
    Ok(DumpSummary {
        format,
        path: out.to_path_buf(),
        bytes,
        filestore_files: stats.files,
        filestore_bytes: stats.bytes,
        skipped: stats.skipped,
        manifest,
    })
}

/// A hidden file in `out`'s directory, removed when dropped.
fn temporary_next_to(database: &str, out: &Path, suffix: &str) -> Result<NamedTempFile, DumpError> {
    let refused = |reason: &str| DumpError::OutputNotWritable {
        database: database.to_string(),
        path: out.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
    };
    let name = out
        .file_name()
        .ok_or_else(|| refused("the destination names no file"))?;
    if out.is_dir() {
        return Err(refused("the destination is a directory"));
    }
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(&format!(".{suffix}"))
        .tempfile_in(dir)
        .map_err(|source| {
            if error::is_disk_full(&source) {
                DumpError::DiskFull {
                    database: database.to_string(),
                    path: dir.to_path_buf(),
                }
            } else {
                DumpError::OutputNotWritable {
                    database: database.to_string(),
                    path: dir.to_path_buf(),
                    source,
                }
            }
        })
}

/// The libpq settings tokio_postgres understands, from the environment pg_dump gets.
fn client_config(source: &DumpSource<'_>) -> Result<Config, DumpError> {
    let setting = |key: &str| {
        source
            .connection
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    };
    let mut config = Config::new();
    // libpq's default on Debian when PGHOST is not set.
    config.host(setting("PGHOST").unwrap_or("/var/run/postgresql"));
    if let Some(port) = setting("PGPORT") {
        let port = port.parse().map_err(|_| DumpError::Connect {
            database: source.database.to_string(),
            reason: format!("PGPORT '{port}' is not a port number"),
        })?;
        config.port(port);
    }
    let user = setting("PGUSER").ok_or_else(|| DumpError::Connect {
        database: source.database.to_string(),
        reason: "no PGUSER among the connection settings".to_string(),
    })?;
    config
        .user(user)
        .dbname(source.database)
        .connect_timeout(CONNECT_TIMEOUT)
        .application_name("slipway-dump");
    if let Some(password) = setting("PGPASSWORD") {
        config.password(password);
    }
    Ok(config)
}

async fn connect(source: &DumpSource<'_>) -> Result<Client, DumpError> {
    let config = client_config(source)?;
    match config.connect(NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "PostgreSQL connection closed with an error");
                }
            });
            Ok(client)
        }
        Err(error) if error.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
            Err(DumpError::DatabaseGone {
                database: source.database.to_string(),
            })
        }
        Err(error) => Err(DumpError::Connect {
            database: source.database.to_string(),
            reason: error::sql_message(&error),
        }),
    }
}

/// pg_dump into `file`; a database dropped meanwhile is [`DumpError::DatabaseGone`].
async fn run_pg_dump(
    source: &DumpSource<'_>,
    extra: &[&str],
    file: &Path,
) -> Result<(), DumpError> {
    match pg_dump::run(source, extra, file).await {
        Err(DumpError::PgDump { .. }) if is_gone(source).await => Err(DumpError::DatabaseGone {
            database: source.database.to_string(),
        }),
        other => other,
    }
}

async fn is_gone(source: &DumpSource<'_>) -> bool {
    matches!(connect(source).await, Err(DumpError::DatabaseGone { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(connection: &[(&str, &str)]) -> DumpSource<'static> {
        DumpSource {
            pg_dump: Path::new("/usr/bin/pg_dump"),
            connection: connection
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            database: "build_1",
            filestore: None,
        }
    }

    #[test]
    fn the_client_connects_where_pg_dump_does() {
        let config = client_config(&source(&[
            ("PGHOST", "/srv/slipway/postgres/run"),
            ("PGPORT", "5433"),
            ("PGUSER", "slipway"),
            ("PGPASSWORD", "s3cret"),
        ]))
        .unwrap();
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Unix(
                "/srv/slipway/postgres/run".into()
            )]
        );
        assert_eq!(config.get_ports(), [5433]);
        assert_eq!(config.get_user(), Some("slipway"));
        assert_eq!(config.get_dbname(), Some("build_1"));
        assert_eq!(config.get_password(), Some(&b"s3cret"[..]));

        let tcp = client_config(&source(&[("PGHOST", "db.example"), ("PGUSER", "u")])).unwrap();
        assert_eq!(
            tcp.get_hosts(),
            [tokio_postgres::config::Host::Tcp("db.example".into())]
        );
        assert!(matches!(
            client_config(&source(&[("PGHOST", "db.example")])),
            Err(DumpError::Connect { .. })
        ));
        assert!(matches!(
            client_config(&source(&[("PGUSER", "u"), ("PGPORT", "x")])),
            Err(DumpError::Connect { .. })
        ));
    }

    #[test]
    fn the_password_is_not_shown() {
        let shown = format!(
            "{:?}",
            source(&[("PGUSER", "slipway"), ("PGPASSWORD", "s3cret")])
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("slipway"), "{shown}");
    }

    #[test]
    fn temporary_files_are_hidden_next_to_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("build.zip");
        let temp = temporary_next_to("db", &out, "part").unwrap();
        assert_eq!(temp.path().parent(), Some(dir.path()));
        let name = temp.path().file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".build.zip.") && name.ends_with(".part"),
            "{name}"
        );
        drop(temp);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(matches!(
            temporary_next_to("db", Path::new("/"), "part"),
            Err(DumpError::OutputNotWritable { .. })
        ));
    }
}
