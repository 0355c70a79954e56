//! Running pg_dump as Odoo does (`pg_dump --no-owner [--format=c] --file=...`).

use std::path::Path;
use std::process::Stdio;

use crate::{DumpError, DumpSource};

/// At most this much of pg_dump's messages goes into an error (its end, where
/// the reason is).
const MAX_OUTPUT: usize = 2000;

/// pg_dump of `source.database` into `file` (which exists; pg_dump truncates it).
/// Killed if the future is dropped.
pub(crate) async fn run(
    source: &DumpSource<'_>,
    extra: &[&str],
    file: &Path,
) -> Result<(), DumpError> {
    let database = source.database;
    let mut file_arg = std::ffi::OsString::from("--file=");
    file_arg.push(file);
    let mut command = tokio::process::Command::new(source.pg_dump);
    command
        .arg("--no-owner")
        .args(extra)
        .arg(file_arg)
        // Only what libpq needs: no PG* variable of slipway's own environment.
        .env_clear()
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGAPPNAME", "slipway-dump")
        .envs(source.connection.iter().map(|(k, v)| (k, v)))
        // The name as an environment variable is never read as a connection
        // string, unlike a `dbname` argument containing `=`.
        .env("PGDATABASE", database)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = command
        .output()
        .await
        .map_err(|source_error| DumpError::PgDumpMissing {
            database: database.to_string(),
            program: source.pg_dump.to_path_buf(),
            source: source_error,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(failure(database, file, &output.status.to_string(), text))
}

fn failure(database: &str, file: &Path, status: &str, text: String) -> DumpError {
    if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
        return DumpError::DiskFull {
            database: database.to_string(),
            path: file.parent().unwrap_or(file).to_path_buf(),
        };
    }
    let hint = if text.contains("server version mismatch") {
        "; use the pg_dump of the server's major version (SLIPWAY_PG_BINDIR)"
    } else {
        ""
    };
    let output = match text.char_indices().rev().nth(MAX_OUTPUT) {
        Some((start, _)) => format!("...{}", &text[start..]),
        None => text,
    };
    DumpError::PgDump {
        database: database.to_string(),
        status: status.to_string(),
        output,
        hint: hint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_failures_are_classified() {
        let file = Path::new("/srv/dumps/.x.zip.abc.sql.part");
        let full = failure(
            "b1",
            file,
            "exit status: 1",
            "pg_dump: error: could not write to output file: No space left on device".into(),
        );
        assert!(
            matches!(&full, DumpError::DiskFull { path, .. } if path == Path::new("/srv/dumps")),
            "{full:?}"
        );
        let mismatch = failure(
            "b1",
            file,
            "exit status: 1",
            "pg_dump: error: aborting because of server version mismatch".into(),
        )
        .to_string();
        assert!(mismatch.contains("SLIPWAY_PG_BINDIR"), "{mismatch}");
        let long = failure("b1", file, "exit status: 1", "x".repeat(10_000) + "END");
        match long {
            DumpError::PgDump { output, .. } => {
                assert!(output.len() < 2100 && output.ends_with("END"), "{output}")
            }
            other => panic!("{other:?}"),
        }
    }
}
