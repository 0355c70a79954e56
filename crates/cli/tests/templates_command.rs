//! `slipway templates list|prune` in a data dir of its own.

mod common;

use common::{repository, slipway};

#[test]
fn templates_are_listed_and_pruned() {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let repo = repository(temp.path(), "passing");
    let run = |args: &[&str]| {
        slipway()
            .args(args)
            .env("SLIPWAY_HOME", &home)
            .output()
            .unwrap()
    };
    // Stops this test's own cluster however the test ends.
    struct StopCluster<F: Fn()>(F);
    impl<F: Fn()> Drop for StopCluster<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _stop = StopCluster(|| {
        let _ = slipway()
            .args(["postgres", "stop"])
            .env("SLIPWAY_HOME", &home)
            .output();
    });
    let build = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0"])
        .env("SLIPWAY_HOME", &home)
        .output()
        .unwrap();
    assert_eq!(
        build.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let list = String::from_utf8_lossy(&run(&["templates", "list"]).stdout).into_owned();
    assert!(
        list.contains("odoo-14.0-") && list.contains("modules"),
        "{list}"
    );
    let prune = String::from_utf8_lossy(&run(&["templates", "prune"]).stdout).into_owned();
    assert!(prune.contains("dropped 1 template database"), "{prune}");
    let list = String::from_utf8_lossy(&run(&["templates", "list"]).stdout).into_owned();
    assert!(list.contains("no template databases"), "{list}");
    assert_eq!(
        run(&["postgres", "status"]).status.code(),
        Some(0),
        "running"
    );
    assert_eq!(run(&["postgres", "stop"]).status.code(), Some(0));
    assert_eq!(
        run(&["postgres", "status"]).status.code(),
        Some(3),
        "stopped"
    );
}
