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

/// Runs `program` (`pg_dump`, `pg_restore`, `psql`) on `database` with `args`,
/// as the administrative login or as `login` (user, password). What comes from
/// a backup or an upload is loaded as an unprivileged login, never as the
/// administrator: SQL in it could otherwise `RESET ROLE` and act as superuser.
pub(crate) async fn run(
    cluster: &Cluster,
    program: &Path,
    name: &'static str,
    database: &str,
    login: Option<(&str, &str)>,
    args: &[&std::ffi::OsStr],
    writes_to: &Path,
) -> Result<(), BackupError> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGAPPNAME", "slipway-backup")
        .envs(cluster.libpq_env())
        .env("PGDATABASE", database)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some((user, password)) = login {
        command.env("PGUSER", user).env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .await
        .map_err(|source| BackupError::ProgramMissing {
            program: program.to_path_buf(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(failure(
        name,
        database,
        writes_to,
        &output.status.to_string(),
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
