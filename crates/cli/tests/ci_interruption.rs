//! A build interrupted by Ctrl-C cleans up at once; one killed with SIGKILL is
//! cleaned up by the next run's reaper, which also kills a sandbox that did not
//! die with it.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{assert_cleaned_up, home, repository, slipway};

const WAIT_FOR_ODOO: Duration = Duration::from_secs(300);

/// A child process that cannot outlive the test, whatever assertion fails.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `slipway ci` and waits until Odoo runs in its sandbox; returns the
/// child and the build id.
fn start_build_and_wait_for_odoo(repo: &std::path::Path) -> (Reaped, String) {
    let child = Reaped(
        slipway()
            .arg("ci")
            .arg(repo)
            .args(["--odoo", "14.0", "--no-template"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        if let Some(id) = build_of(child.0.id()) {
            let log = home().join("logs").join(&id).join("odoo.log");
            if std::fs::read_to_string(&log)
                .map(|text| text.contains("odoo.modules.loading"))
                .unwrap_or(false)
            {
                return (child, id);
            }
        }
        assert!(started.elapsed() < WAIT_FOR_ODOO, "Odoo never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The build id whose run marker belongs to process `pid`.
fn build_of(pid: u32) -> Option<String> {
    std::fs::read_dir(home().join("runs"))
        .ok()?
        .flatten()
        .find_map(|entry| {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let marker: serde_json::Value = serde_json::from_str(&text).ok()?;
            (marker["pid"] == pid).then(|| {
                entry
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
        })
}

fn odoo_processes_of(build_id: &str) -> Vec<PathBuf> {
    let needle = format!("slipway_b_{build_id}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).contains(&needle))
                .unwrap_or(false)
        })
        .map(|entry| entry.path())
        .collect()
}

fn wait_until_no_odoo(build_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !odoo_processes_of(build_id).is_empty() {
        assert!(
            Instant::now() < deadline,
            "Odoo of build {build_id} still runs: {:?}",
            odoo_processes_of(build_id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn ctrl_c_stops_odoo_and_removes_everything() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let (mut child, id) = start_build_and_wait_for_odoo(&repo);
    unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) };
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    wait_until_no_odoo(&id);
    assert_cleaned_up(&id).await;
}

#[tokio::test]
async fn sigkill_leaves_nothing_after_the_next_run() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let (mut child, id) = start_build_and_wait_for_odoo(&repo);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let cluster = common::admin_cluster();
    assert!(
        cluster
            .database_exists(&format!("slipway_b_{id}"))
            .await
            .unwrap(),
        "nothing could clean up yet"
    );

    // Any later run reaps what the dead one left.
    let other = repository(temp.path(), "missing_dependency");
    let output = slipway()
        .arg("ci")
        .arg(&other)
        .args(["--odoo", "14.0", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The sandbox died with its slipway, or that later run killed it.
    wait_until_no_odoo(&id);
    assert_cleaned_up(&id).await;
}
