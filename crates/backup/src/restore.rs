//! Restoring a backup into a new database of a build: refused when the backup
//! is damaged or of another Odoo series, before anything is created.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use slipway_postgres::Cluster;

use crate::store::Backup;
use crate::verify::{check_files, pg_restore_into};
use crate::BackupError;

/// Where a backup goes.
pub struct RestoreTarget<'a> {
    pub cluster: &'a Cluster,
    pub pg_restore: &'a Path,
    /// Created here, owned by `role` (which exists, with `password`): the
    /// backup is loaded as that role, never as the administrator.
    pub database: &'a str,
    pub role: &'a str,
    pub password: &'a str,
    /// The filestore's directory (`<data>/filestore/<database>`), created here.
    pub filestore: PathBuf,
    /// The project's Odoo series: a backup of another one is refused.
    pub series: &'a str,
}

/// Checks the backup, creates the database and restores it (objects owned by
/// the role, in one transaction), then copies the filestore. Copied, not
/// linked: a build must never be able to write into a backup. On error the
/// database and the filestore are the caller's to drop (they are recorded as
/// the build's).
pub async fn restore(backup: &Backup, target: &RestoreTarget<'_>) -> Result<(), BackupError> {
    let id = &backup.manifest.id;
    refuse_other_series(backup, target.series)?;
    let problems = check_files(backup).await?;
    if !problems.is_empty() {
        return Err(BackupError::Damaged {
            id: id.clone(),
            problems,
        });
    }
    target
        .cluster
        .create_database(target.database, target.role)
        .await
        .map_err(BackupError::database(target.database))?;
    pg_restore_into(
        target.cluster,
        target.pg_restore,
        backup,
        target.database,
        (target.role, target.password),
    )
    .await?;
    let from = backup.filestore();
    let to = target.filestore.clone();
    tokio::task::spawn_blocking(move || copy_tree(&from, &to))
        .await
        .map_err(|error| {
            BackupError::io(
                "copying the filestore",
                &target.filestore,
                io::Error::other(error),
            )
        })??;
    Ok(())
}

/// A backup of another series cannot be loaded by this project's Odoo.
pub fn refuse_other_series(backup: &Backup, series: &str) -> Result<(), BackupError> {
    if backup.manifest.series != series {
        return Err(BackupError::OtherSeries {
            id: backup.manifest.id.clone(),
            backup_series: backup.manifest.series.clone(),
            series: series.to_string(),
        });
    }
    Ok(())
}

/// Copies the regular files under `from` to `to` (readable by Odoo's account:
/// pool files are read-only for slipway).
fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    fs::create_dir_all(to).map_err(|e| BackupError::io("creating", to, e))?;
    let entries = match fs::read_dir(from) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(BackupError::io("reading", from, error)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| BackupError::io("reading", from, e))?;
        let (source, destination) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| BackupError::io("reading", &source, e))?;
        if kind.is_dir() {
            copy_tree(&source, &destination)?;
        } else if kind.is_file() {
            fs::copy(&source, &destination)
                .map_err(|e| BackupError::io("copying to", &destination, e))?;
            fs::set_permissions(&destination, fs::Permissions::from_mode(0o644))
                .map_err(|e| BackupError::io("chmod", &destination, e))?;
        }
    }
    Ok(())
}
