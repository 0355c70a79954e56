//! The steps of the neutralization, in the order they run, and why each
//! exists. Most are data (a [`Rule`]: a table, the columns it needs, the SQL,
//! what the log says), run by [`Run::apply`](crate::run::Run); the few whose
//! work or log line depends on what they find are code ([`Coded`]).

use crate::coded::Coded;

/// One step of the neutralization.
pub(crate) enum Entry {
    Rule(Rule),
    Code(Coded),
}

/// A step on one table, which also names it in the log. It is skipped (and
/// logged as such) when the table or one of the columns it needs is absent.
pub(crate) struct Rule {
    pub table: &'static str,
    pub needs: &'static [&'static str],
    pub change: Change,
    /// What a changed row is, singular and plural.
    pub noun: (&'static str, &'static str),
    /// The log line when no row changed; `{one}` and `{many}` stand for the noun.
    pub unchanged: &'static str,
    /// The log line when rows changed; `{count}` stands for their number and noun.
    pub changed: &'static str,
}

/// What a [`Rule`] does to its table. In SQL, `{table}` stands for the table.
pub(crate) enum Change {
    /// One statement, with these text parameters.
    Statement(&'static str, &'static [&'static str]),
    /// A statement for each column that exists (column, statement); their rows
    /// add up. Skipped with the message when none of the columns exists.
    EachColumn(&'static [(&'static str, &'static str)], &'static str),
    /// The columns that exist are set to their values (SQL constants) in the
    /// rows where one of them differs. Skipped with the message when none of
    /// the columns exists.
    Assign(&'static [(&'static str, &'static str)], &'static str),
}

/// What Odoo's own neutralization writes into the URL of webhook server actions.
macro_rules! disabled_webhook {
    () => {
        "neutralization - disable webhook"
    };
}

pub(crate) const STEPS: &[Entry] = &[
    // Every outgoing mail server is deactivated, so that Odoo falls back to
    // the SMTP server of its configuration file (slipway's mail catcher). This
    // includes the dummy server Odoo's own neutralization inserts in recent
    // versions, which would otherwise swallow every email.
    Entry::Rule(Rule {
        table: "ir_mail_server",
        needs: &["active"],
        change: Change::Statement(
            "UPDATE {table} SET active = false WHERE active IS DISTINCT FROM false",
            &[],
        ),
        noun: ("outgoing mail server", "outgoing mail servers"),
        unchanged: "no active outgoing mail server",
        changed: "{count} deactivated, Odoo sends through the SMTP server of its configuration",
    }),
    // A record pinned to a mail server is sent through it even when that
    // server is archived (Odoo browses it by id), so those pins are cleared
    // (Odoo 16+ does it for templates).
    unpin("mail_template", ("email template", "email templates")),
    unpin("mail_mail", ("email", "emails")),
    unpin("mailing_mailing", ("mass mailing", "mass mailings")),
    // Incoming mail servers are deactivated, so that the copy does not fetch,
    // and mark read or delete, production's incoming mail.
    Entry::Rule(Rule {
        table: "fetchmail_server",
        needs: &["active"],
        change: Change::Statement(
            "UPDATE {table} SET active = false WHERE active IS DISTINCT FROM false",
            &[],
        ),
        noun: ("incoming mail server", "incoming mail servers"),
        unchanged: "no active incoming mail server",
        changed: "{count} deactivated",
    }),
    // Every scheduled action is deactivated except Odoo's own housekeeping,
    // `base.autovacuum_job`, as Odoo's neutralization does.
    Entry::Code(Coded::Crons),
    // Providers that are enabled (live) are disabled; those in test mode stay
    // in test mode, as in Odoo's `payment/data/neutralize.sql` (16+:
    // `payment_provider`, 14.0 and 15.0: `payment_acquirer`).
    disable_payment(
        "payment_provider",
        ("enabled payment provider", "enabled payment providers"),
    ),
    disable_payment(
        "payment_acquirer",
        ("enabled payment acquirer", "enabled payment acquirers"),
    ),
    // Shipping connectors use their test environment, as in Odoo's
    // `delivery/data/neutralize.sql`.
    Entry::Rule(Rule {
        table: "delivery_carrier",
        needs: &["prod_environment"],
        change: Change::Statement(
            "UPDATE {table} SET prod_environment = false \
              WHERE prod_environment IS DISTINCT FROM false",
            &[],
        ),
        noun: ("shipping connector", "shipping connectors"),
        unchanged: "no shipping connector in production environment",
        changed: "{count} switched to the test environment",
    }),
    // IAP tokens get the `+disabled` suffix Odoo's `iap/data/neutralize.sql`
    // gives them, so that no credit is spent; disabled ones are left alone.
    Entry::Rule(Rule {
        table: "iap_account",
        needs: &["account_token"],
        change: Change::Statement(
            r"UPDATE {table}
                     SET account_token = regexp_replace(account_token, '(\+.*)?$', '+disabled')
                   WHERE account_token IS NOT NULL AND account_token NOT LIKE '%+disabled'",
            &[],
        ),
        noun: ("IAP account", "IAP accounts"),
        unchanged: "no enabled IAP account",
        changed: "{count} disabled (token suffixed with +disabled)",
    }),
    // Enterprise bank synchronisation: links get the `duplicate` client id
    // (and lose their provider data) as in enterprise's neutralization, and
    // automatic synchronisation is switched off.
    Entry::Rule(Rule {
        table: "account_online_link",
        needs: &["client_id"],
        change: Change::Assign(
            &[
                ("client_id", "'duplicate'"),
                ("provider_data", "''"),
                ("auto_sync", "false"),
            ],
            // Not reached: client_id is needed.
            "no bank synchronisation column, skipped",
        ),
        noun: ("bank synchronisation link", "bank synchronisation links"),
        unchanged: "no connected bank synchronisation",
        changed: "{count} cut off (client id 'duplicate', no automatic synchronisation)",
    }),
    // Server actions that call a webhook (17+) point nowhere, as in Odoo's
    // `base/data/neutralize.sql`.
    Entry::Rule(Rule {
        table: "ir_act_server",
        needs: &["state", "webhook_url"],
        change: Change::Statement(
            "UPDATE {table} SET webhook_url = $1::text \
              WHERE state = 'webhook' AND webhook_url::text IS DISTINCT FROM $1::text",
            &[disabled_webhook!()],
        ),
        noun: ("webhook server action", "webhook server actions"),
        unchanged: "no webhook server action",
        changed: concat!("{count} disabled (URL '", disabled_webhook!(), "')"),
    }),
    // Google and Microsoft calendar tokens are removed and synchronisation
    // stopped (opening the calendar would otherwise push the copy's events
    // into real calendars), as Odoo 16+ does.
    stop_calendars(
        "res_users_settings",
        ("user's settings", "users' settings"),
        &[
            ("google_calendar_rtoken", "NULL"),
            ("google_calendar_token", "NULL"),
            ("google_synchronization_stopped", "true"),
            ("microsoft_calendar_sync_token", "NULL"),
            ("microsoft_synchronization_stopped", "true"),
        ],
    ),
    stop_calendars(
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
    ),
    stop_calendars(
        "google_calendar_credentials",
        ("Google calendar credential", "Google calendar credentials"),
        &[
            ("calendar_rtoken", "NULL"),
            ("calendar_token", "NULL"),
            ("synchronization_stopped", "true"),
        ],
    ),
    stop_calendars(
        "microsoft_calendar_credentials",
        (
            "Microsoft calendar credential",
            "Microsoft calendar credentials",
        ),
        &[
            ("calendar_sync_token", "NULL"),
            ("synchronization_stopped", "true"),
        ],
    ),
    // Browser push subscriptions of production's users and pending pushes are
    // deleted (Odoo 17+ does it).
    delete_all(
        "mail_notification_web_push",
        ("pending browser push", "pending browser pushes"),
    ),
    delete_all(
        "mail_partner_device",
        ("browser push subscription", "browser push subscriptions"),
    ),
    delete_all(
        "mail_push",
        ("pending browser push", "pending browser pushes"),
    ),
    delete_all(
        "mail_push_device",
        ("browser push subscription", "browser push subscriptions"),
    ),
    // The configuration keys that let the copy push or call in production's
    // name are removed.
    Entry::Code(Coded::OutsideKeys),
    // Renewed, as Odoo's own database duplication does, so that the copy does
    // not identify itself to Odoo's services as production.
    Entry::Code(Coded::DatabaseUuid),
    // The "neutralized" banner and ribbon views (16+) are shown.
    Entry::Code(Coded::BannerViews),
    // `database.is_neutralized` is set, the flag Odoo 16+ reads to show its
    // banner and that `is_neutralized` checks.
    Entry::Code(Coded::Flag),
];

const fn unpin(table: &'static str, noun: (&'static str, &'static str)) -> Entry {
    Entry::Rule(Rule {
        table,
        needs: &["mail_server_id"],
        change: Change::Statement(
            "UPDATE {table} SET mail_server_id = NULL WHERE mail_server_id IS NOT NULL",
            &[],
        ),
        noun,
        unchanged: "no {one} pinned to a mail server",
        changed: "{count} no longer pinned to a production mail server",
    })
}

const fn disable_payment(table: &'static str, noun: (&'static str, &'static str)) -> Entry {
    Entry::Rule(Rule {
        table,
        needs: &[],
        change: Change::EachColumn(
            &[
                (
                    "state",
                    "UPDATE {table} SET state = 'disabled' \
                      WHERE coalesce(state::text, '') NOT IN ('test', 'disabled')",
                ),
                (
                    "is_live",
                    "UPDATE {table} SET is_live = false WHERE is_live IS DISTINCT FROM false",
                ),
            ],
            "columns state and is_live absent, skipped",
        ),
        noun,
        unchanged: "no {one}",
        changed: "{count} disabled (test mode ones kept)",
    })
}

const fn stop_calendars(
    table: &'static str,
    noun: (&'static str, &'static str),
    values: &'static [(&'static str, &'static str)],
) -> Entry {
    Entry::Rule(Rule {
        table,
        needs: &[],
        change: Change::Assign(values, "no calendar synchronisation column, skipped"),
        noun,
        unchanged: "no calendar synchronisation left in {many}",
        changed: "calendar tokens removed and synchronisation stopped for {count}",
    })
}

const fn delete_all(table: &'static str, noun: (&'static str, &'static str)) -> Entry {
    Entry::Rule(Rule {
        table,
        needs: &[],
        change: Change::Statement("DELETE FROM {table}", &[]),
        noun,
        unchanged: "no {one}",
        changed: "{count} deleted",
    })
}
