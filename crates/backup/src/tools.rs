//! PostgreSQL's client programs, as slipway runs them: the administrative
//! login's libpq environment and nothing else of slipway's, the database name
//! in `PGDATABASE` (never read as a connection string), killed if dropped.

use std::path::Path;
use std::process::Stdio;

use slipway_postgres::Cluster;

use crate::BackupError;

/// At most this much of a program's messages goes into an error (its end,
/// where the reason is).
const MAX_OUTPUT: usize = 2000;

/// Where a program connects.
pub(crate) enum Connection<'a> {
    /// As the cluster's administrative login.
    Admin(&'a Cluster),
    /// As `user` with `password`. What comes from a backup or an upload is
    /// loaded as an unprivileged login, never as the administrator: SQL in
    /// it could otherwise `RESET ROLE` and act as superuser.
    Login(&'a Cluster, &'a str, &'a str),
    /// Nowhere: it only reads and writes files.
    Offline,
}

/// Runs `program` on `database` with `args`; how it ended and what it said
/// on stderr.
pub(crate) async fn capture(
    program: &Path,
    database: &str,
    connection: &Connection<'_>,
    args: &[&std::ffi::OsStr],
) -> Result<(std::process::ExitStatus, String), BackupError> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let cluster = match connection {
        Connection::Admin(cluster) | Connection::Login(cluster, _, _) => Some(cluster),
        Connection::Offline => None,
    };
    if let Some(cluster) = cluster {
        command
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGAPPNAME", "slipway-backup")
            .envs(cluster.libpq_env())
            .env("PGDATABASE", database);
    }
    if let Connection::Login(_, user, password) = connection {
        command.env("PGUSER", user).env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .await
        .map_err(|source| BackupError::ProgramMissing {
            program: program.to_path_buf(),
            source,
        })?;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    ))
}

/// [`capture`], which must succeed; a full disk is said to be where the
/// program wrote (`writes_to`).
pub(crate) async fn run(
    program: &Path,
    name: &'static str,
    database: &str,
    connection: &Connection<'_>,
    args: &[&std::ffi::OsStr],
    writes_to: &Path,
) -> Result<(), BackupError> {
    let (status, text) = capture(program, database, connection, args).await?;
    if status.success() {
        return Ok(());
    }
    Err(failure(
        name,
        database,
        writes_to,
        &status.to_string(),
        text,
    ))
}

fn failure(
    program: &'static str,
    database: &str,
    writes_to: &Path,
    status: &str,
    text: String,
) -> BackupError {
    if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
        return BackupError::DiskFull {
            path: writes_to.to_path_buf(),
        };
    }
    let output = match text.char_indices().rev().nth(MAX_OUTPUT) {
        Some((start, _)) => format!("...{}", &text[start..]),
        None => text,
    };
    BackupError::Program {
        program,
        database: database.to_string(),
        status: status.to_string(),
        output,
    }
}
