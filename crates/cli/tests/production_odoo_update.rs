//! A project on Odoo from source, end to end under `slipway serve` (19.0
//! stand-in of odoo/odoo): production never changes its Odoo by itself — a
//! push keeps production's Odoo commit while a development branch follows the
//! moved source — and an explicit Odoo update moves production to the new
//! commit as an update of the core module that changed, keeping its records.

mod common;

use serde_json::{json, Value};

use common::odoo_source::upstream;
use common::serve::{wait_for, Serve, BUILD_LIMIT};
use common::shop::{database_of, of_build, production, push, Odoo};

/// The log line the stand-in's second commit adds to a core module.
const PATCH_LINE: &str = "slipway stand-in: core patched";

fn odoo_commit(build: &Value) -> String {
    build["sources"]
        .as_array()
        .and_then(|sources| sources.iter().find(|source| source["name"] == "odoo"))
        .and_then(|source| source["commit"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn builds_of(serve: &Serve, branch: &str) -> Vec<Value> {
    serve.builds_of("shop", branch)
}

/// The newest build of `branch` once it ended, if it did.
fn finished(serve: &Serve, branch: &str) -> Option<Value> {
    builds_of(serve, branch)
        .into_iter()
        .next()
        .filter(|build| build["state"] != "pending" && build["state"] != "running")
}

#[test]
fn production_keeps_its_odoo_until_an_explicit_update_which_updates_the_changed_core() {
    let standin = upstream("19.0");
    let temp = tempfile::tempdir().unwrap();
    // The project's Odoo repository: the stand-in's branch at its first commit.
    let odoo_repo = temp.path().join("odoo");
    common::git(
        temp.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "19.0",
            standin.repo.to_str().unwrap(),
            "odoo",
        ],
    );
    common::git(&odoo_repo, &["reset", "--quiet", "--hard", &standin.first]);

    let repo = common::repository(temp.path(), "production");
    std::fs::write(repo.join("README"), "shop\n").unwrap();
    push(&repo, "first release");
    let serve = Serve::start(&temp.path().join("home"), &[]);
    serve.add_project(
        "shop",
        &repo,
        "19.0",
        &[
            "--poll-interval",
            "1",
            "--quiet-period",
            "2",
            "--odoo-repo",
            odoo_repo.to_str().unwrap(),
        ],
    );
    wait_for("production to serve", BUILD_LIMIT, || {
        production(&serve).is_some()
    });
    let first = builds_of(&serve, "main").remove(0);
    assert_eq!(odoo_commit(&first), standin.first, "{first}");
    let database = database_of(&serve, first["id"].as_i64().unwrap());
    let odoo = Odoo::through_proxy(&serve, "shop", &database);
    odoo.call("res.partner", "create", json!([{"name": "Kept customer"}]));

    // Odoo's branch moves: a development branch builds on the new commit...
    common::git(&repo, &["checkout", "-qb", "feature"]);
    std::fs::write(repo.join("FEATURE"), "a feature\n").unwrap();
    push(&repo, "a feature");
    wait_for("the feature's first build", BUILD_LIMIT, || {
        finished(&serve, "feature").is_some()
    });
    common::git(&odoo_repo, &["reset", "--quiet", "--hard", &standin.second]);
    wait_for(
        "the feature to build on the moved Odoo",
        BUILD_LIMIT,
        || finished(&serve, "feature").is_some_and(|build| odoo_commit(&build) == standin.second),
    );
    let feature = finished(&serve, "feature").unwrap();
    // The fixture has no tests: Odoo warns that it ran none.
    assert_eq!(feature["status"], "warning", "{feature}");

    // ...while a push to production keeps production's Odoo.
    common::git(&repo, &["checkout", "-q", "main"]);
    std::fs::write(repo.join("README"), "shop, second release\n").unwrap();
    let second_release = push(&repo, "second release");
    wait_for(
        "production to update to the second release",
        BUILD_LIMIT,
        || {
            production(&serve)
                .is_some_and(|production| production["commit"] == second_release.as_str())
        },
    );
    let kept = builds_of(&serve, "main").remove(0);
    assert_eq!(
        odoo_commit(&kept),
        standin.first,
        "production changed its Odoo by itself"
    );

    // The explicit update: production on the new Odoo commit, base updated,
    // its records kept, the patched core live.
    let queued: Value = serve.json(&["odoo", "update", "shop", "--json"]);
    let update_id = queued["id"].as_i64().unwrap();
    wait_for("the Odoo update to serve", BUILD_LIMIT, || {
        production(&serve).is_some_and(|production| production["build"] == update_id)
    });
    let updated = builds_of(&serve, "main").remove(0);
    assert_eq!(updated["id"], update_id);
    assert_eq!(updated["commit"], second_release.as_str(), "the same code");
    assert_eq!(odoo_commit(&updated), standin.second);
    let log_path: String = of_build(&serve, update_id, "coalesce(log_path, '')");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains(PATCH_LINE), "the new core ran: {log_path}");
    assert!(
        log.contains("module base: creating or updating database tables"),
        "base was updated: {log_path}"
    );
    let database = database_of(&serve, update_id);
    let odoo = Odoo::through_proxy(&serve, "shop", &database);
    let found = odoo.call(
        "res.partner",
        "search_count",
        json!([[["name", "=", "Kept customer"]]]),
    );
    assert_eq!(found, 1, "production's records survive the Odoo update");
    odoo.call("res.partner", "create", json!([{"name": "New customer"}]));
    let read = odoo.call(
        "res.partner",
        "search_read",
        json!([[["name", "=", "New customer"]], ["function"]]),
    );
    assert_eq!(
        read[0]["function"], "slipway stand-in",
        "the patched default"
    );
}
