//! Limits end to end, on real Odoo 19.0 under `slipway serve`, the worker
//! giving development builds 2 GiB and the project its own 1.5 GiB: a module
//! that allocates 3 GiB when installed fails its build, saying it ran out of
//! memory (of the project's limit); a module that forks 5000 processes is
//! held by the process limit and fails its build, saying so; a served build
//! whose request allocates 3 GiB is stopped, saying why; production answers
//! every request meanwhile, and the worker goes on.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::serve::{wait_for, Serve, BUILD_LIMIT};
use common::shop::{
    add_project, database_of, newest_build_once, production, push, put_addon_of, reason_of, Odoo,
};

#[test]
fn memory_hogs_and_a_fork_bomb_are_held_at_the_project_s_limit_while_production_answers() {
    common::require_root("builds run in control groups of their own");
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let serve = Serve::start(&home, &["--development-memory-mib", "2048"]);
    let repo = common::repository(temp.path(), "passing");
    push_empty(&repo, "first release");
    add_project(&serve, &repo, "19.0");
    // The project's own limit wins over the worker's default.
    serve.ok(&[
        "project",
        "limits",
        "shop",
        "--development-memory-mib",
        "1536",
    ]);
    wait_for("production to serve", BUILD_LIMIT, || {
        production(&serve).is_some()
    });

    // Production, asked all along.
    let odoo = Odoo::through_proxy(&serve, "shop", "");
    assert_eq!(odoo.status("/web/login"), 200);
    let stop = Arc::new(AtomicBool::new(false));
    let (asked, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let asking = {
        let (stop, asked, failed) = (stop.clone(), asked.clone(), failed.clone());
        let odoo = Odoo::through_proxy(&serve, "shop", "");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                asked.fetch_add(1, Ordering::Relaxed);
                let status = odoo.status("/web/login");
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("production answered {status}");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    for (branch, addon, reason) in [
        ("hog", "memory_hog", "out of memory: limit 1.5 GiB"),
        ("bomb", "fork_bomb", "too many processes: limit 1024"),
    ] {
        common::git(&repo, &["checkout", "-q", "main"]);
        common::git(&repo, &["checkout", "-qb", branch]);
        put_addon_of(&repo, "limits_changes", addon, addon);
        push(&repo, addon);
        let id = newest_build_once(&serve, branch, "to end", |newest| {
            matches!(
                newest["state"].as_str(),
                Some("done" | "serving" | "stopped")
            )
        });
        let build = serve.builds_of("shop", branch)[0].clone();
        assert_eq!(build["status"], "failed", "{build}");
        let why = reason_of(&serve, id);
        let log = serve.ok(&["logs", &id.to_string()]);
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        assert!(
            why.starts_with(reason),
            "{branch}: {why}\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }

    // A served build that takes too much in a request: stopped, saying why.
    // Regression: its sandbox, ended but not reaped (a zombie), still had a
    // /proc entry and read as running: the build showed "serving" forever.
    common::git(&repo, &["checkout", "-q", "main"]);
    common::git(&repo, &["checkout", "-qb", "served"]);
    put_addon_of(&repo, "limits_changes", "served_hog", "served_hog");
    push(&repo, "served hog");
    let id = newest_build_once(&serve, "served", "to serve", |newest| {
        assert_ne!(newest["status"], "failed", "{newest}");
        newest["state"] == "serving"
    });
    let served = Odoo::through_proxy(&serve, &id.to_string(), &database_of(&serve, id));
    assert_ne!(served.status("/limits/hog"), 200, "3 GiB in 1.5 GiB");
    wait_for(
        "the served hog to be stopped",
        Duration::from_secs(60),
        || serve.builds_of("shop", "served")[0]["state"] == "stopped",
    );
    assert_eq!(
        reason_of(&serve, id),
        "its Odoo server was killed: out of memory: limit 1.5 GiB"
    );

    stop.store(true, Ordering::Relaxed);
    asking.join().unwrap();
    let (asked, failed) = (
        asked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert!(asked > 10, "production was asked {asked} times");
    assert_eq!(failed, 0, "production failed {failed} of {asked} requests");
    // The worker went on: slipway answers and production still serves.
    assert!(serve.cli(&["status"]).status.success());
    assert!(production(&serve).is_some());
}

/// A commit of nothing new, so that the branch has a commit of its own.
fn push_empty(repo: &std::path::Path, message: &str) {
    std::fs::write(repo.join("README"), format!("{message}\n")).unwrap();
    push(repo, message);
}
