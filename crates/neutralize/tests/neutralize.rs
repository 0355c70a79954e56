//! Neutralization against a real PostgreSQL: one embedded cluster for the test
//! binary, one database per test, with tables shaped like Odoo's.

use slipway_neutralize::{is_neutralized, neutralize, Guard, NeutralizeError, Step};
use tokio_postgres::Client;

use slipway_postgres::test_support::shared as server;

/// A new empty database of this test, and a superuser session on it.
async fn database(name: &str) -> (String, Client) {
    let server = server().await;
    let name = format!("n_{name}");
    server
        .cluster
        .create_database(&name, &server.cluster.superuser)
        .await
        .unwrap();
    let client = server.cluster.connect(&name).await.unwrap();
    (name, client)
}

/// The tables of an Odoo 17 database with the modules that matter installed,
/// reduced to the columns neutralization reads or writes, and production's data.
const ODOO_17: &str = r"
CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar NOT NULL, name varchar NOT NULL,
                            model varchar NOT NULL, res_id integer);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar NOT NULL, smtp_host varchar,
                             active boolean);
CREATE TABLE mail_template (id serial PRIMARY KEY, name varchar,
                            mail_server_id integer REFERENCES ir_mail_server(id));
CREATE TABLE mail_mail (id serial PRIMARY KEY, state varchar,
                        mail_server_id integer REFERENCES ir_mail_server(id));
CREATE TABLE fetchmail_server (id serial PRIMARY KEY, name varchar NOT NULL, active boolean,
                               state varchar);
CREATE TABLE ir_act_server (id serial PRIMARY KEY, name varchar, state varchar NOT NULL,
                            webhook_url varchar);
CREATE TABLE ir_cron (id serial PRIMARY KEY, cron_name varchar, active boolean);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE,
                                  value text NOT NULL);
CREATE TABLE payment_provider (id serial PRIMARY KEY, code varchar, state varchar NOT NULL);
CREATE TABLE delivery_carrier (id serial PRIMARY KEY, name varchar, delivery_type varchar,
                               prod_environment boolean, active boolean);
CREATE TABLE iap_account (id serial PRIMARY KEY, service_name varchar, account_token varchar);
CREATE TABLE account_online_link (id serial PRIMARY KEY, client_id varchar, provider_data varchar,
                                  auto_sync boolean);
CREATE TABLE res_users_settings (id serial PRIMARY KEY, user_id integer,
                                 google_calendar_rtoken varchar, google_calendar_token varchar,
                                 google_synchronization_stopped boolean,
                                 microsoft_calendar_sync_token varchar,
                                 microsoft_synchronization_stopped boolean);
CREATE TABLE mail_partner_device (id serial PRIMARY KEY, endpoint varchar);
CREATE TABLE mail_notification_web_push (id serial PRIMARY KEY, payload text,
       user_device integer REFERENCES mail_partner_device(id) ON DELETE CASCADE);
CREATE TABLE ir_ui_view (id serial PRIMARY KEY, key varchar, active boolean);

INSERT INTO ir_mail_server (name, smtp_host, active) VALUES
    ('Production SMTP', 'smtp.example.com', true),
    ('Marketing SMTP', 'smtp.mailer.example', true),
    ('Old SMTP', 'smtp.old.example', false);
INSERT INTO mail_template (name, mail_server_id) VALUES ('Invoice', 2), ('Quotation', NULL);
INSERT INTO mail_mail (state, mail_server_id) VALUES ('outgoing', 1), ('outgoing', NULL);
INSERT INTO fetchmail_server (name, active, state) VALUES ('Support inbox', true, 'done');
INSERT INTO ir_act_server (name, state, webhook_url) VALUES
    ('Notify the ERP', 'webhook', 'https://hooks.example.com/order'),
    ('Compute totals', 'code', NULL);
INSERT INTO ir_cron (cron_name, active) VALUES
    ('Base: Auto-vacuum internal data', true),
    ('Mail: Email Queue Manager', true),
    ('Publisher: Update Notification', true),
    ('Already off', false);
INSERT INTO ir_model_data (module, name, model, res_id) VALUES
    ('base', 'autovacuum_job', 'ir.cron', 1),
    ('mail', 'ir_cron_mail_scheduler_action', 'ir.cron', 2),
    ('mail', 'ir_cron_module_update_notification', 'ir.cron', 3),
    ('base', 'autovacuum_job', 'ir.ui.view', 2);
INSERT INTO ir_config_parameter (key, value) VALUES
    ('database.uuid', 'c0ffee00-0000-1000-8000-000000000001'),
    ('web.base.url', 'https://erp.example.com'),
    ('mail.web_push_vapid_private_key', 'private'),
    ('mail.web_push_vapid_public_key', 'public'),
    ('ocn.uuid', 'ocn-registration');
INSERT INTO payment_provider (code, state) VALUES
    ('stripe', 'enabled'), ('adyen', 'test'), ('paypal', 'disabled');
INSERT INTO delivery_carrier (name, delivery_type, prod_environment, active) VALUES
    ('FedEx', 'fedex_rest', true, true), ('Local', 'fixed', false, true);
INSERT INTO iap_account (service_name, account_token) VALUES
    ('sms', '0123456789abcdef0123456789abcdef'), ('invoice_ocr', NULL);
INSERT INTO account_online_link (client_id, provider_data, auto_sync) VALUES
    ('client-42', 'secret-provider-data', true);
INSERT INTO res_users_settings (user_id, google_calendar_rtoken, google_calendar_token,
                                google_synchronization_stopped, microsoft_calendar_sync_token,
                                microsoft_synchronization_stopped) VALUES
    (2, 'refresh', 'access', false, 'sync', false),
    (6, NULL, NULL, true, NULL, true);
INSERT INTO mail_partner_device (endpoint) VALUES ('https://push.example/1'), ('https://push.example/2');
INSERT INTO mail_notification_web_push (payload, user_device) VALUES ('{}', 1);
INSERT INTO ir_ui_view (key, active) VALUES
    ('web.neutralize_banner', false), ('web.layout', true);
";

/// An Odoo 14 database: payment acquirers, calendar tokens on the users, no
/// webhook actions, no banner, no fetchmail module, no flag.
const ODOO_14: &str = r"
CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar NOT NULL, name varchar NOT NULL,
                            model varchar NOT NULL, res_id integer);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar NOT NULL, active boolean);
CREATE TABLE mail_template (id serial PRIMARY KEY, mail_server_id integer);
CREATE TABLE ir_act_server (id serial PRIMARY KEY, name varchar, state varchar NOT NULL);
CREATE TABLE ir_cron (id serial PRIMARY KEY, ir_actions_server_id integer, active boolean);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE,
                                  value text NOT NULL);
CREATE TABLE payment_acquirer (id serial PRIMARY KEY, provider varchar, state varchar NOT NULL);
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar, google_calendar_rtoken varchar,
                        google_calendar_token varchar, google_synchronization_stopped boolean);
CREATE TABLE ir_ui_view (id serial PRIMARY KEY, key varchar, active boolean);

INSERT INTO ir_mail_server (name, active) VALUES ('Production SMTP', true);
INSERT INTO mail_template (mail_server_id) VALUES (1);
INSERT INTO ir_act_server (name, state) VALUES ('Cron action', 'code');
INSERT INTO ir_cron (ir_actions_server_id, active) VALUES (1, true), (1, true);
INSERT INTO ir_model_data (module, name, model, res_id) VALUES ('base', 'autovacuum_job', 'ir.cron', 2);
INSERT INTO ir_config_parameter (key, value) VALUES
    ('database.uuid', 'c0ffee00-0000-1000-8000-000000000014');
INSERT INTO payment_acquirer (provider, state) VALUES
    ('ogone', 'enabled'), ('transfer', 'enabled'), ('paypal', 'test');
INSERT INTO res_users (login, google_calendar_rtoken, google_calendar_token,
                       google_synchronization_stopped) VALUES
    ('admin', 'refresh', 'access', false);
INSERT INTO ir_ui_view (key, active) VALUES ('web.layout', true);
";

async fn odoo(name: &str, schema: &str) -> (String, Client) {
    let (name, client) = database(name).await;
    client.batch_execute(schema).await.unwrap();
    (name, client)
}

fn guard() -> Guard {
    Guard::new(["n_production"])
}

/// Neutralizes and returns the steps and the log.
async fn run(client: &Client, name: &str) -> (Vec<Step>, String) {
    let mut log = Vec::new();
    let steps = neutralize(client, name, &guard(), &mut log)
        .await
        .unwrap_or_else(|error| panic!("{error}\n{}", String::from_utf8_lossy(&log)));
    let log = String::from_utf8(log).unwrap();
    // Shown with --nocapture.
    println!("{log}");
    (steps, log)
}

fn step<'a>(steps: &'a [Step], name: &str) -> &'a Step {
    steps
        .iter()
        .find(|step| step.name == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:#?}"))
}

async fn bools(client: &Client, sql: &str) -> Vec<Option<bool>> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn texts(client: &Client, sql: &str) -> Vec<Option<String>> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn param(client: &Client, key: &str) -> Option<String> {
    client
        .query_opt(
            "SELECT value FROM ir_config_parameter WHERE key = $1",
            &[&key],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

#[tokio::test]
async fn outgoing_mail_servers_are_deactivated_and_no_mail_stays_pinned_to_them() {
    let (name, client) = odoo("mail_out", ODOO_17).await;
    let (steps, log) = run(&client, &name).await;

    assert_eq!(
        bools(&client, "SELECT active FROM ir_mail_server ORDER BY id").await,
        vec![Some(false); 3]
    );
    assert_eq!(step(&steps, "ir_mail_server").rows, 2);
    assert!(
        log.contains("ir_mail_server: 2 outgoing mail servers deactivated"),
        "{log}"
    );
    let pinned: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM mail_template WHERE mail_server_id IS NOT NULL) \
                  + (SELECT count(*) FROM mail_mail WHERE mail_server_id IS NOT NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pinned, 0);
    assert_eq!(step(&steps, "mail_template").rows, 1);
    assert_eq!(step(&steps, "mail_mail").rows, 1);
}

#[tokio::test]
async fn incoming_mail_servers_are_deactivated() {
    let (name, client) = odoo("mail_in", ODOO_17).await;
    let (steps, log) = run(&client, &name).await;
    assert_eq!(
        bools(&client, "SELECT active FROM fetchmail_server").await,
        vec![Some(false)]
    );
    assert_eq!(step(&steps, "fetchmail_server").rows, 1);
    assert!(
        log.contains("fetchmail_server: 1 incoming mail server deactivated"),
        "{log}"
    );
}

#[tokio::test]
async fn every_scheduled_action_but_odoos_autovacuum_is_deactivated() {
    let (name, client) = odoo("crons", ODOO_17).await;
    let (steps, log) = run(&client, &name).await;
    assert_eq!(
        bools(&client, "SELECT active FROM ir_cron ORDER BY id").await,
        vec![Some(true), Some(false), Some(false), Some(false)]
    );
    assert_eq!(step(&steps, "ir_cron").rows, 2);
    assert!(
        log.contains("ir_cron: 2 scheduled actions deactivated, base.autovacuum_job kept active"),
        "{log}"
    );
}

#[tokio::test]
async fn live_payment_providers_are_disabled_and_test_ones_kept() {
    let (name, client) = odoo("payment", ODOO_17).await;
    let (steps, log) = run(&client, &name).await;
    assert_eq!(
        texts(&client, "SELECT state FROM payment_provider ORDER BY id").await,
        vec![
            Some("disabled".to_string()),
            Some("test".to_string()),
            Some("disabled".to_string())
        ]
    );
    assert_eq!(step(&steps, "payment_provider").rows, 1);
    assert!(
        log.contains("payment_acquirer: table absent, skipped"),
        "{log}"
    );
}

#[tokio::test]
async fn shipping_connectors_leave_their_production_environment() {
    let (name, client) = odoo("delivery", ODOO_17).await;
    let (steps, _) = run(&client, &name).await;
    assert_eq!(
        bools(
            &client,
            "SELECT prod_environment FROM delivery_carrier ORDER BY id"
        )
        .await,
        vec![Some(false), Some(false)]
    );
    assert_eq!(step(&steps, "delivery_carrier").rows, 1);
}

#[tokio::test]
async fn iap_tokens_are_disabled_the_way_odoo_does() {
    let (name, client) = odoo("iap", ODOO_17).await;
    let (steps, _) = run(&client, &name).await;
    assert_eq!(
        texts(&client, "SELECT account_token FROM iap_account ORDER BY id").await,
        vec![
            Some("0123456789abcdef0123456789abcdef+disabled".to_string()),
            None
        ]
    );
    assert_eq!(step(&steps, "iap_account").rows, 1);
}

#[tokio::test]
async fn bank_synchronisation_is_cut_off() {
    let (name, client) = odoo("bank", ODOO_17).await;
    let (steps, _) = run(&client, &name).await;
    let row = client
        .query_one(
            "SELECT client_id, provider_data, auto_sync FROM account_online_link",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "duplicate");
    assert_eq!(row.get::<_, String>(1), "");
    assert!(!row.get::<_, bool>(2));
    assert_eq!(step(&steps, "account_online_link").rows, 1);
}

#[tokio::test]
async fn webhook_server_actions_point_nowhere() {
    let (name, client) = odoo("webhooks", ODOO_17).await;
    let (steps, _) = run(&client, &name).await;
    assert_eq!(
        texts(&client, "SELECT webhook_url FROM ir_act_server ORDER BY id").await,
        vec![Some("neutralization - disable webhook".to_string()), None]
    );
    assert_eq!(step(&steps, "ir_act_server").rows, 1);
}

#[tokio::test]
async fn calendar_synchronisation_is_stopped() {
    let (name, client) = odoo("calendar", ODOO_17).await;
    let (steps, _) = run(&client, &name).await;
    let tokens: i64 = client
        .query_one(
            "SELECT count(*) FROM res_users_settings \
              WHERE google_calendar_rtoken IS NOT NULL OR google_calendar_token IS NOT NULL \
                 OR microsoft_calendar_sync_token IS NOT NULL \
                 OR NOT google_synchronization_stopped OR NOT microsoft_synchronization_stopped",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tokens, 0);
    assert_eq!(step(&steps, "res_users_settings").rows, 1);
}

#[tokio::test]
async fn push_subscriptions_and_keys_acting_for_production_are_removed() {
    let (name, client) = odoo("push", ODOO_17).await;
    let (steps, log) = run(&client, &name).await;
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM mail_partner_device) \
                  + (SELECT count(*) FROM mail_notification_web_push)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert_eq!(step(&steps, "mail_partner_device").rows, 2);
    assert_eq!(
        param(&client, "mail.web_push_vapid_private_key").await,
        None
    );
    assert_eq!(param(&client, "ocn.uuid").await, None);
    assert_eq!(step(&steps, "ir_config_parameter").rows, 3);
    // Other parameters are the engine's business.
    assert_eq!(
        param(&client, "web.base.url").await.as_deref(),
        Some("https://erp.example.com")
    );
    assert!(log.contains("mail_push: table absent, skipped"), "{log}");
}

#[tokio::test]
async fn the_database_is_flagged_as_neutralized_and_shows_the_banner() {
    let (name, client) = odoo("flag", ODOO_17).await;
    assert!(!is_neutralized(&client).await.unwrap());
    let (steps, _) = run(&client, &name).await;
    assert_eq!(
        param(&client, "database.is_neutralized").await.as_deref(),
        Some("true")
    );
    assert!(is_neutralized(&client).await.unwrap());
    assert_eq!(step(&steps, "database.is_neutralized").rows, 1);
    assert_eq!(
        bools(
            &client,
            "SELECT active FROM ir_ui_view WHERE key = 'web.neutralize_banner'"
        )
        .await,
        vec![Some(true)]
    );
}

#[tokio::test]
async fn a_flag_set_by_odoo_is_kept_and_read_like_odoo_reads_it() {
    let (name, client) = odoo("flag_odoo", ODOO_17).await;
    client
        .batch_execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'True')",
        )
        .await
        .unwrap();
    assert!(is_neutralized(&client).await.unwrap());
    run(&client, &name).await;
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM ir_config_parameter WHERE key = 'database.is_neutralized'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    assert!(is_neutralized(&client).await.unwrap());
}

#[tokio::test]
async fn the_database_uuid_is_renewed_once() {
    let (name, client) = odoo("uuid", ODOO_17).await;
    run(&client, &name).await;
    let renewed = param(&client, "database.uuid").await.unwrap();
    assert_ne!(renewed, "c0ffee00-0000-1000-8000-000000000001");
    assert_eq!(renewed.len(), 36);
    assert_eq!(&renewed[14..15], "4");
    let (steps, _) = run(&client, &name).await;
    assert_eq!(param(&client, "database.uuid").await.unwrap(), renewed);
    assert_eq!(step(&steps, "database.uuid").rows, 0);
}

#[tokio::test]
async fn an_odoo_14_database_is_neutralized_and_what_it_lacks_is_skipped() {
    let (name, client) = odoo("odoo14", ODOO_14).await;
    let (steps, log) = run(&client, &name).await;

    assert_eq!(
        bools(&client, "SELECT active FROM ir_mail_server").await,
        vec![Some(false)]
    );
    assert_eq!(
        bools(&client, "SELECT active FROM ir_cron ORDER BY id").await,
        vec![Some(false), Some(true)]
    );
    assert_eq!(
        texts(&client, "SELECT state FROM payment_acquirer ORDER BY id").await,
        vec![
            Some("disabled".to_string()),
            Some("disabled".to_string()),
            Some("test".to_string())
        ]
    );
    assert_eq!(
        texts(
            &client,
            "SELECT coalesce(google_calendar_rtoken, google_calendar_token) FROM res_users"
        )
        .await,
        vec![None]
    );
    assert!(is_neutralized(&client).await.unwrap());

    for line in [
        "fetchmail_server: table absent, skipped",
        "payment_provider: table absent, skipped",
        "delivery_carrier: table absent, skipped",
        "iap_account: table absent, skipped",
        "account_online_link: table absent, skipped",
        "ir_act_server: column webhook_url absent, skipped",
        "ir_ui_view: no neutralization banner view (Odoo before 16.0)",
        "payment_acquirer: 2 enabled payment acquirers disabled",
    ] {
        assert!(log.contains(line), "missing {line:?} in:\n{log}");
    }
    assert!(step(&steps, "fetchmail_server").skipped);
    assert!(!step(&steps, "payment_acquirer").skipped);
}

#[tokio::test]
async fn a_database_without_odoo_is_only_skipped() {
    let (name, client) = database("empty").await;
    let (steps, log) = run(&client, &name).await;
    assert!(steps.iter().all(|step| step.skipped && step.rows == 0));
    assert!(
        log.contains("ir_mail_server: table absent, skipped"),
        "{log}"
    );
    assert!(
        log.contains("database.is_neutralized: table ir_config_parameter absent, skipped"),
        "{log}"
    );
    assert!(!is_neutralized(&client).await.unwrap());
}

#[tokio::test]
async fn a_production_database_is_refused_before_anything_changes() {
    let (name, client) = odoo("production", ODOO_17).await;
    let mut log = Vec::new();
    let refused = neutralize(&client, &name, &guard(), &mut log).await;
    match refused {
        Err(NeutralizeError::Production(database)) => assert_eq!(database, name),
        other => panic!("{other:?}"),
    }
    let message = neutralize(&client, &name, &guard(), &mut log)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("'n_production'"), "{message}");
    assert!(message.contains("production database"), "{message}");
    assert!(log.is_empty());
    assert_eq!(
        bools(&client, "SELECT active FROM ir_mail_server ORDER BY id").await,
        vec![Some(true), Some(true), Some(false)]
    );
    assert!(!is_neutralized(&client).await.unwrap());

    // Named as another database, the connection still gives production away.
    let refused = neutralize(&client, "n_staging", &guard(), &mut log).await;
    assert!(
        matches!(&refused, Err(NeutralizeError::Production(database)) if database == "n_production"),
        "{refused:?}"
    );
    assert!(!is_neutralized(&client).await.unwrap());
}

#[tokio::test]
async fn a_connection_to_another_database_is_refused() {
    let (_, client) = odoo("elsewhere", ODOO_17).await;
    let mut log = Vec::new();
    let refused = neutralize(&client, "n_staging_copy", &guard(), &mut log).await;
    assert!(
        matches!(
            &refused,
            Err(NeutralizeError::WrongDatabase { expected, connected })
                if expected == "n_staging_copy" && connected == "n_elsewhere"
        ),
        "{refused:?}"
    );
    assert!(!is_neutralized(&client).await.unwrap());
}

#[tokio::test]
async fn running_it_again_changes_nothing() {
    let (name, client) = odoo("again", ODOO_17).await;
    run(&client, &name).await;
    let snapshot = "SELECT (SELECT string_agg(active::text, ',' ORDER BY id) FROM ir_mail_server) \
                 || (SELECT string_agg(active::text, ',' ORDER BY id) FROM ir_cron) \
                 || (SELECT string_agg(state, ',' ORDER BY id) FROM payment_provider) \
                 || (SELECT string_agg(coalesce(account_token, '-'), ',' ORDER BY id) FROM iap_account) \
                 || (SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM ir_config_parameter)";
    let before: String = client.query_one(snapshot, &[]).await.unwrap().get(0);
    let (steps, log) = run(&client, &name).await;
    let after: String = client.query_one(snapshot, &[]).await.unwrap().get(0);
    assert_eq!(before, after);
    assert!(
        steps.iter().all(|step| step.rows == 0),
        "changed again: {log}"
    );
    assert!(is_neutralized(&client).await.unwrap());
}

#[tokio::test]
async fn a_failure_mid_way_leaves_nothing_changed() {
    let (name, client) = odoo("failure", ODOO_17).await;
    // The last step (the flag) fails, after every other one has run.
    client
        .batch_execute(
            "CREATE FUNCTION refuse_flag() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.key = 'database.is_neutralized' THEN
                     RAISE EXCEPTION 'flag refused by the test';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_flag BEFORE INSERT OR UPDATE ON ir_config_parameter
                 FOR EACH ROW EXECUTE FUNCTION refuse_flag();",
        )
        .await
        .unwrap();
    let mut log = Vec::new();
    let failed = neutralize(&client, &name, &guard(), &mut log).await;
    let log = String::from_utf8(log).unwrap();
    match &failed {
        Err(NeutralizeError::Step { database, step, .. }) => {
            assert_eq!(database, &name);
            assert_eq!(*step, "database.is_neutralized");
        }
        other => panic!("{other:?}"),
    }
    assert!(failed
        .unwrap_err()
        .to_string()
        .contains("nothing was changed"),);
    // The log told what was being done, then that it was undone.
    assert!(
        log.contains("ir_mail_server: 2 outgoing mail servers deactivated"),
        "{log}"
    );
    assert!(log.contains("rolled back, nothing was changed"), "{log}");

    assert_eq!(
        bools(&client, "SELECT active FROM ir_mail_server ORDER BY id").await,
        vec![Some(true), Some(true), Some(false)]
    );
    assert_eq!(
        bools(&client, "SELECT active FROM ir_cron ORDER BY id").await,
        vec![Some(true), Some(true), Some(true), Some(false)]
    );
    assert_eq!(
        param(&client, "mail.web_push_vapid_private_key")
            .await
            .as_deref(),
        Some("private")
    );
    assert_eq!(
        param(&client, "database.uuid").await.as_deref(),
        Some("c0ffee00-0000-1000-8000-000000000001")
    );
    assert!(!is_neutralized(&client).await.unwrap());
    // The session is usable again (not left inside an aborted transaction).
    client.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn odd_data_is_neutralized_without_error() {
    let (name, client) = odoo(
        "odd",
        r"
        CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar, name varchar,
                                    model varchar, res_id integer);
        CREATE TABLE ir_mail_server (id serial PRIMARY KEY, active boolean);
        CREATE TABLE ir_cron (id serial PRIMARY KEY, active boolean);
        -- no unique key: parameters may be duplicated
        CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar, value text);
        CREATE TABLE payment_provider (id serial PRIMARY KEY, state varchar);
        CREATE VIEW fetchmail_server AS SELECT 1 AS id, true AS active;
        INSERT INTO ir_mail_server (active) VALUES (NULL);
        INSERT INTO ir_cron (active) VALUES (NULL), (true);
        INSERT INTO ir_model_data (module, name, model, res_id) VALUES
            ('base', 'autovacuum_job', 'ir.cron', NULL);
        INSERT INTO ir_config_parameter (key, value) VALUES
            ('database.uuid', 'one'), ('database.uuid', 'two'),
            ('database.is_neutralized', 'false'), ('database.is_neutralized', NULL);
        INSERT INTO payment_provider (state) VALUES (NULL), ('enabled');
        ",
    )
    .await;
    let (steps, log) = run(&client, &name).await;
    assert_eq!(
        bools(&client, "SELECT active FROM ir_mail_server").await,
        vec![Some(false)]
    );
    assert_eq!(
        bools(&client, "SELECT active FROM ir_cron ORDER BY id").await,
        vec![Some(false), Some(false)]
    );
    assert_eq!(
        texts(&client, "SELECT state FROM payment_provider ORDER BY id").await,
        vec![Some("disabled".to_string()), Some("disabled".to_string())]
    );
    let uuids = texts(
        &client,
        "SELECT DISTINCT value FROM ir_config_parameter WHERE key = 'database.uuid'",
    )
    .await;
    assert_eq!(uuids.len(), 1, "{uuids:?}");
    assert_eq!(
        texts(
            &client,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        )
        .await,
        vec![Some("true".to_string()); 2]
    );
    assert!(is_neutralized(&client).await.unwrap());
    // A view is not the table Odoo's model would have.
    assert!(step(&steps, "fetchmail_server").skipped, "{log}");
    assert!(log.contains("base.autovacuum_job not found"), "{log}");

    let (steps, _) = run(&client, &name).await;
    assert!(steps.iter().all(|step| step.rows == 0), "{steps:#?}");
}

#[tokio::test]
async fn typed_parameters_of_recent_odoo_get_a_type() {
    let (name, client) = odoo(
        "typed",
        r"
        CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE,
                                          value text NOT NULL, type varchar NOT NULL);
        INSERT INTO ir_config_parameter (key, value, type) VALUES
            ('database.uuid', 'c0ffee00-0000-1000-8000-000000000019', 'str');
        ",
    )
    .await;
    run(&client, &name).await;
    assert_eq!(
        texts(
            &client,
            "SELECT type FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        )
        .await,
        vec![Some("str".to_string())]
    );
    assert!(is_neutralized(&client).await.unwrap());
}
