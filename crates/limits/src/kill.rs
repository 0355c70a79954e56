//! Killing a listed process only if it is still the one that was listed.
//!
//! A pid read from `cgroup.procs` may be reaped and reused by an unrelated
//! process before the signal is sent, which a fork bomb (fast pid churn) makes
//! likely enough to matter for a process running as root. A pidfd pins the
//! process: it is opened first, membership is checked after, and the signal goes
//! through the pidfd, so it reaches the checked process or none.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::detect::ProcKey;

/// Sends SIGKILL to `pid` if it is in the cgroup `cgroup` (or below) of the
/// hierarchy `key`.
pub(crate) fn kill_member(pid: u32, key: ProcKey, cgroup: &str) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: pidfd_open(2) takes a pid and flags (none) and returns a new
    // descriptor or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        if io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS)
            && is_member(pid, key, cgroup)
        {
            // Kernel before 5.3: no pidfd. The pid was listed and is still in the
            // group an instant ago; this is the best it can do.
            // SAFETY: kill(2) with a positive pid takes no memory.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        return; // ESRCH: gone already.
    }
    // SAFETY: pidfd_open just returned this descriptor; nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    if !is_member(pid, key, cgroup) {
        return; // Reaped and reused by a process outside the build.
    }
    // SAFETY: `pidfd` is a pidfd this function owns; a null siginfo is allowed
    // (the kernel fills it as kill(2) would) and flags are none.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

fn is_member(pid: libc::pid_t, key: ProcKey, cgroup: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return false;
    };
    key.find(&text).is_some_and(|path| {
        path == cgroup
            || path
                .strip_prefix(cgroup)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}
