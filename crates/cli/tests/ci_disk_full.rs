//! A disk that fills up while a build's database is copied from its template:
//! a clear message, exit 2, nothing left behind, the cluster still serving.

mod common;

use std::path::Path;
use std::process::Command;

use common::{repository, require_root, slipway};

/// A size-limited tmpfs, unmounted (its cluster stopped first) however the test ends.
struct SmallDisk<'a>(&'a Path);

impl Drop for SmallDisk<'_> {
    fn drop(&mut self) {
        let _ = slipway()
            .args(["postgres", "stop"])
            .env("SLIPWAY_HOME", self.0)
            .output();
        let _ = Command::new("umount").arg(self.0).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) }, 0);
    stat.f_bavail as u64 * stat.f_frsize as u64
}

/// Regression: copies through the WAL (`STRATEGY WAL_LOG`) made PostgreSQL PANIC
/// and restart on a full disk, killing every session of the cluster.
#[test]
fn disk_full_while_copying_the_template_fails_cleanly_without_crashing_the_cluster() {
    require_root("mounting a small disk");
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("small-disk");
    std::fs::create_dir_all(&home).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96m,mode=755", "tmpfs"])
        .arg(&home)
        .status()
        .unwrap();
    assert!(mounted.success());
    let _disk = SmallDisk(&home);
    let repo = repository(temp.path(), "passing");
    let ci = || {
        slipway()
            .arg("ci")
            .arg(&repo)
            .args(["--odoo", "14.0"])
            .env("SLIPWAY_HOME", &home)
            .output()
            .unwrap()
    };

    // Cluster and template fit; then only a few megabytes stay free, less than
    // one copy of the template needs.
    let first = ci();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let ballast = free_bytes(&home).saturating_sub(3 << 20);
    let status = Command::new("fallocate")
        .args(["-l", &ballast.to_string()])
        .arg(home.join("ballast"))
        .status()
        .unwrap();
    assert!(status.success());

    let full = ci();
    let message = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(2), "{message}");
    assert!(
        message.contains("disk holding PostgreSQL's data is full"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(home.join("builds")).unwrap().count(),
        0,
        "build directory left behind"
    );
    assert_eq!(
        std::fs::read_dir(home.join("runs")).unwrap().count(),
        0,
        "run marker left behind"
    );

    // Space back: the same cluster builds again.
    std::fs::remove_file(home.join("ballast")).unwrap();
    let again = ci();
    let server_log = std::fs::read_to_string(home.join("postgres/server.log")).unwrap_or_default();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}\nserver log:\n{server_log}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        !server_log.contains("PANIC"),
        "the full disk crashed the cluster:\n{server_log}"
    );
}
