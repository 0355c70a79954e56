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
//! The steps, and why each exists:
//!
//! - `ir_mail_server`: every outgoing mail server is deactivated, so that Odoo
//!   falls back to the SMTP server of its configuration file (slipway's mail
//!   catcher). This includes the dummy server Odoo's own neutralization inserts
//!   in recent versions, which would otherwise swallow every email.
//! - `mail_template`, `mail_mail`, `mailing_mailing`: a record pinned to a mail
//!   server is sent through it even when that server is archived (Odoo browses
//!   it by id), so those pins are cleared (Odoo 16+ does it for templates).
//! - `fetchmail_server`: incoming mail servers are deactivated, so that the copy
//!   does not fetch, and mark read or delete, production's incoming mail.
//! - `ir_cron`: every scheduled action is deactivated except Odoo's own
//!   housekeeping, `base.autovacuum_job`, as Odoo's neutralization does.
//! - `payment_provider` (16+), `payment_acquirer` (14.0, 15.0): providers that
//!   are enabled (live) are disabled; those in test mode stay in test mode, as
//!   in Odoo's `payment/data/neutralize.sql`.
//! - `delivery_carrier`: shipping connectors use their test environment
//!   (`prod_environment = false`), as in Odoo's `delivery/data/neutralize.sql`.
//! - `iap_account`: IAP tokens get the `+disabled` suffix Odoo's
//!   `iap/data/neutralize.sql` gives them, so that no credit is spent.
//! - `account_online_link` (enterprise bank synchronisation): links get the
//!   `duplicate` client id (and lose their provider data) as in enterprise's
//!   neutralization, and automatic synchronisation is switched off.
//! - `ir_act_server`: server actions that call a webhook (17+) point nowhere,
//!   as in Odoo's `base/data/neutralize.sql`.
//! - `res_users_settings`, `res_users`, `google_calendar_credentials`,
//!   `microsoft_calendar_credentials`: Google and Microsoft calendar tokens are
//!   removed and synchronisation stopped (opening the calendar would otherwise
//!   push the copy's events into real calendars), as Odoo 16+ does.
//! - `mail_notification_web_push`, `mail_partner_device`, `mail_push`,
//!   `mail_push_device`: browser push subscriptions of production's users and
//!   pending pushes are deleted (Odoo 17+ does it), and `ir_config_parameter`
//!   loses the keys that let the copy push or call in production's name (web
//!   push VAPID keys, Odoo's mobile push (OCN) registration, the SFU key).
//! - `database.uuid`: renewed, as Odoo's own database duplication does, so that
//!   the copy does not identify itself to Odoo's services as production.
//! - `ir_ui_view`: the "neutralized" banner and ribbon views (16+) are shown.
//! - `database.is_neutralized`: set to `true`, the flag Odoo 16+ reads to show
//!   its banner and that [`is_neutralized`] checks.
//!
//! Production databases are named in a [`Guard`]; [`neutralize`] refuses them
//! before touching anything.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io::Write;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

/// The `ir_config_parameter` key Odoo 16+ reads to show its "neutralized" banner.
pub const NEUTRALIZED_KEY: &str = "database.is_neutralized";

/// Where slipway remembers the `database.uuid` it gave the copy, so that running
/// the neutralization again keeps it.
pub const RENEWED_UUID_KEY: &str = "slipway.neutralized_uuid";

/// What Odoo's own neutralization writes into the URL of webhook server actions.
const DISABLED_WEBHOOK: &str = "neutralization - disable webhook";

/// Configuration keys that let a copy act in production's name: web push
/// (`mail/data/neutralize.sql`, 17+), Odoo's mobile push service (OCN), the key
/// of Odoo's call server (SFU).
const OUTSIDE_KEYS: &[&str] = &[
    "mail.web_push_vapid_private_key",
    "mail.web_push_vapid_public_key",
    "odoo_ocn.project_id",
    "ocn.uuid",
    "mail.sfu_server_key",
];

/// Views that show the copy is neutralized (`web` and `website`, 16+).
const BANNER_VIEWS: &[&str] = &["web.neutralize_banner", "website.neutralize_ribbon"];

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

/// The names of the databases that must never be neutralized: production's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    production: BTreeSet<String>,
}

impl Guard {
    /// A guard over these production databases.
    pub fn new<I, S>(production: I) -> Guard
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Guard {
            production: production.into_iter().map(Into::into).collect(),
        }
    }

    /// Adds a production database.
    pub fn protect(&mut self, database: impl Into<String>) {
        self.production.insert(database.into());
    }

    /// Whether `database` is a production database (names are compared
    /// exactly, as PostgreSQL does).
    pub fn protects(&self, database: &str) -> bool {
        self.production.contains(database)
    }
}

impl<S: Into<String>> FromIterator<S> for Guard {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Guard {
        Guard::new(iter)
    }
}

/// Why a database was not neutralized. Whatever the error, the database is
/// left as it was: the whole neutralization is one transaction.
#[derive(Debug, thiserror::Error)]
pub enum NeutralizeError {
    #[error("refusing to neutralize database '{0}': it is a production database")]
    Production(String),

    #[error(
        "refusing to neutralize database '{expected}': the connection is to database '{connected}'"
    )]
    WrongDatabase { expected: String, connected: String },

    #[error(
        "neutralizing database '{database}' failed at step {step}, nothing was changed: {message}"
    )]
    Step {
        database: String,
        step: &'static str,
        /// PostgreSQL's own words (tokio-postgres's error only says "db error").
        message: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("PostgreSQL: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),

    #[error("writing the neutralize log: {0}")]
    Log(#[source] std::io::Error),
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
    if guard.protects(database) {
        return Err(NeutralizeError::Production(database.to_string()));
    }
    let connected: String = client
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    if guard.protects(&connected) {
        return Err(NeutralizeError::Production(connected));
    }
    if connected != database {
        return Err(NeutralizeError::WrongDatabase {
            expected: database.to_string(),
            connected,
        });
    }

    writeln!(log, "neutralizing database '{database}'").map_err(NeutralizeError::Log)?;
    if let Err(source) = client
        .batch_execute(&format!("BEGIN; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .await
    {
        // BEGIN may have passed and SET failed, leaving an aborted transaction.
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(step_error(database, "begin", source));
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
            .map_err(|source| step_error(database, "commit", source)),
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

/// The columns of a table that exists.
struct Columns(HashSet<String>);

impl Columns {
    fn has(&self, column: &str) -> bool {
        self.0.contains(column)
    }
}

/// One neutralization in progress, inside its transaction.
struct Run<'a> {
    client: &'a Client,
    database: &'a str,
    log: &'a mut (dyn Write + Send + Sync),
    steps: Vec<Step>,
}

impl Run<'_> {
    async fn all(&mut self) -> Result<(), NeutralizeError> {
        self.mail_servers().await?;
        self.pinned_mail_server("mail_template", ("email template", "email templates"))
            .await?;
        self.pinned_mail_server("mail_mail", ("email", "emails"))
            .await?;
        self.pinned_mail_server("mailing_mailing", ("mass mailing", "mass mailings"))
            .await?;
        self.fetchmail_servers().await?;
        self.crons().await?;
        self.payment(
            "payment_provider",
            ("payment provider", "payment providers"),
        )
        .await?;
        self.payment(
            "payment_acquirer",
            ("payment acquirer", "payment acquirers"),
        )
        .await?;
        self.delivery_carriers().await?;
        self.iap_accounts().await?;
        self.bank_synchronisation().await?;
        self.webhooks().await?;
        self.calendar_tokens(
            "res_users_settings",
            ("user's settings", "users' settings"),
            &[
                ("google_calendar_rtoken", "NULL"),
                ("google_calendar_token", "NULL"),
                ("google_synchronization_stopped", "true"),
                ("microsoft_calendar_sync_token", "NULL"),
                ("microsoft_synchronization_stopped", "true"),
            ],
        )
        .await?;
        self.calendar_tokens(
            "res_users",
            ("user", "users"),
            &[
                ("google_calendar_rtoken", "NULL"),
                ("google_calendar_token", "NULL"),
                ("google_synchronization_stopped", "true"),
                ("microsoft_calendar_token", "NULL"),
                ("microsoft_calendar_rtoken", "NULL"),
                ("microsoft_calendar_sync_token", "NULL"),
                ("microsoft_synchronization_stopped", "true"),
            ],
        )
        .await?;
        self.calendar_tokens(
            "google_calendar_credentials",
            ("Google calendar credential", "Google calendar credentials"),
            &[
                ("calendar_rtoken", "NULL"),
                ("calendar_token", "NULL"),
                ("synchronization_stopped", "true"),
            ],
        )
        .await?;
        self.calendar_tokens(
            "microsoft_calendar_credentials",
            (
                "Microsoft calendar credential",
                "Microsoft calendar credentials",
            ),
            &[
                ("calendar_sync_token", "NULL"),
                ("synchronization_stopped", "true"),
            ],
        )
        .await?;
        self.delete_all(
            "mail_notification_web_push",
            ("pending browser push", "pending browser pushes"),
        )
        .await?;
        self.delete_all(
            "mail_partner_device",
            ("browser push subscription", "browser push subscriptions"),
        )
        .await?;
        self.delete_all(
            "mail_push",
            ("pending browser push", "pending browser pushes"),
        )
        .await?;
        self.delete_all(
            "mail_push_device",
            ("browser push subscription", "browser push subscriptions"),
        )
        .await?;
        self.outside_keys().await?;
        self.database_uuid().await?;
        self.banner_views().await?;
        self.flag().await?;
        Ok(())
    }

    // --- the steps -------------------------------------------------------------

    async fn mail_servers(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_mail_server";
        if self
            .table(STEP, "ir_mail_server", &["active"])
            .await?
            .is_none()
        {
            return Ok(());
        }
        let rows = self
            .execute(
                STEP,
                "UPDATE ir_mail_server SET active = false WHERE active IS DISTINCT FROM false",
                &[],
            )
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no active outgoing mail server".to_string(),
                _ => format!(
                    "{} deactivated, Odoo sends through the SMTP server of its configuration",
                    count(rows, "outgoing mail server", "outgoing mail servers")
                ),
            },
        )
    }

    async fn pinned_mail_server(
        &mut self,
        step: &'static str,
        (one, many): (&str, &str),
    ) -> Result<(), NeutralizeError> {
        if self.table(step, step, &["mail_server_id"]).await?.is_none() {
            return Ok(());
        }
        let rows = self
            .execute(
                step,
                &format!(
                    "UPDATE {step} SET mail_server_id = NULL WHERE mail_server_id IS NOT NULL"
                ),
                &[],
            )
            .await?;
        self.record(
            step,
            rows,
            match rows {
                0 => format!("no {one} pinned to a mail server"),
                _ => format!(
                    "{} no longer pinned to a production mail server",
                    count(rows, one, many)
                ),
            },
        )
    }

    async fn fetchmail_servers(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "fetchmail_server";
        if self.table(STEP, STEP, &["active"]).await?.is_none() {
            return Ok(());
        }
        let rows = self
            .execute(
                STEP,
                "UPDATE fetchmail_server SET active = false WHERE active IS DISTINCT FROM false",
                &[],
            )
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no active incoming mail server".to_string(),
                _ => format!(
                    "{} deactivated",
                    count(rows, "incoming mail server", "incoming mail servers")
                ),
            },
        )
    }

    async fn crons(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_cron";
        if self.table(STEP, STEP, &["id", "active"]).await?.is_none() {
            return Ok(());
        }
        let xml_ids = self.columns(STEP, "ir_model_data").await?;
        let identifiable = xml_ids.as_ref().is_some_and(|c| {
            ["model", "module", "name", "res_id"]
                .iter()
                .all(|n| c.has(n))
        });
        let (rows, kept) = if identifiable {
            let rows = self
                .execute(
                    STEP,
                    "UPDATE ir_cron c SET active = false \
                      WHERE c.active IS DISTINCT FROM false \
                        AND NOT EXISTS (SELECT 1 FROM ir_model_data d \
                                         WHERE d.model = 'ir.cron' AND d.module = 'base' \
                                           AND d.name = 'autovacuum_job' AND d.res_id = c.id)",
                    &[],
                )
                .await?;
            let autovacuum = self
                .query(
                    STEP,
                    "SELECT c.active FROM ir_cron c JOIN ir_model_data d ON d.res_id = c.id \
                      WHERE d.model = 'ir.cron' AND d.module = 'base' AND d.name = 'autovacuum_job'",
                    &[],
                )
                .await?;
            let kept = match autovacuum.first().map(|row| row.get::<_, Option<bool>>(0)) {
                Some(Some(true)) => "base.autovacuum_job kept active",
                Some(_) => "base.autovacuum_job kept (it is inactive)",
                None => "base.autovacuum_job not found",
            };
            (rows, kept)
        } else {
            let rows = self
                .execute(
                    STEP,
                    "UPDATE ir_cron SET active = false WHERE active IS DISTINCT FROM false",
                    &[],
                )
                .await?;
            (
                rows,
                "base.autovacuum_job cannot be identified (ir_model_data absent)",
            )
        };
        self.record(
            STEP,
            rows,
            format!(
                "{} deactivated, {kept}",
                count(rows, "scheduled action", "scheduled actions")
            ),
        )
    }

    async fn payment(
        &mut self,
        step: &'static str,
        (one, many): (&str, &str),
    ) -> Result<(), NeutralizeError> {
        let Some(columns) = self.table(step, step, &[]).await? else {
            return Ok(());
        };
        if !columns.has("state") && !columns.has("is_live") {
            return self.skip(
                step,
                "columns state and is_live absent, skipped".to_string(),
            );
        }
        let mut rows = 0;
        if columns.has("state") {
            // As Odoo's payment/data/neutralize.sql: live providers are disabled,
            // providers in test mode stay usable.
            rows += self
                .execute(
                    step,
                    &format!(
                        "UPDATE {step} SET state = 'disabled' \
                          WHERE coalesce(state::text, '') NOT IN ('test', 'disabled')"
                    ),
                    &[],
                )
                .await?;
        }
        if columns.has("is_live") {
            rows += self
                .execute(
                    step,
                    &format!(
                        "UPDATE {step} SET is_live = false WHERE is_live IS DISTINCT FROM false"
                    ),
                    &[],
                )
                .await?;
        }
        self.record(
            step,
            rows,
            match rows {
                0 => format!("no enabled {one}"),
                _ => format!(
                    "{} disabled (test mode ones kept)",
                    count(rows, &format!("enabled {one}"), &format!("enabled {many}"))
                ),
            },
        )
    }

    async fn delivery_carriers(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "delivery_carrier";
        if self
            .table(STEP, STEP, &["prod_environment"])
            .await?
            .is_none()
        {
            return Ok(());
        }
        let rows = self
            .execute(
                STEP,
                "UPDATE delivery_carrier SET prod_environment = false \
                  WHERE prod_environment IS DISTINCT FROM false",
                &[],
            )
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no shipping connector in production environment".to_string(),
                _ => format!(
                    "{} switched to the test environment",
                    count(rows, "shipping connector", "shipping connectors")
                ),
            },
        )
    }

    async fn iap_accounts(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "iap_account";
        if self.table(STEP, STEP, &["account_token"]).await?.is_none() {
            return Ok(());
        }
        // As Odoo's iap/data/neutralize.sql; already disabled tokens are left alone.
        let rows = self
            .execute(
                STEP,
                r"UPDATE iap_account
                     SET account_token = regexp_replace(account_token, '(\+.*)?$', '+disabled')
                   WHERE account_token IS NOT NULL AND account_token NOT LIKE '%+disabled'",
                &[],
            )
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no enabled IAP account".to_string(),
                _ => format!(
                    "{} disabled (token suffixed with +disabled)",
                    count(rows, "IAP account", "IAP accounts")
                ),
            },
        )
    }

    async fn bank_synchronisation(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "account_online_link";
        let Some(columns) = self.table(STEP, STEP, &["client_id"]).await? else {
            return Ok(());
        };
        let Some((set, differs)) = assignments(
            &columns,
            &[
                ("client_id", "'duplicate'"),
                ("provider_data", "''"),
                ("auto_sync", "false"),
            ],
        ) else {
            return Ok(());
        };
        let rows = self
            .execute(
                STEP,
                &format!("UPDATE account_online_link SET {set} WHERE {differs}"),
                &[],
            )
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no connected bank synchronisation".to_string(),
                _ => format!(
                    "{} cut off (client id 'duplicate', no automatic synchronisation)",
                    count(
                        rows,
                        "bank synchronisation link",
                        "bank synchronisation links"
                    )
                ),
            },
        )
    }

    async fn webhooks(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_act_server";
        if self
            .table(STEP, STEP, &["state", "webhook_url"])
            .await?
            .is_none()
        {
            return Ok(());
        }
        let rows = self
            .execute(
                STEP,
                "UPDATE ir_act_server SET webhook_url = $1::text \
                  WHERE state = 'webhook' AND webhook_url::text IS DISTINCT FROM $1::text",
                &[&DISABLED_WEBHOOK],
            )
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no webhook server action".to_string(),
                _ => format!(
                    "{} disabled (URL '{DISABLED_WEBHOOK}')",
                    count(rows, "webhook server action", "webhook server actions")
                ),
            },
        )
    }

    async fn calendar_tokens(
        &mut self,
        step: &'static str,
        (one, many): (&str, &str),
        sets: &[(&str, &str)],
    ) -> Result<(), NeutralizeError> {
        let Some(columns) = self.table(step, step, &[]).await? else {
            return Ok(());
        };
        let Some((set, differs)) = assignments(&columns, sets) else {
            return self.skip(
                step,
                "no calendar synchronisation column, skipped".to_string(),
            );
        };
        let rows = self
            .execute(
                step,
                &format!("UPDATE {step} SET {set} WHERE {differs}"),
                &[],
            )
            .await?;
        self.record(
            step,
            rows,
            match rows {
                0 => format!("no calendar synchronisation left in {many}"),
                _ => {
                    format!(
                        "calendar tokens removed and synchronisation stopped for {}",
                        count(rows, one, many)
                    )
                }
            },
        )
    }

    async fn delete_all(
        &mut self,
        step: &'static str,
        (one, many): (&str, &str),
    ) -> Result<(), NeutralizeError> {
        if self.table(step, step, &[]).await?.is_none() {
            return Ok(());
        }
        let rows = self
            .execute(step, &format!("DELETE FROM {step}"), &[])
            .await?;
        self.record(
            step,
            rows,
            match rows {
                0 => format!("no {one}"),
                _ => format!("{} deleted", count(rows, one, many)),
            },
        )
    }

    async fn outside_keys(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_config_parameter";
        if self
            .table(STEP, "ir_config_parameter", &["key"])
            .await?
            .is_none()
        {
            return Ok(());
        }
        let keys: Vec<String> = OUTSIDE_KEYS.iter().map(|key| key.to_string()).collect();
        let deleted = self
            .query(
                STEP,
                "DELETE FROM ir_config_parameter WHERE key::text = ANY($1::text[]) RETURNING key::text",
                &[&keys],
            )
            .await?;
        let mut names: Vec<String> = deleted.iter().filter_map(|row| row.get(0)).collect();
        names.sort();
        names.dedup();
        let rows = deleted.len() as u64;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no push or call key to remove".to_string(),
                _ => format!(
                    "{} removed (the copy cannot push or call in production's name): {}",
                    count(rows, "key", "keys"),
                    names.join(", ")
                ),
            },
        )
    }

    async fn database_uuid(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "database.uuid";
        let Some(columns) = self
            .table(STEP, "ir_config_parameter", &["key", "value"])
            .await?
        else {
            return Ok(());
        };
        let current: Vec<Option<String>> = self
            .query(
                STEP,
                "SELECT value::text FROM ir_config_parameter WHERE key = 'database.uuid'",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if current.is_empty() {
            return self.record(STEP, 0, "absent, nothing to renew".to_string());
        }
        let renewed: Vec<Option<String>> = self
            .query(
                STEP,
                "SELECT value::text FROM ir_config_parameter WHERE key::text = $1::text",
                &[&RENEWED_UUID_KEY],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let [Some(renewed)] = renewed.as_slice() {
            if current
                .iter()
                .all(|value| value.as_deref() == Some(renewed))
            {
                return self.record(
                    STEP,
                    0,
                    "already renewed by an earlier neutralization, kept".to_string(),
                );
            }
        }
        // A random (version 4) UUID with nothing but core PostgreSQL.
        let uuid: String = self
            .query(
                STEP,
                "SELECT overlay(overlay(md5(random()::text || clock_timestamp()::text) \
                        placing '4' from 13) placing '8' from 17)::uuid::text",
                &[],
            )
            .await?
            .first()
            .map(|row| row.get(0))
            .unwrap_or_default();
        let typed = columns.has("type");
        let rows = self
            .execute(
                STEP,
                "UPDATE ir_config_parameter SET value = $1::text WHERE key = 'database.uuid'",
                &[&uuid],
            )
            .await?;
        self.set_param(STEP, typed, RENEWED_UUID_KEY, &uuid).await?;
        self.record(
            STEP,
            rows,
            format!(
                "renewed to {uuid}: the copy does not identify itself to Odoo's services as production"
            ),
        )
    }

    async fn banner_views(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_ui_view";
        if self.table(STEP, STEP, &["key", "active"]).await?.is_none() {
            return Ok(());
        }
        let keys: Vec<String> = BANNER_VIEWS.iter().map(|key| key.to_string()).collect();
        let rows = self
            .execute(
                STEP,
                "UPDATE ir_ui_view SET active = true \
                  WHERE key::text = ANY($1::text[]) AND active IS DISTINCT FROM true",
                &[&keys],
            )
            .await?;
        let present = self
            .query(
                STEP,
                "SELECT 1 FROM ir_ui_view WHERE key::text = ANY($1::text[])",
                &[&keys],
            )
            .await?
            .len();
        self.record(
            STEP,
            rows,
            match (rows, present) {
                (_, 0) => "no neutralization banner view (Odoo before 16.0)".to_string(),
                (0, _) => "neutralization banner already shown".to_string(),
                _ => format!(
                    "{} shown",
                    count(
                        rows,
                        "neutralization banner view",
                        "neutralization banner views"
                    )
                ),
            },
        )
    }

    async fn flag(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = NEUTRALIZED_KEY;
        let Some(columns) = self
            .table(STEP, "ir_config_parameter", &["key", "value"])
            .await?
        else {
            return Ok(());
        };
        let rows = self
            .set_param(STEP, columns.has("type"), NEUTRALIZED_KEY, "true")
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "already true".to_string(),
                _ => "set to true: the database is flagged as neutralized".to_string(),
            },
        )
    }

    // --- helpers ---------------------------------------------------------------

    /// Sets a configuration parameter (whether or not the key is unique in this
    /// database); returns the rows changed.
    async fn set_param(
        &mut self,
        step: &'static str,
        typed: bool,
        key: &str,
        value: &str,
    ) -> Result<u64, NeutralizeError> {
        // Recent Odoo versions type their parameters; Odoo's own SQL uses 'str'.
        let (set_type, type_column, type_value) = if typed {
            (", type = 'str'", ", type", ", 'str'")
        } else {
            ("", "", "")
        };
        let updated = self
            .execute(
                step,
                &format!(
                    "UPDATE ir_config_parameter SET value = $2::text{set_type} \
                      WHERE key::text = $1::text AND value::text IS DISTINCT FROM $2::text"
                ),
                &[&key, &value],
            )
            .await?;
        if updated > 0 {
            return Ok(updated);
        }
        self.execute(
            step,
            &format!(
                "INSERT INTO ir_config_parameter (key, value{type_column}) \
                 SELECT $1::text, $2::text{type_value} \
                  WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key::text = $1::text)"
            ),
            &[&key, &value],
        )
        .await
    }

    /// The columns of `table`, or `None` when there is no such table.
    async fn columns(
        &self,
        step: &'static str,
        table: &str,
    ) -> Result<Option<Columns>, NeutralizeError> {
        let rows = self
            .query(
                step,
                "SELECT c.relkind::text, a.attname::text \
                   FROM pg_class c \
                   LEFT JOIN pg_attribute a \
                          ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                  WHERE c.oid = to_regclass(quote_ident($1)) AND c.relkind IN ('r', 'p')",
                &[&table],
            )
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Columns(
            rows.iter()
                .filter_map(|row| row.get::<_, Option<String>>(1))
                .collect(),
        )))
    }

    /// The columns of `table` if it exists with every column of `needed`;
    /// otherwise records the step as skipped and returns `None`.
    async fn table(
        &mut self,
        step: &'static str,
        table: &str,
        needed: &[&str],
    ) -> Result<Option<Columns>, NeutralizeError> {
        let Some(columns) = self.columns(step, table).await? else {
            let detail = if step == table {
                "table absent, skipped".to_string()
            } else {
                format!("table {table} absent, skipped")
            };
            self.skip(step, detail)?;
            return Ok(None);
        };
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|column| !columns.has(column))
            .collect();
        if !missing.is_empty() {
            let noun = if missing.len() == 1 {
                "column"
            } else {
                "columns"
            };
            self.skip(
                step,
                format!("{noun} {} absent, skipped", missing.join(", ")),
            )?;
            return Ok(None);
        }
        Ok(Some(columns))
    }

    async fn execute(
        &self,
        step: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, NeutralizeError> {
        self.client
            .execute(sql, params)
            .await
            .map_err(|source| self.failed(step, source))
    }

    async fn query(
        &self,
        step: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, NeutralizeError> {
        self.client
            .query(sql, params)
            .await
            .map_err(|source| self.failed(step, source))
    }

    fn failed(&self, step: &'static str, source: tokio_postgres::Error) -> NeutralizeError {
        step_error(self.database, step, source)
    }

    fn record(
        &mut self,
        name: &'static str,
        rows: u64,
        detail: String,
    ) -> Result<(), NeutralizeError> {
        self.push(Step {
            name,
            detail,
            rows,
            skipped: false,
        })
    }

    fn skip(&mut self, name: &'static str, detail: String) -> Result<(), NeutralizeError> {
        self.push(Step {
            name,
            detail,
            rows: 0,
            skipped: true,
        })
    }

    fn push(&mut self, step: Step) -> Result<(), NeutralizeError> {
        tracing::debug!(
            database = self.database,
            step = step.name,
            rows = step.rows,
            "{}",
            step.detail
        );
        writeln!(self.log, "{step}").map_err(NeutralizeError::Log)?;
        self.steps.push(step);
        Ok(())
    }
}

/// `SET` and `WHERE` clauses for the pairs of `sets` whose column exists: the
/// rows where one of those columns differs from its value get them all. `None`
/// when no column exists. Column names and values are constants of this crate.
fn assignments(columns: &Columns, sets: &[(&str, &str)]) -> Option<(String, String)> {
    let present: Vec<&(&str, &str)> = sets
        .iter()
        .filter(|(column, _)| columns.has(column))
        .collect();
    if present.is_empty() {
        return None;
    }
    let set = present
        .iter()
        .map(|(column, value)| format!("{column} = {value}"))
        .collect::<Vec<_>>()
        .join(", ");
    let differs = present
        .iter()
        .map(|(column, value)| format!("{column} IS DISTINCT FROM {value}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    Some((set, differs))
}

fn step_error(
    database: &str,
    step: &'static str,
    source: tokio_postgres::Error,
) -> NeutralizeError {
    let message = pg_message(&source);
    NeutralizeError::Step {
        database: database.to_string(),
        step,
        message,
        source,
    }
}

/// PostgreSQL's own words for an error (tokio-postgres's `Display` only says
/// "db error").
fn pg_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => error.to_string(),
    }
}

fn count(rows: u64, one: &str, many: &str) -> String {
    if rows == 1 {
        format!("1 {one}")
    } else {
        format!("{rows} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_protects_exactly_the_production_names() {
        let mut guard: Guard = ["prod"].into_iter().collect();
        guard.protect("shop");
        assert!(guard.protects("prod"));
        assert!(guard.protects("shop"));
        assert!(!guard.protects("Prod"));
        assert!(!guard.protects("prod_staging"));
    }

    #[test]
    fn assignments_use_only_the_columns_present() {
        let columns = Columns(
            ["client_id", "auto_sync"]
                .iter()
                .map(|c| c.to_string())
                .collect(),
        );
        let (set, differs) = assignments(
            &columns,
            &[
                ("client_id", "'duplicate'"),
                ("provider_data", "''"),
                ("auto_sync", "false"),
            ],
        )
        .unwrap();
        assert_eq!(set, "client_id = 'duplicate', auto_sync = false");
        assert_eq!(
            differs,
            "client_id IS DISTINCT FROM 'duplicate' OR auto_sync IS DISTINCT FROM false"
        );
        assert!(assignments(&columns, &[("provider_data", "''")]).is_none());
    }

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
