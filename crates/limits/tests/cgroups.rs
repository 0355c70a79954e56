//! Build groups against the real kernel, as root (CI is root; without root
//! these tests fail, saying so): a process past its memory limit is killed
//! and the group says so, a fork bomb stops at the process limit, and a
//! removed group leaves nothing.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;

use slipway_limits::{Cgroups, Limits};

const MIB: u64 = 1 << 20;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests make control groups: run them as root, as CI does"
    );
}

fn small(memory: u64, pids: u32) -> Limits {
    Limits {
        memory_max: memory,
        memory_high: None,
        cpu_weight: 50,
        cpu_max: Some(1.0),
        pids_max: pids,
    }
}

fn name(what: &str) -> String {
    format!("test-{what}-{}", std::process::id())
}

#[test]
fn a_process_past_the_memory_limit_is_killed_and_the_group_says_so() {
    require_root();
    let cgroups = Cgroups::detect().unwrap();
    let group = cgroups.create(&name("oom"), &small(64 * MIB, 64)).unwrap();
    let mut command = Command::new("python3");
    command.args(["-c", "hog = b'x' * (512 << 20); print('survived')"]);
    // SAFETY: the hook only writes to descriptors it opens.
    unsafe { command.pre_exec(group.join_hook()) };
    let output = command.output().unwrap();
    assert_eq!(output.status.signal(), Some(libc::SIGKILL), "{output:?}");
    assert!(group.oom_killed(), "the group counts the OOM kill");
    assert!(!group.pids_limited());
    let dirs: Vec<_> = group.dirs().map(|dir| dir.to_path_buf()).collect();
    group.remove().unwrap();
    assert!(dirs.iter().all(|dir| !dir.exists()), "{dirs:?}");
}

#[test]
fn a_fork_bomb_stops_at_the_process_limit() {
    require_root();
    let cgroups = Cgroups::detect().unwrap();
    let group = cgroups
        .create(&name("bomb"), &small(256 * MIB, 16))
        .unwrap();
    let mut command = Command::new("python3");
    command.args([
        "-c",
        "import os, time\n\
         n = 0\n\
         try:\n\
         \x20   for _ in range(200):\n\
         \x20       if os.fork() == 0:\n\
         \x20           os.close(1); os.close(2); time.sleep(30); os._exit(0)\n\
         \x20       n += 1\n\
         except OSError:\n\
         \x20   pass\n\
         print(n)\n\
         os._exit(0)",
    ]);
    // SAFETY: as above.
    unsafe { command.pre_exec(group.join_hook()) };
    // The sleepers close their output: only the parent's is waited for.
    let output = command.output().unwrap();
    let forked: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(forked < 16, "{forked} processes forked past a limit of 16");
    assert!(group.pids_limited(), "the group counts the refused forks");
    assert!(!group.procs().unwrap().is_empty(), "the sleepers are in it");
    // Removing it kills what is left.
    group.remove().unwrap();
    assert!(cgroups.list_orphans().iter().all(|n| *n != name("bomb")));
}
