//! One build's group: entering it, reading what it used, killing and removing it.

use std::ffi::{CStr, CString};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::detect::{CgroupVersion, Controller, ProcKey};
use crate::limits::CPU_PERIOD_US;
use crate::{files, kill, Limits, LimitsError};

/// How long [`BuildCgroup::kill_all`] waits for the killed processes to be gone,
/// and [`BuildCgroup::remove`] for the kernel to let the directories go. SIGKILL
/// takes effect at once except for a process in uninterruptible sleep (a hung
/// NFS mount, say), which no wait would help for long.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// The build group in one hierarchy.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) controllers: Vec<Controller>,
    pub(crate) dir: PathBuf,
    /// As the kernel names it in /proc/PID/cgroup.
    pub(crate) cgroup: String,
    pub(crate) key: ProcKey,
    /// `dir/cgroup.procs`, ready for the join hook.
    pub(crate) procs: CString,
}

/// One build's group, in every hierarchy [`crate::Cgroups`] uses. Dropping it
/// kills what is in it and removes it (best effort, logged; blocking for up to a
/// few seconds, so async code calls [`BuildCgroup::remove`] on a blocking thread).
#[derive(Debug)]
pub struct BuildCgroup {
    name: String,
    version: CgroupVersion,
    groups: Vec<Group>,
    /// Whether drop removes the group: not before it is made (a group only
    /// looked up by name, or one left behind and being taken over), not after
    /// [`BuildCgroup::remove`].
    armed: bool,
}

impl BuildCgroup {
    pub(crate) fn new(name: String, version: CgroupVersion, groups: Vec<Group>) -> BuildCgroup {
        BuildCgroup {
            name,
            version,
            groups,
            armed: false,
        }
    }

    pub(crate) fn arm(&mut self) {
        self.armed = true;
    }

    pub(crate) fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub(crate) fn exists(&self) -> bool {
        self.groups.iter().any(|g| g.dir.exists())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The group's directory in each hierarchy (one with v2).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.groups.iter().map(|g| g.dir.as_path())
    }

    /// Writes `limits` to the group's control files.
    pub(crate) fn apply(&self, limits: &Limits) -> Result<(), LimitsError> {
        for group in &self.groups {
            let present = |file: &str| group.dir.join(file).exists();
            for controller in &group.controllers {
                for (file, value) in settings(self.version, *controller, limits, &present) {
                    files::write(&group.dir.join(file), &value)?;
                }
            }
        }
        Ok(())
    }

    /// A hook for [`std::os::unix::process::CommandExt::pre_exec`] (or tokio's):
    /// the child moves itself into the group in every hierarchy before it execs,
    /// so that everything the command forks is limited from its first
    /// instruction.
    ///
    /// It runs between fork and exec, where only async-signal-safe calls are
    /// allowed: the `cgroup.procs` paths are computed here, and the hook only
    /// opens each, writes `0` (the writing process) and closes it.
    pub fn join_hook(&self) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
        let paths: Vec<CString> = self.groups.iter().map(|g| g.procs.clone()).collect();
        move || paths.iter().try_for_each(|path| join(path))
    }

    /// Memory in use now, in bytes (page cache included).
    pub fn memory_current(&self) -> Result<u64, LimitsError> {
        let file = match self.version {
            CgroupVersion::V2 => "memory.current",
            CgroupVersion::V1 => "memory.usage_in_bytes",
        };
        files::read_u64(&self.dir_of(Controller::Memory).join(file))
    }

    /// The most memory the group has used, in bytes (v2 needs Linux 5.19).
    pub fn memory_peak(&self) -> Result<u64, LimitsError> {
        let file = match self.version {
            CgroupVersion::V2 => "memory.peak",
            CgroupVersion::V1 => "memory.max_usage_in_bytes",
        };
        let path = self.dir_of(Controller::Memory).join(file);
        if !path.exists() && self.dir_of(Controller::Memory).exists() {
            return Err(LimitsError::Unsupported {
                what: "peak memory",
                path,
            });
        }
        files::read_u64(&path)
    }

    /// CPU time the group's processes used (user and system).
    pub fn cpu_usage(&self) -> Result<Duration, LimitsError> {
        match self.version {
            CgroupVersion::V2 => {
                let path = self.dir_of(Controller::Cpu).join("cpu.stat");
                match files::read_key(&path, "usage_usec")? {
                    Some(usec) => Ok(Duration::from_micros(usec)),
                    None => Err(LimitsError::Parse {
                        content: files::read(&path)?,
                        path,
                    }),
                }
            }
            CgroupVersion::V1 => {
                let Some(group) = self.group_with(Controller::Cpuacct) else {
                    return Err(LimitsError::Unsupported {
                        what: "CPU usage",
                        path: PathBuf::from("/sys/fs/cgroup/cpuacct (v1 cpuacct controller)"),
                    });
                };
                files::read_u64(&group.dir.join("cpuacct.usage")).map(Duration::from_nanos)
            }
        }
    }

    /// Tasks (processes and threads) in the group now.
    pub fn pids_current(&self) -> Result<u64, LimitsError> {
        files::read_u64(&self.dir_of(Controller::Pids).join("pids.current"))
    }

    /// Whether the kernel killed a process of the group for going past its
    /// memory limit. False if the count cannot be read.
    pub fn oom_killed(&self) -> bool {
        let (file, key) = match self.version {
            CgroupVersion::V2 => ("memory.events", "oom_kill"),
            // The `oom_kill` line of memory.oom_control: Linux 4.13 or later.
            CgroupVersion::V1 => ("memory.oom_control", "oom_kill"),
        };
        self.count(Controller::Memory, file, key) > 0
    }

    /// Whether a fork or clone failed because the group was at `pids_max`.
    /// False if the count cannot be read.
    pub fn pids_limited(&self) -> bool {
        self.count(Controller::Pids, "pids.events", "max") > 0
    }

    fn count(&self, controller: Controller, file: &str, key: &str) -> u64 {
        let path = self.dir_of(controller).join(file);
        match files::read_key(&path, key) {
            Ok(count) => count.unwrap_or(0),
            Err(error) => {
                tracing::debug!(%error, "cgroup counter unreadable");
                0
            }
        }
    }

    /// The processes in the group (and any group below it), each once.
    pub fn procs(&self) -> Result<Vec<u32>, LimitsError> {
        let mut pids: Vec<u32> = self.members()?.into_iter().map(|(pid, _)| pid).collect();
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Every process in the group with the group it was found in.
    fn members(&self) -> Result<Vec<(u32, &Group)>, LimitsError> {
        let mut members = Vec::new();
        for group in &self.groups {
            for pid in pids_below(&group.dir)? {
                if !members.iter().any(|(p, _)| *p == pid) {
                    members.push((pid, group));
                }
            }
        }
        Ok(members)
    }

    /// Kills every process in the group and waits (up to 10 s) until none is
    /// left. v2 uses `cgroup.kill` when the kernel has it (5.14), which also
    /// catches processes forked meanwhile; otherwise (and on v1) it sends SIGKILL
    /// to every pid of every hierarchy's `cgroup.procs` until they are empty.
    pub fn kill_all(&self) -> Result<(), LimitsError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let members = self.members()?;
            if members.is_empty() {
                return Ok(());
            }
            if start.elapsed() > KILL_TIMEOUT {
                return Err(LimitsError::StillPopulated {
                    path: members[0].1.dir.clone(),
                    count: members.len(),
                    waited: start.elapsed(),
                });
            }
            let cgroup_kill = self
                .groups
                .iter()
                .map(|g| g.dir.join("cgroup.kill"))
                .find(|path| self.version == CgroupVersion::V2 && path.exists());
            match cgroup_kill {
                Some(path) => match files::write(&path, "1") {
                    Ok(()) => {}
                    Err(_) if !path.exists() => {} // Removed meanwhile.
                    Err(error) => return Err(error),
                },
                None => {
                    for (pid, group) in members {
                        kill::kill_member(pid, group.key, &group.cgroup);
                    }
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Kills what is in the group and removes its directories from every
    /// hierarchy. Removing a group that is already gone (in part or whole) is
    /// not an error.
    pub fn remove(mut self) -> Result<(), LimitsError> {
        self.armed = false;
        self.destroy()
    }

    /// [`BuildCgroup::remove`] without giving up the handle.
    pub(crate) fn destroy(&self) -> Result<(), LimitsError> {
        self.kill_all()?;
        let deadline = Instant::now() + KILL_TIMEOUT;
        let mut first_error = None;
        for group in &self.groups {
            if let Err(error) = remove_tree(&group.dir, deadline) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn group_with(&self, controller: Controller) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.controllers.contains(&controller))
    }

    fn dir_of(&self, controller: Controller) -> &Path {
        // Every hierarchy set has memory, cpu and pids (detection requires them).
        self.group_with(controller)
            .map_or_else(|| self.groups[0].dir.as_path(), |g| g.dir.as_path())
    }
}

impl Drop for BuildCgroup {
    fn drop(&mut self) {
        if self.armed {
            if let Err(error) = self.destroy() {
                tracing::warn!(name = %self.name, %error, "could not remove a build's cgroup");
            }
        }
    }
}

/// The control files and values for `limits` of one controller.
fn settings(
    version: CgroupVersion,
    controller: Controller,
    limits: &Limits,
    present: &dyn Fn(&str) -> bool,
) -> Vec<(&'static str, String)> {
    let or = |value: Option<u64>, none: &str| value.map_or(none.to_owned(), |v| v.to_string());
    let mut settings = Vec::new();
    match (version, controller) {
        (CgroupVersion::V2, Controller::Memory) => {
            settings.push(("memory.max", limits.memory_max.to_string()));
            settings.push(("memory.high", or(limits.memory_high, "max")));
            // Absent when the kernel does not account swap.
            if present("memory.swap.max") {
                settings.push(("memory.swap.max", "0".to_owned()));
            }
        }
        (CgroupVersion::V2, Controller::Cpu) => {
            settings.push(("cpu.weight", limits.cpu_weight.to_string()));
            let quota = or(limits.cpu_quota_us(), "max");
            settings.push(("cpu.max", format!("{quota} {CPU_PERIOD_US}")));
        }
        (CgroupVersion::V1, Controller::Memory) => {
            // memsw (memory + swap) may never be below the memory limit: the
            // memory limit first, then memsw at the same value, so no swap.
            settings.push(("memory.limit_in_bytes", limits.memory_max.to_string()));
            if present("memory.memsw.limit_in_bytes") {
                settings.push(("memory.memsw.limit_in_bytes", limits.memory_max.to_string()));
            }
            settings.push(("memory.soft_limit_in_bytes", or(limits.memory_high, "-1")));
        }
        (CgroupVersion::V1, Controller::Cpu) => {
            settings.push(("cpu.shares", limits.cpu_shares().to_string()));
            settings.push(("cpu.cfs_period_us", CPU_PERIOD_US.to_string()));
            settings.push(("cpu.cfs_quota_us", or(limits.cpu_quota_us(), "-1")));
        }
        (_, Controller::Pids) => settings.push(("pids.max", limits.pids_max.to_string())),
        (_, Controller::Cpuacct) => {}
    }
    settings
}

/// Enters the group whose `cgroup.procs` is `path`. Async-signal-safe: no
/// allocation, only open(2), write(2) and close(2).
fn join(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened; the buffer is a 1-byte static string.
    let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let result = match written {
        1 => Ok(()),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::ErrorKind::WriteZero.into()),
    };
    // SAFETY: `fd` is this function's and is closed once.
    unsafe { libc::close(fd) };
    result
}

/// The pids in `dir`'s `cgroup.procs` and in those of the groups below it; none
/// if `dir` is gone.
fn pids_below(dir: &Path) -> Result<Vec<u32>, LimitsError> {
    let mut pids = match files::read_pids(&dir.join("cgroup.procs")) {
        Err(LimitsError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        other => other?,
    };
    for child in child_groups(dir) {
        pids.extend(pids_below(&child)?);
    }
    Ok(pids)
}

fn child_groups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// Removes the group `dir` and any below it, deepest first; retries while the
/// kernel still says busy (a killed process not yet fully gone), until
/// `deadline`.
fn remove_tree(dir: &Path, deadline: Instant) -> Result<(), LimitsError> {
    for child in child_groups(dir) {
        remove_tree(&child, deadline)?;
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error)
                if error.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(LimitsError::Remove {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            memory_max: 512 << 20,
            memory_high: Some(256 << 20),
            cpu_weight: 50,
            cpu_max: Some(1.5),
            pids_max: 64,
        }
    }

    fn all(
        version: CgroupVersion,
        controllers: &[Controller],
        limits: &Limits,
    ) -> Vec<(&'static str, String)> {
        controllers
            .iter()
            .flat_map(|c| settings(version, *c, limits, &|_| true))
            .collect()
    }

    fn owned(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(f, v)| (*f, v.to_string())).collect()
    }

    #[test]
    fn v2_settings() {
        let controllers = [Controller::Memory, Controller::Cpu, Controller::Pids];
        assert_eq!(
            all(CgroupVersion::V2, &controllers, &limits()),
            owned(&[
                ("memory.max", "536870912"),
                ("memory.high", "268435456"),
                ("memory.swap.max", "0"),
                ("cpu.weight", "50"),
                ("cpu.max", "150000 100000"),
                ("pids.max", "64"),
            ])
        );
        let unbounded = Limits {
            memory_high: None,
            cpu_max: None,
            ..limits()
        };
        assert_eq!(
            all(CgroupVersion::V2, &controllers, &unbounded)[1..5],
            owned(&[
                ("memory.high", "max"),
                ("memory.swap.max", "0"),
                ("cpu.weight", "50"),
                ("cpu.max", "max 100000"),
            ])
        );
        assert_eq!(
            settings(CgroupVersion::V2, Controller::Memory, &limits(), &|_| false).len(),
            2,
            "no memory.swap.max without swap accounting"
        );
    }

    #[test]
    fn v1_settings() {
        let controllers = [
            Controller::Memory,
            Controller::Cpu,
            Controller::Cpuacct,
            Controller::Pids,
        ];
        assert_eq!(
            all(CgroupVersion::V1, &controllers, &limits()),
            owned(&[
                ("memory.limit_in_bytes", "536870912"),
                ("memory.memsw.limit_in_bytes", "536870912"),
                ("memory.soft_limit_in_bytes", "268435456"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "150000"),
                ("pids.max", "64"),
            ])
        );
        let unbounded = Limits {
            memory_high: None,
            cpu_max: None,
            ..limits()
        };
        let written = all(CgroupVersion::V1, &controllers, &unbounded);
        assert!(written.contains(&("memory.soft_limit_in_bytes", "-1".to_owned())));
        assert!(written.contains(&("cpu.cfs_quota_us", "-1".to_owned())));
    }
}
