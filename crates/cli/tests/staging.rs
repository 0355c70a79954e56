//! Staging end to end, on real Odoo 14.0 and 19.0: neutralized copies of
//! production (a staging branch and a test duplicate) whose mail is caught,
//! each build at its own address through the proxy, and dumps that Odoo's own
//! database manager restores.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use common::customer_smtp::CustomerSmtp;
use common::serve::{embedded_cluster, wait_for, Serve, BUILD_LIMIT};
use common::shop::{
    add_project, build, database_of, production, psql, push, put_addon, reason_of, Odoo,
};

fn staging_is_a_neutralized_copy_whose_mail_is_caught_and_dumps_restore(version: &str) {
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
    // Adding the project builds production's head: the production database.
    add_project(&serve, &repo, version);
    wait_for("production to serve", BUILD_LIMIT, || {
        production(&serve).is_some()
    });
    let production_id = production(&serve).unwrap()["build"].as_i64().unwrap();
    let production_db = database_of(&serve, production_id);
    let odoo = Odoo::through_proxy(&serve, "shop", &production_db);
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
        json!([{"name": "Copied customer"}]),
    );
    // The cron is due in production when the copy is taken.
    let cron = psql(
        &serve,
        production_id,
        "SELECT id FROM ir_cron WHERE cron_name = 'Shop: mail the customers' OR id IN (SELECT res_id FROM ir_model_data WHERE name = 'cron_mail_customers')",
    );
    let cron: i64 = cron.lines().next().unwrap().parse().unwrap();
    odoo.call(
        "ir.cron",
        "write",
        json!([[cron], {"nextcall": "2001-01-01 00:00:00"}]),
    );

    // A staging branch adding a module that mails a customer when installed.
    common::git(&repo, &["checkout", "-qb", "staging"]);
    put_addon(&repo, "shop_notify", "shop_notify");
    push(&repo, "notify customers");
    wait_for(
        "the staging branch to be seen",
        Duration::from_secs(30),
        || {
            serve
                .json(&["branches", "shop", "--json"])
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["name"] == "staging")
        },
    );
    let staged = serve.cli(&["branch", "stage", "shop", "staging", "staging"]);
    assert!(
        staged.status.success(),
        "{}",
        String::from_utf8_lossy(&staged.stderr)
    );
    wait_for("the staging build to serve", BUILD_LIMIT, || {
        serve
            .json(&["builds", "shop", "--branch", "staging", "--json"])
            .as_array()
            .unwrap()
            .first()
            .is_some_and(|b| b["state"] != "pending" && b["state"] != "running")
    });
    let staging = serve.json(&["builds", "shop", "--branch", "staging", "--json"])[0].clone();
    assert_eq!(staging["stage"], "staging");
    assert_eq!(
        (&staging["state"], &staging["status"]),
        (&json!("serving"), &json!("success")),
        "{staging}: {}\n{}",
        reason_of(&serve, staging["id"].as_i64().unwrap()),
        String::from_utf8_lossy(&serve.cli(&["logs", &staging["id"].to_string()]).stdout)
    );
    let staging_id = staging["id"].as_i64().unwrap();
    let staging_db = database_of(&serve, staging_id);
    // Each build has its own address through the proxy; an unknown one is a 404.
    let through_proxy = Odoo::through_proxy(&serve, &staging_id.to_string(), &staging_db);
    assert_eq!(through_proxy.status("/web/login"), 200);
    assert_eq!(
        Odoo::through_proxy(&serve, "999999", "").status("/web/login"),
        404
    );
    assert_eq!(
        Odoo::through_proxy(&serve, "nope", "").status("/web/login"),
        404
    );
    if version == common::V19 {
        websocket_closes_through_the_proxy(&serve, staging_id);
    }

    // The copy holds production's records, and is neutralized.
    assert_eq!(
        psql(
            &serve,
            staging_id,
            "SELECT count(*) FROM res_partner WHERE name = 'Copied customer'"
        ),
        "1"
    );
    assert_eq!(
        psql(
            &serve,
            staging_id,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ),
        "true"
    );
    assert_eq!(
        psql(
            &serve,
            staging_id,
            &format!("SELECT active FROM ir_cron WHERE id = {cron}")
        ),
        "f",
        "the due cron is off"
    );
    assert_eq!(
        psql(
            &serve,
            staging_id,
            "SELECT count(*) FROM ir_mail_server WHERE active"
        ),
        "0"
    );
    assert_eq!(
        psql(
            &serve,
            production_id,
            &format!("SELECT active FROM ir_cron WHERE id = {cron}")
        ),
        "t",
        "production itself is never neutralized"
    );

    // The install mail is caught (14.0 sends it at once; 17.0+ queues mail
    // while modules install, and the copy's mail queue delivers it within
    // its cron thread's minute); none reaches the customer's server.
    let subject = format!("Install notice from {staging_db}");
    let caught = || {
        serve
            .json(&["mails", &staging_id.to_string(), "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["subject"] == subject.as_str())
            .cloned()
    };
    wait_for(
        "the install mail to be caught",
        Duration::from_secs(180),
        || caught().is_some(),
    );
    let notice = caught().unwrap();
    assert_eq!(notice["to"][0], "customer@example.com");
    let raw = serve.cli(&["mail", &staging_id.to_string(), &notice["id"].to_string()]);
    assert!(String::from_utf8_lossy(&raw.stdout).contains("Subject: Install notice"));
    std::thread::sleep(Duration::from_secs(5));
    let reached: Vec<String> = customer_smtp
        .subjects()
        .iter()
        .filter(|subject| subject.contains(&staging_db))
        .cloned()
        .collect();
    assert!(
        reached.is_empty(),
        "mail of the copy reached the customer: {reached:?}"
    );

    // A test duplicate of production: neutralized, at production's commit,
    // listed as such; production keeps serving.
    let queued = serve.cli(&["duplicate", "shop"]);
    assert!(
        queued.status.success(),
        "{}",
        String::from_utf8_lossy(&queued.stderr)
    );
    let duplicate_of = |builds: Value| {
        builds
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["duplicate"] == true)
            .cloned()
    };
    wait_for("the duplicate to serve", BUILD_LIMIT, || {
        duplicate_of(serve.json(&["builds", "shop", "--branch", "main", "--json"]))
            .is_some_and(|b| b["state"] != "pending" && b["state"] != "running")
    });
    let duplicate =
        duplicate_of(serve.json(&["builds", "shop", "--branch", "main", "--json"])).unwrap();
    assert_eq!(
        (&duplicate["state"], &duplicate["stage"]),
        (&json!("serving"), &json!("staging")),
        "{duplicate}: {}",
        reason_of(&serve, duplicate["id"].as_i64().unwrap())
    );
    assert_eq!(duplicate["commit"], build(&serve, production_id)["commit"]);
    let duplicate_id = duplicate["id"].as_i64().unwrap();
    assert_eq!(
        psql(
            &serve,
            duplicate_id,
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ),
        "true"
    );
    assert_eq!(production(&serve).unwrap()["build"], production_id);

    // Dumps: Odoo's zip, restored by Odoo's own database manager.
    let zip = temp.path().join("production.zip");
    let dumped = serve.cli(&[
        "dump",
        &production_id.to_string(),
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let custom = temp.path().join("production.dump");
    let dumped = serve.cli(&[
        "dump",
        &production_id.to_string(),
        "-o",
        custom.to_str().unwrap(),
        "--format",
        "dump",
    ]);
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    assert!(std::fs::read(&custom).unwrap().starts_with(b"PGDMP"));
    restore_through_odoo_database_manager(&serve, temp.path(), version, &zip);
}

common::on_both_versions!(staging_is_a_neutralized_copy_whose_mail_is_caught_and_dumps_restore);

/// Odoo's `/websocket` (16.0+) through the proxy: the upgrade is answered
/// 101, and a close frame sent afterwards gets Odoo's close frame back.
fn websocket_closes_through_the_proxy(serve: &Serve, build: i64) {
    use std::io::{Read, Write};
    let host = format!("{build}.localhost:{}", serve.port);
    let token = serve.token();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /websocket HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
         X-Slipway-Token: {token}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // A masked close frame, code 1000.
    let mask = [1u8, 2, 3, 4];
    stream
        .write_all(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ mask[0], 0xE8 ^ mask[1]])
        .unwrap();
    let mut answer = [0u8; 2];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(answer[0], 0x88, "Odoo answered the close frame: {answer:?}");
}

/// Starts a kept build of `slipway ci` with Odoo's database manager enabled
/// (a role that may create databases, a known master password) and restores
/// `zip` through `/web/database/restore`, as a user would in a browser.
fn restore_through_odoo_database_manager(serve: &Serve, dir: &Path, version: &str, zip: &Path) {
    let repo = common::repository(dir, "passing");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "ci",
            repo.to_str().unwrap(),
            "--odoo",
            version,
            "--keep",
            "--json",
        ])
        .envs(common::serve::env(&serve.home))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(report["status"], "success", "{report}");
    let build_id = Path::new(report["log"].as_str().unwrap())
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let script = serve
        .home
        .join("builds")
        .join(&build_id)
        .join("start-odoo.sh");
    let port: u16 = std::fs::read_to_string(&script)
        .unwrap()
        .split_whitespace()
        .skip_while(|word| *word != "--http-port")
        .nth(1)
        .and_then(|port| port.parse().ok())
        .expect("the start script names its port");
    let config = script.with_file_name("odoo.conf");
    let cluster = embedded_cluster(&serve.home);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let role = "slipway_restore_test";
    runtime.block_on(async {
        let client = cluster.connect("postgres").await.unwrap();
        // One statement per call: DROP DATABASE refuses a multi-statement string.
        for sql in [
            "DROP DATABASE IF EXISTS restored WITH (FORCE)".to_string(),
            format!("DROP ROLE IF EXISTS {role}"),
            format!("CREATE ROLE {role} LOGIN CREATEDB PASSWORD 'restore-secret'"),
        ] {
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    });
    let text = std::fs::read_to_string(&config).unwrap();
    let text: String = text
        .lines()
        .filter(|line| !line.starts_with("dbfilter") && !line.starts_with("db_name"))
        .map(|line| {
            if line.starts_with("db_user") {
                format!("db_user = {role}\n")
            } else if line.starts_with("db_password") {
                "db_password = restore-secret\n".to_string()
            } else if line.starts_with("list_db") {
                "list_db = True\n".to_string()
            } else if line.starts_with("admin_passwd") {
                "admin_passwd = master-secret\n".to_string()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&config, text).unwrap();
    let mut odoo = std::process::Command::new(&script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    // Any answer will do: the build's own database is not this role's.
    wait_for("the kept build to answer", Duration::from_secs(120), || {
        !matches!(
            ureq::get(&format!("{base}/web/webclient/version_info")).call(),
            Err(ureq::Error::Transport(_))
        )
    });
    let boundary = "slipwayrestoreboundary";
    let mut body = Vec::new();
    for (name, value) in [
        ("master_pwd", "master-secret"),
        ("name", "restored"),
        ("copy", "true"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"backup_file\"; filename=\"production.zip\"\r\nContent-Type: application/zip\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&std::fs::read(zip).unwrap());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(300))
        .build();
    let answer = agent
        .post(&format!("{base}/web/database/restore"))
        .set(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send_bytes(&body);
    let status = match answer {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, response)) => {
            panic!(
                "restore answered {code}: {}",
                response.into_string().unwrap_or_default()
            )
        }
        Err(error) => panic!("{error}"),
    };
    let _ = odoo.kill();
    let _ = odoo.wait();
    // Odoo redirects to /web/database/manager on success, answers 200 with
    // the error in the page otherwise: the database itself says.
    assert!(status == 303 || status == 302 || status == 200, "{status}");
    let restored = runtime.block_on(async {
        let client = cluster.connect("restored").await;
        let client = client.expect("the restored database exists");
        client
            .query_one(
                "SELECT count(*) FROM res_partner WHERE name = 'Copied customer'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    });
    assert_eq!(
        restored, 1,
        "the restored database holds production's records"
    );
    runtime.block_on(async {
        let client = cluster.connect("postgres").await.unwrap();
        let _ = client
            .batch_execute("DROP DATABASE IF EXISTS restored WITH (FORCE)")
            .await;
        let _ = client
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await;
    });
    let _ = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["kept", "remove", &build_id])
        .envs(common::serve::env(&serve.home))
        .output();
}
