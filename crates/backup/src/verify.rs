//! Verification: a backup's files against its manifest, then a restore into a
//! scratch database whose modules and row counts must be the manifest's.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::time::Instant;

use sha1::Sha1;
use slipway_postgres::Cluster;

use crate::create::{count_rows, hash_reader, sha256_of};
use crate::store::Backup;
use crate::{tools, BackupError};

/// What verification found; the backup is good when `problems` is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub problems: Vec<String>,
    pub seconds: f64,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The backup's files against its manifest: the database file's SHA-256,
/// every filestore file's SHA-1. Each difference is a problem, in words.
pub async fn check_files(backup: &Backup) -> Result<Vec<String>, BackupError> {
    let backup = backup.clone();
    tokio::task::spawn_blocking(move || check_files_blocking(&backup))
        .await
        .map_err(|error| BackupError::io("checking", "the backup", std::io::Error::other(error)))?
}

fn check_files_blocking(backup: &Backup) -> Result<Vec<String>, BackupError> {
    let mut problems = vec![];
    let manifest = &backup.manifest;
    let dump = backup.database_file();
    match sha256_of(&dump) {
        Ok((bytes, sha)) if bytes == manifest.database.bytes && sha == manifest.database.sha256 => {
        }
        Ok(_) => problems.push(format!(
            "{} does not match its checksum (damaged)",
            manifest.database.file
        )),
        Err(BackupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!("{} is missing", manifest.database.file))
        }
        Err(error) => return Err(error),
    }
    let filestore = backup.filestore();
    for (relative, expected) in &manifest.filestore.checksums {
        let path = filestore.join(relative);
        match File::open(&path) {
            Ok(mut file) => {
                let (sha, _) = hash_reader::<Sha1>(&mut file)
                    .map_err(|e| BackupError::io("reading", &path, e))?;
                if &sha != expected {
                    problems.push(format!(
                        "filestore file {relative} does not match its checksum (damaged)"
                    ));
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("filestore file {relative} is missing"))
            }
            Err(error) => return Err(BackupError::io("reading", path, error)),
        }
    }
    Ok(problems)
}

/// Checks the files, then restores the database into `scratch` (created and
/// always dropped here) and compares it with the manifest. An error is a
/// failure to verify (the cluster is down…), not a verdict on the backup.
pub async fn verify(
    backup: &Backup,
    cluster: &Cluster,
    pg_restore: &Path,
    scratch: &str,
) -> Result<Verified, BackupError> {
    let started = Instant::now();
    let mut problems = check_files(backup).await?;
    if problems.is_empty() {
        let restored = restore_and_compare(backup, cluster, pg_restore, scratch).await;
        let dropped = drop_scratch(cluster, scratch).await;
        match restored {
            Ok(mut found) => problems.append(&mut found),
            Err(BackupError::Program { output, .. }) => {
                problems.push(format!("pg_restore failed: {output}"))
            }
            Err(error) => return Err(error),
        }
        dropped?;
    }
    Ok(Verified {
        problems,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn restore_and_compare(
    backup: &Backup,
    cluster: &Cluster,
    pg_restore: &Path,
    scratch: &str,
) -> Result<Vec<String>, BackupError> {
    let password = create_scratch(cluster, scratch).await?;
    pg_restore_into(cluster, pg_restore, backup, scratch, (scratch, &password)).await?;
    let client = cluster
        .connect(scratch)
        .await
        .map_err(BackupError::database(scratch))?;
    let manifest = &backup.manifest;
    let mut problems = vec![];
    let modules: BTreeMap<String, Option<String>> = client
        .query(
            "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'",
            &[],
        )
        .await
        .map_err(BackupError::sql(scratch))?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected: BTreeMap<String, Option<String>> = manifest
        .modules
        .iter()
        .map(|(name, state)| (name.clone(), state.version.clone()))
        .collect();
    if modules != expected {
        let missing: Vec<&String> = expected
            .keys()
            .filter(|m| !modules.contains_key(*m))
            .collect();
        let extra: Vec<&String> = modules
            .keys()
            .filter(|m| !expected.contains_key(*m))
            .collect();
        problems.push(format!(
            "the restored modules differ from the manifest (missing: {missing:?}, not in the manifest: {extra:?}, or other versions)"
        ));
    }
    let rows = count_rows(&client, scratch).await?;
    for (table, count) in &manifest.rows {
        match rows.get(table) {
            Some(found) if found == count => {}
            Some(found) => problems.push(format!(
                "table {table} has {found} rows restored, the manifest says {count}"
            )),
            None => problems.push(format!(
                "table {table} is missing from the restored database"
            )),
        }
    }
    Ok(problems)
}

/// An empty database owned by a login role of the same name, made afresh
/// (what an interrupted run left is dropped first); the role's password.
pub(crate) async fn create_scratch(cluster: &Cluster, name: &str) -> Result<String, BackupError> {
    drop_scratch(cluster, name).await?;
    let password = slipway_postgres::random_secret(18);
    let made = async {
        cluster.create_role(name, &password).await?;
        cluster.create_database(name, name).await
    };
    made.await.map_err(BackupError::database(name))?;
    Ok(password)
}

/// Drops a scratch database and its role (missing is fine).
pub(crate) async fn drop_scratch(cluster: &Cluster, name: &str) -> Result<(), BackupError> {
    let dropped = async {
        cluster.drop_database(name).await?;
        cluster.drop_role(name).await
    };
    dropped.await.map_err(BackupError::database(name))
}

/// pg_restore of the backup's database into the existing empty `database`,
/// in one transaction (an error leaves it empty), as `login` (user,
/// password): the owner of the database, who then owns what is restored.
pub(crate) async fn pg_restore_into(
    cluster: &Cluster,
    pg_restore: &Path,
    backup: &Backup,
    database: &str,
    login: (&str, &str),
) -> Result<(), BackupError> {
    slipway_postgres::validate_identifier(database).map_err(BackupError::database(database))?;
    let dbname = OsString::from(format!("--dbname={database}"));
    let file = backup.database_file();
    tools::run(
        pg_restore,
        "pg_restore",
        database,
        &tools::Connection::Login(cluster, login.0, login.1),
        &[
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            "--exit-on-error".as_ref(),
            "--single-transaction".as_ref(),
            dbname.as_os_str(),
            file.as_os_str(),
        ],
        Path::new("PostgreSQL's data directory"),
    )
    .await
}
