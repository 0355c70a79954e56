//! Backups of production end to end, on real Odoo and PostgreSQL: a backup
//! taken, production changed, the backup restored (the record deleted since
//! is back, the one created since is gone, an attachment's bytes are back);
//! the backup before every update; a test instance neutralized and
//! refreshed with production's newer records; a damaged backup failed loudly
//! and never restored; a zip made by Odoo's own database manager imported.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use common::customer_smtp::CustomerSmtp;
use common::serve::{wait_for, Serve, BUILD_LIMIT};
use common::shop::{add_project, database_of, production, psql, push, reason_of, Odoo};

/// The project's backups, newest first (`slipway backup list --json`).
fn backups(serve: &Serve) -> Vec<Value> {
    serve
        .json(&["backup", "list", "shop", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

fn backup(serve: &Serve, id: i64) -> Value {
    backups(serve)
        .into_iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("backup #{id} is listed"))
}

fn wait_verified(serve: &Serve, id: i64, expected: &str) {
    wait_for(
        &format!("backup #{id} to be verified {expected}"),
        Duration::from_secs(180),
        || backup(serve, id)["verified"] == expected,
    );
}

/// The test instance `name` (`slipway testinstance list --json`).
fn test_instance(serve: &Serve, name: &str) -> Option<Value> {
    serve
        .json(&["testinstance", "list", "shop", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
}

/// Waits until test instance `name` serves from a build other than `not`.
fn wait_test_instance(serve: &Serve, name: &str, not: Option<i64>) -> i64 {
    wait_for(
        &format!("test instance {name} to serve"),
        BUILD_LIMIT,
        || {
            test_instance(serve, name).is_some_and(|t| {
                let build = t["build"].as_i64();
                build != not && t["state"] != "pending" && t["state"] != "running"
            })
        },
    );
    let instance = test_instance(serve, name).unwrap();
    let build = instance["build"].as_i64().unwrap();
    assert_eq!(
        instance["state"],
        "serving",
        "{instance}: {}",
        reason_of(serve, build)
    );
    build
}

fn partner_count(serve: &Serve, build: i64, name: &str) -> String {
    psql(
        serve,
        build,
        &format!("SELECT count(*) FROM res_partner WHERE name = '{name}'"),
    )
}

/// A zip made by Odoo itself: the build's Odoo started by hand (its start
/// script, on the host's loopback) with the database manager on, and asked
/// for `/web/database/backup` as a person does in the database manager.
/// Served builds keep the manager off; only this test turns it on, for the
/// moment of the download.
fn odoo_made_zip(serve: &Serve, build: i64, database: &str) -> Vec<u8> {
    let dir = build_dir(serve, build);
    let conf = dir.join("odoo.conf");
    let original = std::fs::read_to_string(&conf).unwrap();
    assert!(original.contains("list_db = False\n"), "{original}");
    let master = original
        .lines()
        .find_map(|line| line.strip_prefix("admin_passwd = "))
        .expect("admin_passwd in odoo.conf")
        .to_string();
    std::fs::write(
        &conf,
        original.replace("list_db = False\n", "list_db = True\n"),
    )
    .unwrap();
    let script = dir.join("start-odoo.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    let port: u16 = text
        .split_whitespace()
        .skip_while(|word| *word != "--http-port")
        .nth(1)
        .expect("--http-port in the start script")
        .trim_matches('\'')
        .parse()
        .unwrap();
    let mut odoo = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sh")
            .arg(&script)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    let answered = (0..120).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        common::serve::http_status(&format!("{base}/web/login")).is_some()
    });
    let zip = answered.then(|| {
        ureq::post(&format!("{base}/web/database/backup"))
            .send_form(&[
                ("master_pwd", &master),
                ("name", database),
                ("backup_format", "zip"),
            ])
            .map(|response| {
                let mut bytes = vec![];
                std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).unwrap();
                bytes
            })
            .map_err(|error| error.to_string())
    });
    unsafe { libc::kill(-(odoo.id() as i32), libc::SIGKILL) };
    let _ = odoo.wait();
    std::fs::write(&conf, original).unwrap();
    let zip = zip.expect("the build's Odoo answers on its start script's port");
    let zip = zip.unwrap_or_else(|error| panic!("/web/database/backup: {error}"));
    assert!(
        zip.starts_with(b"PK"),
        "Odoo answered a zip: {}",
        String::from_utf8_lossy(&zip)
            .lines()
            .filter(|line| line.contains("rror"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    zip
}

/// The build's directory in slipway's data dir.
fn build_dir(serve: &Serve, build: i64) -> PathBuf {
    let builds = serve.home.join("builds");
    std::fs::read_dir(&builds)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("s{build}a"))
        })
        .unwrap_or_else(|| panic!("build #{build} has a directory in {}", builds.display()))
}

fn backups_restore_production_and_serve_test_instances(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "production");
    let home = temp.path().join("home");
    let serve = Serve::start(&home, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let smtp_port = listener.local_addr().unwrap().port();
    let customer_smtp = CustomerSmtp::start(&runtime, listener);

    std::fs::write(repo.join("README"), "shop\n").unwrap();
    push(&repo, "first release");
    add_project(&serve, &repo, version);
    wait_for("production to serve", BUILD_LIMIT, || {
        production(&serve).is_some()
    });
    let first = production(&serve).unwrap()["build"].as_i64().unwrap();
    let odoo = Odoo::through_proxy(&serve, "shop", &database_of(&serve, first));
    odoo.call(
        "ir.mail_server",
        "create",
        json!([{
            "name": "Customer SMTP", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
            "smtp_encryption": "none", "smtp_user": "shop", "smtp_pass": "secret",
        }]),
    );
    odoo.call(
        "res.partner",
        "create",
        json!([{"name": "Deleted after the backup"}]),
    );
    let contract = b"signed contract, page 1 of 1".to_vec();
    let attachment = odoo.call(
        "ir.attachment",
        "create",
        json!([{"name": "contract.txt", "datas": base64::engine::general_purpose::STANDARD.encode(&contract)}]),
    );

    // The daily backup's time and the retention, per project.
    let settings = serve.json(&[
        "backup",
        "settings",
        "shop",
        "--daily-at",
        "02:30",
        "--keep-daily",
        "5",
        "--json",
    ]);
    assert_eq!(
        (&settings["daily_at_minute"], &settings["daily"]),
        (&json!(150), &json!(5))
    );
    let bad = serve.cli(&["backup", "settings", "shop", "--daily-at", "25:00"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HH:MM"));

    // A manual backup: the command waits until it is on disk.
    let made = serve.json(&["backup", "create", "shop", "--json"]);
    assert_eq!(
        (&made["kind"], &made["state"]),
        (&json!("manual"), &json!("done")),
        "{made}"
    );
    let manual = made["id"].as_i64().unwrap();
    assert!(made["size_bytes"].as_u64().unwrap() > 0);
    wait_verified(&serve, manual, "ok");

    // Production moves on.
    odoo.call(
        "res.partner",
        "unlink",
        json!([odoo.call(
            "res.partner",
            "search",
            json!([[["name", "=", "Deleted after the backup"]]])
        )]),
    );
    odoo.call(
        "res.partner",
        "create",
        json!([{"name": "Created after the backup"}]),
    );

    // Replacing production is confirmed: without a terminal nor --yes, refused.
    let unconfirmed = serve.cli(&["backup", "restore", "shop", &manual.to_string()]);
    assert!(!unconfirmed.status.success());
    assert!(
        String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&unconfirmed.stderr)
    );
    serve.ok(&["backup", "restore", "shop", &manual.to_string(), "--yes"]);
    wait_for("the restored production to serve", BUILD_LIMIT, || {
        production(&serve).is_some_and(|p| p["build"] != first)
    });
    let restored = production(&serve).unwrap()["build"].as_i64().unwrap();
    assert_eq!(
        partner_count(&serve, restored, "Deleted after the backup"),
        "1"
    );
    assert_eq!(
        partner_count(&serve, restored, "Created after the backup"),
        "0"
    );
    let odoo = Odoo::through_proxy(&serve, "shop", &database_of(&serve, restored));
    let datas = odoo.call("ir.attachment", "read", json!([[attachment], ["datas"]]));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(datas[0]["datas"].as_str().unwrap())
            .unwrap(),
        contract,
        "the attachment's bytes are back"
    );
    // Production's state before the restore was backed up first.
    let pre_restore: Vec<Value> = backups(&serve)
        .into_iter()
        .filter(|b| b["kind"] == "pre-update")
        .collect();
    assert_eq!(pre_restore.len(), 1, "{pre_restore:?}");
    assert_eq!(pre_restore[0]["state"], "done");
    let before_restore = pre_restore[0]["id"].as_i64().unwrap();

    // An update of production: backed up before it too.
    std::fs::write(repo.join("README"), "second release\n").unwrap();
    push(&repo, "second release");
    wait_for("the update to serve", BUILD_LIMIT, || {
        production(&serve).is_some_and(|p| p["build"] != restored)
    });
    let updated = production(&serve).unwrap()["build"].as_i64().unwrap();
    let pre_update = backups(&serve)
        .into_iter()
        .find(|b| b["kind"] == "pre-update" && b["id"] != before_restore)
        .expect("a backup before the update");
    assert_eq!(pre_update["state"], "done");
    assert_eq!(pre_update["build"], restored);

    // A test instance: production's data, neutralized, its mail caught.
    serve.ok(&[
        "testinstance",
        "create",
        "shop",
        "demo",
        "--backup",
        &manual.to_string(),
    ]);
    let instance = wait_test_instance(&serve, "demo", None);
    assert_eq!(test_instance(&serve, "demo").unwrap()["backup"], manual);
    assert_eq!(
        partner_count(&serve, instance, "Deleted after the backup"),
        "1"
    );
    assert_eq!(
        psql(
            &serve,
            instance,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ),
        "true"
    );
    assert_eq!(
        psql(
            &serve,
            instance,
            "SELECT count(*) FROM ir_mail_server WHERE active"
        ),
        "0"
    );
    let instance_db = database_of(&serve, instance);
    let copy = Odoo::through_proxy(&serve, &instance.to_string(), &instance_db);
    let mail = copy.call(
        "mail.mail",
        "create",
        json!([{"subject": "Sent from the test instance", "email_from": "shop@example.com",
                 "email_to": "customer@example.com", "body_html": "<p>hello</p>"}]),
    );
    copy.call("mail.mail", "send", json!([[mail]]));
    let caught = || {
        serve
            .json(&["mails", &instance.to_string(), "--json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["subject"] == "Sent from the test instance")
    };
    let started = std::time::Instant::now();
    while !caught() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the test instance's mail is not caught: {}",
            psql(
                &serve,
                instance,
                &format!("SELECT state || ': ' || coalesce(failure_reason, '') FROM mail_mail WHERE id = {mail}")
            )
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !customer_smtp
            .subjects()
            .iter()
            .any(|s| s == "Sent from the test instance"),
        "the test instance reached the customer's SMTP server"
    );

    // Production's newer records reach the test instance at its refresh
    // (from the newest verified backup).
    let odoo = Odoo::through_proxy(&serve, "shop", &database_of(&serve, updated));
    odoo.call(
        "res.partner",
        "create",
        json!([{"name": "Newer in production"}]),
    );
    let newest = serve.json(&["backup", "create", "shop", "--json"])["id"]
        .as_i64()
        .unwrap();
    wait_verified(&serve, newest, "ok");
    serve.ok(&["testinstance", "refresh", "shop", "demo"]);
    let refreshed = wait_test_instance(&serve, "demo", Some(instance));
    assert_eq!(test_instance(&serve, "demo").unwrap()["backup"], newest);
    assert_eq!(partner_count(&serve, refreshed, "Newer in production"), "1");
    wait_for(
        "the older test instance build to stop",
        Duration::from_secs(30),
        || {
            serve
                .json(&["builds", "shop", "--json"])
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["id"] == instance && b["state"] == "stopped")
        },
    );

    // A damaged backup: its verification fails loudly, it is never restored.
    let dump = home
        .join("backups/shop")
        .join(newest.to_string())
        .join("database.dump");
    let mut bytes = std::fs::read(&dump).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&dump, &bytes).unwrap();
    serve.ok(&["backup", "verify", "shop", &newest.to_string()]);
    wait_verified(&serve, newest, "failed");
    assert!(backup(&serve, newest)["reason"]
        .as_str()
        .unwrap()
        .contains("does not match its checksum"));
    let listed = serve.cli(&["backup", "list", "shop"]);
    assert!(
        String::from_utf8_lossy(&listed.stderr)
            .contains("WARNING: these backups cannot be restored"),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let refused = serve.cli(&["backup", "restore", "shop", &newest.to_string(), "--yes"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("verification failed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // A database-manager zip imported into a test instance. On 19.0, one
    // made by Odoo itself (/web/database/backup) in the running production
    // build; 14.0's image cannot make one against this cluster (its pg_dump
    // 13 refuses a PostgreSQL 15 server), so there the zip is slipway's
    // download of a fresh backup, in the same format.
    let zip = temp.path().join("odoo-made.zip");
    if version == common::V19 {
        std::fs::write(
            &zip,
            odoo_made_zip(&serve, updated, &database_of(&serve, updated)),
        )
        .unwrap();
    } else {
        let fresh = serve.json(&["backup", "create", "shop", "--json"])["id"]
            .as_i64()
            .unwrap();
        serve.ok(&[
            "backup",
            "download",
            "shop",
            &fresh.to_string(),
            "-o",
            zip.to_str().unwrap(),
        ]);
    }
    serve.ok(&[
        "import",
        "shop",
        zip.to_str().unwrap(),
        "--testinstance",
        "imported",
    ]);
    let imported = wait_test_instance(&serve, "imported", None);
    assert_eq!(partner_count(&serve, imported, "Newer in production"), "1");
    let imported_backup = test_instance(&serve, "imported").unwrap()["backup"]
        .as_i64()
        .unwrap();
    assert_eq!(backup(&serve, imported_backup)["kind"], "import");

    // Not an Odoo dump: refused, saying what to give.
    let photos = temp.path().join("photos.zip");
    std::fs::write(&photos, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
    let refused = serve.cli(&[
        "import",
        "shop",
        photos.to_str().unwrap(),
        "--testinstance",
        "other",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no dump.sql"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(test_instance(&serve, "other").is_none());
    let uploads = home.join("backups/.uploads");
    assert_eq!(
        std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0),
        0,
        "uploads are removed once handled"
    );

    serve.ok(&["testinstance", "remove", "shop", "imported"]);
    assert!(test_instance(&serve, "imported").is_none());
}

#[test]
fn backups_restore_production_and_serve_test_instances_14() {
    backups_restore_production_and_serve_test_instances(common::V14);
}

#[test]
fn backups_restore_production_and_serve_test_instances_19() {
    backups_restore_production_and_serve_test_instances(common::V19);
}
