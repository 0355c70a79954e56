//! A production update through the worker loop with a real Odoo: a failed
//! update rolls back to the build that served before, its data untouched.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Host;
use slipway_control::{BuildState, BuildStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An Odoo install and an update on a loaded machine.
const ODOO_RUN: Duration = Duration::from_secs(15 * 60);
const IMAGES: &str = "/var/cache/slipway/images";

const MANIFEST: &str = r#"{
    "name": "Shop core",
    "version": "VERSION",
    "author": "slipway tests",
    "license": "LGPL-3",
    "depends": ["base"],
    "data": ["data/params.xml"],
}
"#;

const PARAMS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<odoo>
    <record id="param_core" model="ir.config_parameter">
        <field name="key">shop.core</field>
        <field name="value">v1</field>
    </record>
</odoo>
"#;

/// Data of a model that does not exist: the update fails loading it.
const BROKEN_PARAMS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<odoo>
    <record id="param_core" model="shop.no_such_model">
        <field name="name">v2</field>
    </record>
</odoo>
"#;

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Commits shop_core at `version` with `params` as its data; returns the commit.
fn commit_shop_core(repo: &Path, version: &str, params: &str) -> String {
    let module = repo.join("shop_core");
    std::fs::create_dir_all(module.join("data")).unwrap();
    std::fs::write(module.join("__init__.py"), "").unwrap();
    std::fs::write(
        module.join("__manifest__.py"),
        MANIFEST.replace("VERSION", version),
    )
    .unwrap();
    std::fs::write(module.join("data/params.xml"), params).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", version]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The status line of `GET /web/login` on a loopback port.
async fn login_page_status(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|error| panic!("production does not answer on port {port}: {error}"));
    stream
        .write_all(b"GET /web/login HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_production_update_rolls_back_with_production_data_intact() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let good = commit_shop_core(repo.path(), "1.0", PARAMS);
    let mut host = Host::start("rollback", slipway_worker::LEASE, Some(Path::new(IMAGES))).await;
    let project = host
        .project("shop", &repo.path().display().to_string(), "14.0")
        .await;

    let production = host.push(&project, "main", &good).await;
    host.build_ended(production.id, ODOO_RUN).await;
    let production = host.build(production.id).await;
    assert_eq!(
        (production.state, production.status),
        (BuildState::Serving, Some(BuildStatus::Success)),
        "production's first build: {production:?}"
    );
    let database = production.database.clone().expect("production's database");
    let cluster = &slipway_postgres::test_support::shared().await.cluster;
    // What users did in production since: it must survive the failed update.
    cluster
        .connect(&database)
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES ('shop.customer', 'kept')",
        )
        .await
        .unwrap();

    let broken = commit_shop_core(repo.path(), "1.1", BROKEN_PARAMS);
    let update = host.push(&project, "main", &broken).await;
    host.build_ended(update.id, ODOO_RUN).await;
    let update = host.build(update.id).await;
    assert_eq!(
        (update.state, update.status),
        (BuildState::Done, Some(BuildStatus::Failed)),
        "the broken update: {update:?}"
    );
    let reason = update.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "production rolled back: build #{} serves again, its database untouched",
            production.id
        )),
        "the reason says production was rolled back: {reason}"
    );

    let served = host.build(production.id).await;
    assert_eq!(served.state, BuildState::Serving, "{served:?}");
    let port = served.port.expect("production's port");
    let status = login_page_status(port).await;
    assert!(
        status.contains(" 200 "),
        "production's login page: {status}"
    );
    let session = cluster.connect(&database).await.unwrap();
    for (key, value) in [("shop.customer", "kept"), ("shop.core", "v1")] {
        let row = session
            .query_one(
                "SELECT value FROM ir_config_parameter WHERE key = $1",
                &[&key],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, &str>(0), value, "production's {key}");
    }
    host.stop().await;
}
