//! The host account builds and the embedded PostgreSQL run as.

use std::ffi::CString;
use std::path::Path;
use std::process::Command;

use crate::BuildError;

/// Name of the unprivileged system account slipway creates when it runs as root.
pub const SYSTEM_USER: &str = "slipway";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostAccount {
    pub uid: u32,
    pub gid: u32,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The account to drop to: `None` when slipway does not run as root (it then runs
/// everything as the invoking user); as root, the `slipway` system user, created
/// on first use.
pub fn build_account() -> Result<Option<HostAccount>, BuildError> {
    if !is_root() {
        return Ok(None);
    }
    if let Some(account) = lookup(SYSTEM_USER) {
        return Ok(Some(account));
    }
    tracing::info!(
        user = SYSTEM_USER,
        "creating the system user that runs PostgreSQL and the sandboxes"
    );
    let output = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
        ])
        .args([
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "slipway builds",
            SYSTEM_USER,
        ])
        .output()
        .map_err(|error| {
            BuildError::Host(format!(
                "cannot run useradd to create user '{SYSTEM_USER}': {error}"
            ))
        })?;
    // Exit 9: created meanwhile by a concurrent slipway.
    if !output.status.success() && output.status.code() != Some(9) {
        return Err(BuildError::Host(format!(
            "cannot create system user '{SYSTEM_USER}': {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    lookup(SYSTEM_USER).map(Some).ok_or_else(|| {
        BuildError::Host(format!(
            "system user '{SYSTEM_USER}' missing right after useradd"
        ))
    })
}

/// Fails, naming the directory, when `account` cannot enter one of `path`'s
/// ancestors (or `path` itself): PostgreSQL and the sandboxes run as that
/// account and would otherwise fail later with a bare "Permission denied"
/// (`/root` is 0700, so `SLIPWAY_HOME=/root/slipway` is the usual case).
pub fn check_reachable(path: &Path, account: HostAccount) -> Result<(), BuildError> {
    use std::os::unix::fs::MetadataExt;
    if account.uid == 0 {
        return Ok(());
    }
    let mut ancestors: Vec<&Path> = path.ancestors().collect();
    ancestors.reverse();
    for dir in ancestors {
        let Ok(metadata) = std::fs::metadata(dir) else {
            // Not created yet: slipway creates it, traversable.
            return Ok(());
        };
        let mode = metadata.mode();
        let search = if metadata.uid() == account.uid {
            mode & 0o100
        } else if metadata.gid() == account.gid {
            mode & 0o010
        } else {
            mode & 0o001
        };
        if search == 0 {
            return Err(BuildError::Host(format!(
                "the data dir {} is out of reach of the '{SYSTEM_USER}' account that runs \
                 PostgreSQL and the sandboxes: it cannot enter {} (mode {:04o}, owner uid {}). \
                 Choose a SLIPWAY_HOME it can reach (for example /var/lib/slipway), or let it \
                 through with `chmod o+x {}`",
                path.display(),
                dir.display(),
                mode & 0o7777,
                metadata.uid(),
                dir.display()
            )));
        }
    }
    Ok(())
}

fn lookup(name: &str) -> Option<HostAccount> {
    let name = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy the
    // two integers out immediately and never call it concurrently on this path.
    unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        if entry.is_null() {
            None
        } else {
            Some(HostAccount {
                uid: (*entry).pw_uid,
                gid: (*entry).pw_gid,
            })
        }
    }
}

/// Gives `path` (not recursively) to `account`, when there is one.
/// Writes a file only its owner reads (mode 0600), owned by `account`:
/// credentials for a sandbox.
pub(crate) fn write_private(
    path: &std::path::Path,
    content: &str,
    account: Option<HostAccount>,
) -> Result<(), crate::BuildError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(crate::BuildError::io("writing", path))?;
    file.write_all(content.as_bytes())
        .map_err(crate::BuildError::io("writing", path))?;
    hand_over(path, account).map_err(crate::BuildError::io("chown", path))
}

pub fn hand_over(path: &std::path::Path, account: Option<HostAccount>) -> std::io::Result<()> {
    match account {
        Some(account) => std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid)),
        None => Ok(()),
    }
}

/// Whether a process with this PID and start time still runs (PIDs are reused;
/// the start time in `/proc/<pid>/stat` tells a new process from the old one).
pub fn process_alive(pid: u32, start_time: u64) -> bool {
    process_start_time(pid) == Some(start_time)
}

/// Field 22 of `/proc/<pid>/stat`: start time in clock ticks since boot.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; the fields
    // after the last ')' are plain.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: HostAccount = HostAccount {
        uid: 65534,
        gid: 65534,
    };

    #[test]
    fn regression_data_dir_under_a_private_directory_is_refused_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let private = temp.path().join("private");
        let home = private.join("slipway");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let error = check_reachable(&home, NOBODY).unwrap_err().to_string();
        assert!(
            error.contains(&format!("cannot enter {} (mode 0700", private.display())),
            "{error}"
        );
        assert!(error.contains("SLIPWAY_HOME"), "{error}");

        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o701)).unwrap();
        check_reachable(&home, NOBODY).unwrap();
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id();
        let start = process_start_time(pid).unwrap();
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
        assert!(!process_alive(u32::MAX - 1, start));
    }
}
