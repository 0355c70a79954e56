//! Production and staging end to end, on real Odoo 14.0 and 19.0: a
//! production database updated push after push without losing a record, rolled
//! back when an update fails (also when slipway is killed in the middle),
//! neutralized staging copies whose mail is caught, and dumps that Odoo's own
//! database manager restores.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use common::serve::{embedded_cluster, wait_for, Serve, BUILD_LIMIT};

fn add_project(serve: &Serve, repo: &Path, version: &str) {
    serve.add_project(
        "shop",
        repo,
        version,
        &["--poll-interval", "1", "--quiet-period", "3"],
    );
}

fn push(repo: &Path, message: &str) -> String {
    common::git(repo, &["add", "-A"]);
    common::git(repo, &["commit", "-qm", message]);
    common::git(repo, &["rev-parse", "HEAD"])
}

/// Copies a fixture of `production_changes` into the repository as `addon`.
fn put_addon(repo: &Path, change: &str, addon: &str) {
    let from = Path::new(common::FIXTURES)
        .join("production_changes")
        .join(change);
    let to = repo.join(addon);
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(&from, &to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn production(serve: &Serve) -> Option<Value> {
    let output = serve.cli(&["production", "shop", "--json"]);
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).unwrap())
}

fn build(serve: &Serve, id: i64) -> Value {
    serve
        .builds("shop")
        .into_iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no build #{id}"))
}

fn database_of(serve: &Serve, build: i64) -> String {
    let cluster = embedded_cluster(&serve.home);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = cluster.connect("slipway_control").await.unwrap();
        client
            .query_one("SELECT database FROM builds WHERE id = $1", &[&build])
            .await
            .unwrap()
            .get(0)
    })
}

/// Why a build is in its state, for assertion messages.
fn reason_of(serve: &Serve, build: i64) -> String {
    let cluster = embedded_cluster(&serve.home);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = cluster.connect("slipway_control").await.unwrap();
        client
            .query_one(
                "SELECT coalesce(reason, '') FROM builds WHERE id = $1",
                &[&build],
            )
            .await
            .unwrap()
            .get(0)
    })
}

/// An Odoo reached through slipway's proxy as `<label>.localhost`, with the
/// host's API token (a build's address is not open to anonymous callers).
struct Odoo {
    agent: ureq::Agent,
    base: String,
    database: String,
    token: String,
}

impl Odoo {
    fn through_proxy(serve: &Serve, label: &str, database: &str) -> Odoo {
        let port = serve.port;
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            // `*.localhost` needs no DNS in browsers; here, resolve it ourselves.
            .resolver(move |_: &str| Ok(vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))]))
            .build();
        Odoo {
            agent,
            base: format!("http://{label}.localhost:{port}"),
            database: database.to_string(),
            token: serve.token(),
        }
    }

    fn status(&self, path: &str) -> u16 {
        let request = self.agent.get(&format!("{}{path}", self.base));
        match request.set("X-Slipway-Token", &self.token).call() {
            Ok(response) => response.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(_) => 0,
        }
    }

    fn rpc(&self, service: &str, method: &str, args: Value) -> Value {
        let response: Value = self
            .agent
            .post(&format!("{}/jsonrpc", self.base))
            .set("X-Slipway-Token", &self.token)
            .send_json(json!({
                "jsonrpc": "2.0", "method": "call", "id": 1,
                "params": {"service": service, "method": method, "args": args},
            }))
            .unwrap()
            .into_json()
            .unwrap();
        assert!(
            response["error"].is_null(),
            "{service}.{method}: {response}"
        );
        response["result"].clone()
    }

    /// `model.method(*args)` as admin (a production database without demo
    /// data: admin's password is Odoo's initial one).
    fn call(&self, model: &str, method: &str, args: Value) -> Value {
        let uid = self.rpc("common", "login", json!([self.database, "admin", "admin"]));
        assert!(uid.is_i64(), "admin logs in: {uid}");
        self.rpc(
            "object",
            "execute_kw",
            json!([self.database, uid, "admin", model, method, args]),
        )
    }

    fn param(&self, key: &str) -> Value {
        self.call("ir.config_parameter", "get_param", json!([key]))
    }
}

fn psql(serve: &Serve, build: i64, sql: &str) -> String {
    let output = serve.cli(&["psql", &build.to_string(), "-tA", "-c", sql]);
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn production_updates_only_what_changed_and_rolls_back_even_when_killed(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "production");
    let home = temp.path().join("home");
    // Stopped builds' databases are collected 90 s after they stop.
    let retention = ["--stopped-retention-seconds", "90"];
    let mut serve = Serve::start(&home, &retention);
    add_project(&serve, &repo, version);

    // The first push creates the production database.
    std::fs::write(repo.join("README"), "shop\n").unwrap();
    push(&repo, "first release");
    wait_for("production to serve", BUILD_LIMIT, || {
        production(&serve).is_some()
    });
    let first = production(&serve).unwrap();
    let first_id = first["build"].as_i64().unwrap();
    assert_eq!(
        first["url"],
        format!("http://shop.localhost:{}", serve.port)
    );
    let database = database_of(&serve, first_id);
    let odoo = Odoo::through_proxy(&serve, "shop", &database);
    assert_eq!(odoo.status("/web/login"), 200);
    assert_eq!(
        psql(
            &serve,
            first_id,
            "SELECT count(*) FROM res_partner WHERE name = 'Mitchell Admin'"
        ),
        "0",
        "production has no demo data"
    );

    // Records and edits made through Odoo before the next push.
    let partner = odoo.call("res.partner", "create", json!([{"name": "Kept customer"}]));
    odoo.call(
        "ir.config_parameter",
        "set_param",
        json!(["shop.base", "edited"]),
    );

    // A push changing shop_extra only: only shop_extra is updated.
    std::fs::write(
        repo.join("shop_extra/data/params.xml"),
        std::fs::read_to_string(repo.join("shop_extra/data/params.xml"))
            .unwrap()
            .replace(">v1<", ">v2<"),
    )
    .unwrap();
    push(&repo, "shop_extra v2");
    wait_for("the update to serve", BUILD_LIMIT, || {
        production(&serve).is_some_and(|p| p["build"] != first_id)
    });
    let second = production(&serve).unwrap();
    let second_id = second["build"].as_i64().unwrap();
    let odoo = Odoo::through_proxy(&serve, "shop", &database_of(&serve, second_id));
    assert_eq!(
        odoo.param("shop.extra"),
        "v2",
        "the changed module was updated"
    );
    assert_eq!(
        odoo.param("shop.base"),
        "edited",
        "the unchanged module was not updated (its data would have been reloaded)"
    );
    let names = odoo.call("res.partner", "read", json!([[partner], ["name"]]));
    assert_eq!(names[0]["name"], "Kept customer");
    assert_eq!(
        build(&serve, first_id)["state"],
        "stopped",
        "the previous production build is stopped, its database kept as the snapshot"
    );
    let checksums = psql(
        &serve,
        second_id,
        "SELECT value FROM ir_config_parameter WHERE key = 'module_auto_update.installed_checksums'",
    );
    let checksums: Value = serde_json::from_str(&checksums).unwrap();
    for module in ["shop_base", "shop_extra", "shop_mail"] {
        assert_eq!(
            checksums[module].as_str().map(str::len),
            Some(40),
            "OCA's checksum of {module} is stored: {checksums}"
        );
    }

    // A third release: the snapshot before it (the second build's database)
    // stays, older ones are dropped at once (each is a full copy).
    std::fs::write(repo.join("README"), "third release\n").unwrap();
    push(&repo, "third release");
    wait_for("the third release to serve", BUILD_LIMIT, || {
        production(&serve).is_some_and(|p| p["build"] != second_id)
    });
    let third_id = production(&serve).unwrap()["build"].as_i64().unwrap();
    let collected = |id: i64| {
        let cluster = embedded_cluster(&serve.home);
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let client = cluster.connect("slipway_control").await.unwrap();
            client
                .query_one(
                    "SELECT collected_at IS NOT NULL FROM builds WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap()
                .get::<_, bool>(0)
        })
    };
    // Right after the switch, not after the retention (90 s here).
    wait_for(
        "the older snapshot to be dropped",
        Duration::from_secs(15),
        || collected(first_id),
    );
    assert!(!collected(second_id), "the newest snapshot stays");
    let (snapshot_id, second_id) = (second_id, third_id);
    let odoo = Odoo::through_proxy(&serve, "shop", &database_of(&serve, second_id));
    assert_eq!(
        odoo.param("shop.extra"),
        "v2",
        "nothing changed, nothing updated"
    );

    // A push whose update takes long and then fails; slipway is killed in the
    // middle of it, then restarted.
    put_addon(&repo, "shop_extra_slow_failure", "shop_extra");
    push(&repo, "shop_extra fails to update");
    let mut saw_maintenance = false;
    wait_for("the update to stop production", BUILD_LIMIT, || {
        let status = odoo.status("/web/login");
        saw_maintenance |= status == 503;
        saw_maintenance
    });
    std::thread::sleep(Duration::from_secs(3));
    serve.kill();
    let serve = Serve::start(&home, &retention);
    let failing = serve
        .builds("shop")
        .into_iter()
        .find(|b| b["id"].as_i64().unwrap() > second_id)
        .expect("the failing build is listed");
    let failing_id = failing["id"].as_i64().unwrap();
    wait_for("the failing update to end", BUILD_LIMIT, || {
        build(&serve, failing_id)["state"] == "done"
    });
    let failed = build(&serve, failing_id);
    assert_eq!(failed["status"], "failed", "{failed}");
    // The restarted server listens on another port.
    let odoo = Odoo::through_proxy(&serve, "shop", &database_of(&serve, second_id));
    wait_for(
        "production to serve again",
        Duration::from_secs(120),
        || odoo.status("/web/login") == 200,
    );
    let production_now = production(&serve).unwrap();
    assert_eq!(
        production_now["build"], second_id,
        "the previous build serves again"
    );
    assert_eq!(
        odoo.param("shop.extra"),
        "v2",
        "production's database is untouched"
    );
    let names = odoo.call("res.partner", "read", json!([[partner], ["name"]]));
    assert_eq!(names[0]["name"], "Kept customer");
    let shown = serve.json(&["builds", "shop", "--branch", "main", "--json"]);
    assert_eq!(
        shown[0]["id"], second_id,
        "the serving production build is listed first: {shown}"
    );
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == failing_id),
        "the failed build is listed after it: {shown}"
    );
    let log = serve.cli(&["logs", &failing_id.to_string()]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("shop_extra cannot be updated"),
        "the failed build keeps its log"
    );

    // The snapshot's database is collected after the retention: a dump of it
    // is refused, cleanly.
    let dump = home.join("snapshot.zip");
    wait_for(
        "the snapshot to be collected",
        Duration::from_secs(240),
        || {
            let output = serve.cli(&[
                "dump",
                &snapshot_id.to_string(),
                "-o",
                dump.to_str().unwrap(),
            ]);
            if output.status.success() {
                // Not collected yet: that dump worked.
                std::fs::remove_file(&dump).unwrap();
                return false;
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("no database any more"), "{stderr}");
            true
        },
    );
    assert!(!dump.exists(), "a refused dump leaves no file");
    assert_eq!(production(&serve).unwrap()["build"], second_id);

    // Production's database dropped behind slipway's back: the next update
    // fails with a reason that says so.
    let production_db = database_of(&serve, second_id);
    let cluster = embedded_cluster(&serve.home);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        cluster.drop_database(&production_db).await.unwrap();
    });
    std::fs::write(repo.join("README"), "after the loss\n").unwrap();
    push(&repo, "after the loss");
    wait_for(
        "the update of a missing database to fail",
        BUILD_LIMIT,
        || {
            serve
                .builds("shop")
                .iter()
                .any(|b| b["id"].as_i64().unwrap() > failing_id && b["state"] == "done")
        },
    );
    let lost = serve
        .builds("shop")
        .into_iter()
        .find(|b| b["id"].as_i64().unwrap() > failing_id)
        .unwrap();
    assert_eq!(lost["status"], "failed");
    let reason = reason_of(&serve, lost["id"].as_i64().unwrap());
    assert!(
        reason.contains(&format!("database '{production_db}' does not exist")),
        "{reason}"
    );
}

common::on_both_versions!(production_updates_only_what_changed_and_rolls_back_even_when_killed);

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

/// The customer's real SMTP server, standing in: records every mail with
/// the subject it had (the test's modules name their database there).
#[derive(Default)]
struct CustomerSmtp {
    subjects: Mutex<Vec<String>>,
}

impl slipway_mailcatcher::Mailboxes for CustomerSmtp {
    fn authenticate<'a>(
        &'a self,
        _login: &'a str,
        _secret: &'a str,
    ) -> slipway_mailcatcher::BoxFuture<'a, Option<slipway_mailcatcher::MailboxId>> {
        Box::pin(async { Some(1) })
    }

    fn deliver(
        &self,
        _mailbox: slipway_mailcatcher::MailboxId,
        mail: slipway_mailcatcher::CaughtMail,
    ) -> slipway_mailcatcher::BoxFuture<'_, Result<(), slipway_mailcatcher::DeliveryError>> {
        self.subjects.lock().unwrap().push(mail.summary.subject);
        Box::pin(async { Ok(()) })
    }
}

fn start_customer_smtp(runtime: &tokio::runtime::Runtime) -> (Arc<CustomerSmtp>, u16) {
    let smtp = Arc::new(CustomerSmtp::default());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let mailboxes: Arc<dyn slipway_mailcatcher::Mailboxes> = smtp.clone();
    runtime.spawn(slipway_mailcatcher::serve(
        listener,
        mailboxes,
        std::future::pending(),
    ));
    (smtp, port)
}

fn staging_is_a_neutralized_copy_whose_mail_is_caught_and_dumps_restore(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "production");
    let home = temp.path().join("home");
    let serve = Serve::start(&home, &[]);
    add_project(&serve, &repo, version);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (customer_smtp, smtp_port) = start_customer_smtp(&runtime);

    std::fs::write(repo.join("README"), "shop\n").unwrap();
    push(&repo, "first release");
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
            .iter()
            .any(|b| b["state"] != "pending" && b["state"] != "running")
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
        .subjects
        .lock()
        .unwrap()
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
