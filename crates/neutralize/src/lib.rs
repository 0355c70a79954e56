//! Neutralization: making a copy of an Odoo production database safe to run.
//!
//! A copy of production starts with production's connectors armed: the first
//! scheduled action that runs would send real emails, fetch (and delete) real
//! incoming mail, charge cards, book shipments, spend IAP credits, pull bank
//! statements and call webhooks, all in production's name. Staging builds and
//! test instances run on such copies, so every copy goes through [`neutralize`]
//! before Odoo starts on it.
//!
//! From 16.0 on, the build engine first runs Odoo's own `odoo neutralize`
//! (the `data/neutralize.sql` files of the installed modules). This crate is
//! slipway's own pass, run on every version (14.0 … 19.0) afterwards, in SQL,
//! in **one transaction**: either every step is applied or none is. Each step
//! runs only if its table and the columns it uses exist (modules may not be
//! installed; columns differ between versions) and writes one line to the
//! neutralize log, also when it is skipped.
//!
//! The steps, in the order they run and with why each exists, are the table
//! in `steps.rs`: mail (outgoing servers, pins to them, incoming servers),
//! scheduled actions, payment providers, shipping connectors, IAP accounts,
//! bank synchronisation, webhooks, calendar tokens, browser push, the keys
//! that let the copy act in production's name, the database's UUID, Odoo's
//! "neutralized" banner and flag.
//!
//! Production databases are named in a [`Guard`]; [`neutralize`] refuses them
//! before touching anything.

mod coded;
mod error;
mod guard;
mod run;
mod steps;

use std::fmt;
use std::io::Write;

use tokio_postgres::Client;

pub use error::NeutralizeError;
pub use guard::Guard;

use run::Run;

/// The `ir_config_parameter` key Odoo 16+ reads to show its "neutralized" banner.
pub const NEUTRALIZED_KEY: &str = "database.is_neutralized";

/// Where slipway remembers the `database.uuid` it gave the copy, so that running
/// the neutralization again keeps it.
pub const RENEWED_UUID_KEY: &str = "slipway.neutralized_uuid";

/// A lock held by a running Odoo on the copy makes a step wait at most this long.
const LOCK_TIMEOUT: &str = "60s";

/// One line of the neutralize log: what a step did (or why it was skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The table (or configuration key) the step works on, e.g. `ir_mail_server`.
    pub name: &'static str,
    /// What was done, readable by a person.
    pub detail: String,
    /// Rows changed (updated, inserted or deleted).
    pub rows: u64,
    /// The step did not apply: its table or a column it needs is absent.
    pub skipped: bool,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.detail)
    }
}

/// Neutralizes `database`, the database `client` is connected to (as a
/// superuser), in one transaction, and returns what each step did; every step
/// also writes one line to `log`.
///
/// Refuses, before touching anything, a database `guard` protects (whether
/// named by `database` or by the connection) and a connection to another
/// database than `database`. `client` must not be inside a transaction.
/// Running it again on a neutralized database changes nothing.
pub async fn neutralize(
    client: &Client,
    database: &str,
    guard: &Guard,
    log: &mut (dyn Write + Send + Sync),
) -> Result<Vec<Step>, NeutralizeError> {
    guard.admit(client, database).await?;

    writeln!(log, "neutralizing database '{database}'").map_err(NeutralizeError::Log)?;
    if let Err(source) = client
        .batch_execute(&format!("BEGIN; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .await
    {
        // BEGIN may have passed and SET failed, leaving an aborted transaction.
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(NeutralizeError::step(database, "begin", source));
    }
    let mut run = Run {
        client,
        database,
        log: &mut *log,
        steps: Vec::new(),
    };
    let outcome = match run.all().await {
        Ok(()) => client
            .batch_execute("COMMIT")
            .await
            .map_err(|source| NeutralizeError::step(database, "commit", source)),
        Err(error) => Err(error),
    };
    let steps = run.steps;
    match outcome {
        Ok(()) => {
            let skipped = steps.iter().filter(|step| step.skipped).count();
            // Committed: a log that cannot take its last line changes nothing.
            if let Err(error) = writeln!(
                log,
                "database '{database}' neutralized: {} steps applied, {skipped} skipped",
                steps.len() - skipped
            )
            .and_then(|()| log.flush())
            {
                tracing::warn!(database, %error, "writing the end of the neutralize log");
            }
            tracing::info!(
                database,
                applied = steps.len() - skipped,
                skipped,
                "database neutralized"
            );
            Ok(steps)
        }
        Err(error) => {
            // A failed ROLLBACK means a dead connection, whose transaction the
            // server aborts anyway.
            let _ = client.batch_execute("ROLLBACK").await;
            let _ = writeln!(
                log,
                "neutralization failed, rolled back, nothing was changed: {error}"
            );
            let _ = log.flush();
            tracing::warn!(database, %error, "neutralization rolled back");
            Err(error)
        }
    }
}

/// Whether the database `client` is connected to carries Odoo's neutralized flag
/// (`database.is_neutralized`, true the way Odoo reads booleans).
pub async fn is_neutralized(client: &Client) -> Result<bool, NeutralizeError> {
    let table: Option<String> = client
        .query_one("SELECT to_regclass('ir_config_parameter')::text", &[])
        .await?
        .get(0);
    if table.is_none() {
        return Ok(false);
    }
    let rows = client
        .query(
            "SELECT value::text FROM ir_config_parameter WHERE key::text = $1::text",
            &[&NEUTRALIZED_KEY],
        )
        .await?;
    Ok(rows.iter().any(|row| {
        let value: Option<String> = row.get(0);
        value.is_some_and(|value| {
            matches!(
                value.trim().to_ascii_lowercase().as_str(),
                "true" | "t" | "1" | "yes" | "y" | "on"
            )
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build engine runs it in spawned tasks.
    #[allow(dead_code)]
    fn neutralizing_is_a_send_future(
        client: &Client,
        guard: &Guard,
        log: &mut (dyn Write + Send + Sync),
    ) {
        fn send<T: Send>(_: T) {}
        send(neutralize(client, "copy", guard, log));
        send(is_neutralized(client));
    }

    #[test]
    fn a_step_reads_as_one_log_line() {
        let step = Step {
            name: "fetchmail_server",
            detail: "table absent, skipped".to_string(),
            rows: 0,
            skipped: true,
        };
        assert_eq!(step.to_string(), "fetchmail_server: table absent, skipped");
    }
}
