//! Importing an Odoo database-manager zip (Odoo Online, an on-premise
//! `/web/database/manager`, an Odoo.sh backup) as a backup of the project:
//! checked and unpacked ([`crate::zip_import`]), its `dump.sql` loaded into a
//! scratch database (which proves it loads), then backed up as any database.
//! Restoring that backup is how an import reaches production, a staging
//! branch or a test instance: one way in for every database.

use std::ffi::OsString;
use std::path::Path;

use slipway_postgres::Cluster;

use crate::create::{create, BackupSource};
use crate::manifest::BackupOrigin;
use crate::retention::BackupKind;
use crate::store::{Backup, ProjectBackups};
use crate::verify::{create_scratch, drop_scratch};
use crate::zip_import::{unpack, UnpackLimits};
use crate::{tools, BackupError};

/// An uploaded zip and what it takes to load it.
pub struct ImportSource<'a> {
    pub cluster: &'a Cluster,
    pub psql: &'a Path,
    pub pg_dump: &'a Path,
    pub zip: &'a Path,
    /// The name the user gave the file (for messages and the manifest).
    pub file_name: &'a str,
    /// The project's Odoo series: a zip of another one is refused.
    pub series: &'a str,
    /// A scratch database name, created and dropped here.
    pub scratch: &'a str,
    pub limits: UnpackLimits,
}

/// Imports `source.zip` as backup `id` (kind import). Nothing is touched
/// before the zip is checked; the scratch database and the unpacked files are
/// removed whatever happens.
pub async fn import(
    backups: &ProjectBackups,
    id: &str,
    source: &ImportSource<'_>,
) -> Result<Backup, BackupError> {
    std::fs::create_dir_all(backups.dir())
        .map_err(|e| BackupError::io("creating", backups.dir(), e))?;
    // Unpacked next to the backups: the same disk, and room is checked there.
    let work = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(backups.dir())
        .map_err(|e| BackupError::io("creating a directory in", backups.dir(), e))?;
    let (zip, into, series, limits) = (
        source.zip.to_path_buf(),
        work.path().to_path_buf(),
        source.series.to_string(),
        source.limits,
    );
    let unpacked = tokio::task::spawn_blocking(move || unpack(&zip, &series, &into, &limits))
        .await
        .map_err(|error| {
            BackupError::io("unpacking", source.zip, std::io::Error::other(error))
        })??;
    tracing::info!(
        zip = source.file_name,
        files = unpacked.files,
        bytes = unpacked.bytes,
        "zip checked and unpacked"
    );

    let loaded = load_and_back_up(backups, id, source, work.path(), &unpacked.sql).await;
    let dropped = drop_scratch(source.cluster, source.scratch).await;
    let backup = loaded?;
    dropped?;
    Ok(backup)
}

async fn load_and_back_up(
    backups: &ProjectBackups,
    id: &str,
    source: &ImportSource<'_>,
    work: &Path,
    sql: &Path,
) -> Result<Backup, BackupError> {
    let scratch = source.scratch;
    let password = create_scratch(source.cluster, scratch).await?;
    load_sql(source, sql, &password).await?;
    let backup_source = BackupSource {
        cluster: source.cluster,
        pg_dump: source.pg_dump,
        database: scratch,
        data_dir: work,
        filestore: Path::new("filestore"),
        origin: BackupOrigin {
            imported_from: Some(source.file_name.to_string()),
            ..BackupOrigin::default()
        },
    };
    create(backups, id, BackupKind::Import, &backup_source).await
}

/// `psql -f dump.sql` as Odoo's own restore runs it, but every error counts
/// except settings this server does not know (a dump of a newer PostgreSQL
/// sets `transaction_timeout`): a dump that does not load whole is refused.
/// Loaded as the scratch database's own unprivileged login: an uploaded
/// dump is anybody's SQL.
async fn load_sql(
    source: &ImportSource<'_>,
    sql: &Path,
    password: &str,
) -> Result<(), BackupError> {
    let mut file = OsString::from("--file=");
    file.push(sql);
    let scratch = source.scratch;
    let (status, text) = tools::capture(
        source.psql,
        scratch,
        &tools::Connection::Login(source.cluster, scratch, password),
        &[
            "--quiet".as_ref(),
            "--no-psqlrc".as_ref(),
            "--set=ON_ERROR_STOP=0".as_ref(),
            file.as_os_str(),
        ],
    )
    .await?;
    let errors: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("ERROR:"))
        .filter(|line| !line.contains("unrecognized configuration parameter"))
        .collect();
    if text.contains("No space left on device") {
        return Err(BackupError::DiskFull {
            path: "PostgreSQL's data directory".into(),
        });
    }
    if !status.success() || !errors.is_empty() {
        let shown: Vec<&str> = errors.iter().take(3).copied().collect();
        return Err(BackupError::Program {
            program: "psql",
            database: scratch.to_string(),
            status: status.to_string(),
            output: format!(
                "the dump.sql of {} does not load into PostgreSQL ({} errors): {}",
                source.file_name,
                errors.len(),
                if shown.is_empty() { text.trim() } else { "" }.to_string() + &shown.join(" | ")
            ),
        });
    }
    Ok(())
}
