//! Production end to end, on real Odoo 14.0 and 19.0: a production database
//! updated push after push without losing a record, its snapshots kept and
//! collected, rolled back when an update fails (also when slipway is killed in
//! the middle), and an update of a database lost behind slipway's back failed
//! with a reason that says so.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::serve::{embedded_cluster, wait_for, Serve, BUILD_LIMIT};
use common::shop::{
    add_project, build, database_of, of_build, production, psql, push, put_addon, reason_of, Odoo,
};

fn production_updates_only_what_changed_and_rolls_back_even_when_killed(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "production");
    let home = temp.path().join("home");
    // Stopped builds' databases are collected 90 s after they stop.
    let retention = ["--stopped-retention-seconds", "90"];
    let mut serve = Serve::start(&home, &retention);
    std::fs::write(repo.join("README"), "shop\n").unwrap();
    push(&repo, "first release");
    // Adding the project builds production's head: the production database.
    add_project(&serve, &repo, version);
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
    let collected = |id: i64| of_build::<bool>(&serve, id, "collected_at IS NOT NULL");
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
