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

    // Regression: this check passed with the reaper removed, since a real
    // sandbox dies with its slipway. A sandbox that outlived it (bubblewrap's
    // set-up window lets the inner process miss the parent's death) runs
    // forever without the reaper.
    let orphan = OrphanSandbox::start();
    let orphan = orphan.0;

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
    assert!(
        !std::path::Path::new(&format!("/proc/{orphan}")).exists() || is_zombie(orphan),
        "the orphaned sandbox {orphan} still runs after the next run's reaper"
    );
    assert_cleaned_up(&id).await;
}

/// A bubblewrap sandbox on the data dir whose parent exited at once, as one
/// left by a slipway killed during the sandbox's set-up: re-parented to init.
/// Killed on drop, so a failing test leaves nothing running.
struct OrphanSandbox(u32);

impl Drop for OrphanSandbox {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

impl OrphanSandbox {
    fn start() -> OrphanSandbox {
        let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"bwrap --ro-bind / / --die-with-parent --chdir "$1" sleep 600 >/dev/null 2>&1 & echo $!"#)
        .arg("sh")
        .arg(home())
        .output()
        .unwrap();
        let pid: u32 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while parent_of(pid) != Some(1) {
            assert!(
                Instant::now() < deadline,
                "the stand-in sandbox {pid} was not re-parented to init (parent {:?}): \
             a subreaper above the test hides orphans from the reaper",
                parent_of(pid)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OrphanSandbox(pid)
    }
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields.first().is_some_and(|state| state == "Z"))
}
