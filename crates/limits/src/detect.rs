//! Finding the cgroup hierarchies and making slipway's parent group in them.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::build::{BuildCgroup, Group};
use crate::{files, Limits, LimitsError};

/// The group slipway makes its build groups in, in each hierarchy.
pub const PARENT_GROUP: &str = "slipway";

/// Which cgroup interface the build groups use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Separate hierarchies per controller (`memory`, `cpu`, `pids`, …).
    V1,
    /// The unified hierarchy.
    V2,
}

/// The controllers slipway uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Cpu,
    /// v1 only, optional: CPU usage accounting (v2 has it in every group).
    Cpuacct,
    Pids,
}

impl Controller {
    const REQUIRED: [Controller; 3] = [Controller::Memory, Controller::Cpu, Controller::Pids];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
        }
    }

    /// The kernel option without which it does not exist.
    fn config(self) -> &'static str {
        match self {
            Controller::Memory => "CONFIG_MEMCG",
            Controller::Cpu => "CONFIG_CGROUP_SCHED",
            Controller::Cpuacct => "CONFIG_CGROUP_CPUACCT",
            Controller::Pids => "CONFIG_CGROUP_PIDS",
        }
    }
}

/// How /proc/PID/cgroup names a hierarchy: `0::PATH` for v2, `N:CONTROLLERS:PATH`
/// for v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcKey {
    Unified,
    V1(Controller),
}

impl ProcKey {
    /// The cgroup path of this hierarchy in a /proc/PID/cgroup.
    pub(crate) fn find<'a>(&self, proc_cgroup: &'a str) -> Option<&'a str> {
        parse_proc_cgroup(proc_cgroup)
            .into_iter()
            .find(|line| match self {
                ProcKey::Unified => line.id == "0" && line.controllers.is_empty(),
                ProcKey::V1(controller) => line.controllers.contains(&controller.name()),
            })
            .map(|line| line.path)
    }
}

/// One hierarchy slipway makes groups in: v2's only one, or one v1 mount (which
/// may carry several controllers, e.g. `cpu,cpuacct`).
#[derive(Clone, Debug)]
struct Hierarchy {
    controllers: Vec<Controller>,
    /// slipway's parent group directory, `…/slipway`.
    parent: PathBuf,
    /// The same as the kernel names it in /proc/PID/cgroup, e.g. `/slipway`.
    parent_cgroup: String,
    key: ProcKey,
}

/// Where slipway makes build groups: found once by [`Cgroups::detect`], then
/// [`Cgroups::create`] per build.
#[derive(Clone, Debug)]
pub struct Cgroups {
    version: CgroupVersion,
    hierarchies: Vec<Hierarchy>,
}

impl Cgroups {
    /// Finds the hierarchies to use and makes slipway's parent group in each.
    ///
    /// cgroup v2 when its unified hierarchy offers memory, cpu and pids (the
    /// controllers are then enabled in the `cgroup.subtree_control` of the group
    /// the parent is made in, and of the parent); else the v1 `memory`, `cpu`
    /// and `pids` hierarchies (and `cpuacct` when mounted, for CPU usage).
    /// Anything missing is a [`LimitsError`] that says how to get it.
    pub fn detect() -> Result<Cgroups, LimitsError> {
        let mountinfo = files::read(Path::new("/proc/self/mountinfo"))?;
        let own = files::read(Path::new("/proc/self/cgroup"))?;
        let mounts = parse_mountinfo(&mountinfo);
        if !mounts
            .iter()
            .any(|m| m.fstype == "cgroup2" || m.fstype == "cgroup")
        {
            return Err(LimitsError::NoCgroupFilesystem);
        }

        let unified = mounts.iter().find(|m| {
            m.fstype == "cgroup2"
                && v2_controllers(&m.point).is_some_and(|c| {
                    Controller::REQUIRED
                        .iter()
                        .all(|r| c.iter().any(|have| have == r.name()))
                })
        });
        let cgroups = match unified {
            Some(mount) => v2(mount, &own)?,
            None => v1(&mounts)?,
        };
        tracing::info!(%cgroups, "cgroups for build limits");
        Ok(cgroups)
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// slipway's parent group in each hierarchy (one with v2).
    pub fn parent_dirs(&self) -> impl Iterator<Item = &Path> {
        self.hierarchies.iter().map(|h| h.parent.as_path())
    }

    /// Makes the group `name` (letters, digits, `-`, `_`) with `limits`. A group
    /// of that name left behind (by a crash) is taken over: what is in it is
    /// killed and it is made afresh, so that its counters (OOM kills, peak
    /// memory) are the new build's only.
    ///
    /// The group is removed when the returned [`BuildCgroup`] is dropped, or on
    /// error.
    pub fn create(&self, name: &str, limits: &Limits) -> Result<BuildCgroup, LimitsError> {
        limits.validate()?;
        let mut build = self.group(name)?;
        if build.exists() {
            tracing::warn!(
                name,
                "a cgroup of this name was left behind: killing what is in it and making it afresh"
            );
            build.destroy()?;
        }
        build.arm();
        for group in build.groups() {
            match std::fs::create_dir(&group.dir) {
                Ok(()) => {}
                Err(source) => {
                    return Err(LimitsError::Create {
                        path: group.dir.clone(),
                        source,
                    })
                }
            }
        }
        build.apply(limits)?;
        Ok(build)
    }

    /// The names of every group under slipway's parent, sorted: a reaper removes
    /// (with [`Cgroups::remove_orphan`]) the ones no running build owns.
    pub fn list_orphans(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hierarchies
            .iter()
            .filter_map(|h| std::fs::read_dir(&h.parent).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| validate_name(name).is_ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Kills what is in the group `name` and removes it from every hierarchy;
    /// nothing to do if it does not exist.
    pub fn remove_orphan(&self, name: &str) -> Result<(), LimitsError> {
        self.group(name)?.destroy()
    }

    /// The group `name` in every hierarchy, not made yet (and not removed on drop).
    fn group(&self, name: &str) -> Result<BuildCgroup, LimitsError> {
        validate_name(name)?;
        let groups = self
            .hierarchies
            .iter()
            .map(|h| {
                let dir = h.parent.join(name);
                let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
                    .map_err(|_| LimitsError::InvalidName(name.to_owned()))?;
                Ok(Group {
                    controllers: h.controllers.clone(),
                    dir,
                    cgroup: join_cgroup(&h.parent_cgroup, name),
                    key: h.key,
                    procs,
                })
            })
            .collect::<Result<_, LimitsError>>()?;
        Ok(BuildCgroup::new(name.to_owned(), self.version, groups))
    }
}

/// "cgroup v2 at /sys/fs/cgroup/slipway", "cgroup v1: memory at …, cpu,cpuacct at …".
impl fmt::Display for Cgroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            CgroupVersion::V2 => write!(f, "cgroup v2 at {}", self.hierarchies[0].parent.display()),
            CgroupVersion::V1 => {
                write!(f, "cgroup v1: ")?;
                for (i, h) in self.hierarchies.iter().enumerate() {
                    let names: Vec<_> = h.controllers.iter().map(|c| c.name()).collect();
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{} at {}", names.join(","), h.parent.display())?;
                }
                Ok(())
            }
        }
    }
}

/// Build group names become directory names: no `/`, `.` or anything a shell or
/// the kernel would read otherwise.
pub(crate) fn validate_name(name: &str) -> Result<(), LimitsError> {
    let valid = (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(LimitsError::InvalidName(name.to_owned()))
    }
}

fn v2(mount: &Mount, own: &str) -> Result<Cgroups, LimitsError> {
    let own_path = ProcKey::Unified.find(own);
    let (base, base_cgroup) = v2_base(mount, own_path);
    // The base's own subtree_control: at the root (which may hold processes) or
    // in a delegated group that holds none, it offers the controllers to
    // slipway's parent; the parent's then offers them to the build groups.
    enable_controllers(&base)?;
    let parent = base.join(PARENT_GROUP);
    make_dir(&parent)?;
    enable_controllers(&parent)?;
    Ok(Cgroups {
        version: CgroupVersion::V2,
        hierarchies: vec![Hierarchy {
            controllers: Controller::REQUIRED.to_vec(),
            parent,
            parent_cgroup: join_cgroup(&base_cgroup, PARENT_GROUP),
            key: ProcKey::Unified,
        }],
    })
}

/// Where slipway's parent goes with cgroup v2: in the subtree delegated to this
/// process when there is one it can use, else at the hierarchy's root.
///
/// Under its own cgroup when that is delegated, slipway's builds count against
/// the limits of the service that runs it, and the service manager (systemd)
/// knows the subtree is slipway's to manage. But v2 lets no group both hold
/// processes and offer controllers to child groups, and this process is in its
/// own cgroup: the own cgroup itself works only if it holds no process (never,
/// but at the root). What does work is systemd's `Delegate=yes` with
/// `DelegateSubgroup=`: the service's processes live in a leaf below the
/// delegated group, and slipway's parent goes beside that leaf. So the own cgroup,
/// then its parent, is used when it carries systemd's delegation mark (the
/// `trusted.delegate` or `user.delegate` extended attribute) and the controllers
/// can be enabled in it. Anything else (not delegated: the group is the service
/// manager's to reorganise; or busy) falls back to the root, which as root is
/// always writable and exempt from the no-process rule.
fn v2_base(mount: &Mount, own_path: Option<&str>) -> (PathBuf, String) {
    let root = (mount.point.clone(), mount.root.clone());
    let Some(own_path) = own_path else {
        return root;
    };
    let parent_path = own_path.rsplit_once('/').map(|(parent, _)| match parent {
        "" => "/",
        parent => parent,
    });
    for candidate in [Some(own_path), parent_path].into_iter().flatten() {
        if candidate == mount.root {
            break;
        }
        let Some(dir) = dir_of(mount, candidate) else {
            continue;
        };
        let offers_all = v2_controllers(&dir).is_some_and(|c| {
            Controller::REQUIRED
                .iter()
                .all(|r| c.iter().any(|have| have == r.name()))
        });
        if is_delegated(&dir) && offers_all {
            match enable_controllers(&dir) {
                Ok(()) => {
                    tracing::info!(group = %dir.display(), "using the cgroup subtree delegated to slipway");
                    return (dir, candidate.to_owned());
                }
                Err(error) => {
                    tracing::info!(%error, "the delegated cgroup cannot be used: slipway's cgroups go at the root")
                }
            }
        }
    }
    root
}

/// Whether systemd marked `dir` as delegated (`Delegate=yes`, systemd ≥ 251).
fn is_delegated(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    ["trusted.delegate", "user.delegate"]
        .into_iter()
        .any(|attr| {
            let attr = CString::new(attr).expect("no NUL in a literal");
            let mut value = [0u8; 8];
            // SAFETY: `path` and `attr` are NUL-terminated and live across the call;
            // `value` is a writable buffer of the length passed, which getxattr(2)
            // does not write past.
            let len = unsafe {
                libc::getxattr(
                    path.as_ptr(),
                    attr.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            len > 0 && value[..len as usize].starts_with(b"1")
        })
}

/// The controllers in `dir/cgroup.controllers` (v2).
fn v2_controllers(dir: &Path) -> Option<Vec<String>> {
    let content = std::fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    Some(content.split_whitespace().map(str::to_owned).collect())
}

fn enable_controllers(dir: &Path) -> Result<(), LimitsError> {
    let path = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&path).unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = Controller::REQUIRED
        .iter()
        .filter(|c| !enabled.contains(&c.name()))
        .map(|c| format!("+{}", c.name()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    files::write(&path, &missing.join(" ")).map_err(|error| match error {
        LimitsError::Write { source, .. } => LimitsError::EnableControllers { path, source },
        other => other,
    })
}

fn v1(mounts: &[Mount]) -> Result<Cgroups, LimitsError> {
    let v1_mount = |controller: Controller| {
        mounts.iter().find(|m| {
            m.fstype == "cgroup" && m.super_options.iter().any(|o| o == controller.name())
        })
    };
    let v2_offers: Vec<String> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup2")
        .filter_map(|m| v2_controllers(&m.point))
        .flatten()
        .collect();
    let on_v2 = |c: Controller| v2_offers.iter().any(|o| o == c.name());

    if let Some(&missing) = Controller::REQUIRED
        .iter()
        .find(|&&c| v1_mount(c).is_none() && !on_v2(c))
    {
        return Err(unavailable(missing));
    }
    if let (Some(&on_v2), Some(&on_v1)) = (
        Controller::REQUIRED.iter().find(|&&c| on_v2(c)),
        Controller::REQUIRED
            .iter()
            .find(|&&c| v1_mount(c).is_some()),
    ) {
        return Err(LimitsError::MixedVersions {
            on_v2: on_v2.name(),
            on_v1: on_v1.name(),
        });
    }

    // v1 groups go at each hierarchy's root. v1 has no delegation: no service
    // manager hands a v1 subtree over safely (systemd documents v1 delegation as
    // unsafe), the process may sit in a different group per controller (here
    // memory:/process_api/… and the rest at /), and a group made by someone else
    // may be reorganised or removed under us. The roots are the one place that
    // is slipway's own, as root; in a container the mount's root is the
    // container's own group.
    let mut hierarchies: Vec<(PathBuf, Hierarchy)> = Vec::new();
    let wanted = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Pids,
    ];
    for controller in wanted {
        let Some(mount) = v1_mount(controller) else {
            continue; // cpuacct: CPU usage is then unknown, the limits still hold.
        };
        if let Some((_, h)) = hierarchies.iter_mut().find(|(p, _)| *p == mount.point) {
            h.controllers.push(controller);
            continue;
        }
        let parent = mount.point.join(PARENT_GROUP);
        make_dir(&parent)?;
        hierarchies.push((
            mount.point.clone(),
            Hierarchy {
                controllers: vec![controller],
                parent,
                parent_cgroup: join_cgroup(&mount.root, PARENT_GROUP),
                key: ProcKey::V1(controller),
            },
        ));
    }
    Ok(Cgroups {
        version: CgroupVersion::V1,
        hierarchies: hierarchies.into_iter().map(|(_, h)| h).collect(),
    })
}

/// What a missing controller takes, from what /proc/cgroups says of it.
fn unavailable(controller: Controller) -> LimitsError {
    let name = controller.name();
    let proc_cgroups = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let enabled = proc_cgroups
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .map(|fields| fields.get(3) == Some(&"1"));
    let hint = match enabled {
        Some(false) => format!(
            "it is disabled on the kernel command line: remove `cgroup_disable={name}` \
             (or add `cgroup_enable={name}`) and reboot"
        ),
        None if !proc_cgroups.is_empty() => format!(
            "this kernel is built without it ({}): use a kernel that has it",
            controller.config()
        ),
        _ => format!(
            "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) or mount the v1 {name} \
             controller (`mkdir -p /sys/fs/cgroup/{name} && \
             mount -t cgroup -o {name} cgroup /sys/fs/cgroup/{name}`)"
        ),
    };
    LimitsError::ControllerUnavailable {
        controller: name,
        hint,
    }
}

fn make_dir(dir: &Path) -> Result<(), LimitsError> {
    match std::fs::create_dir(dir) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(LimitsError::Create {
            path: dir.to_owned(),
            source: error,
        }),
        _ => Ok(()),
    }
}

/// `parent/name` as a cgroup path (`/` is the root).
fn join_cgroup(parent: &str, name: &str) -> String {
    format!("{}/{name}", parent.trim_end_matches('/'))
}

/// One line of /proc/self/mountinfo, the parts this needs.
#[derive(Debug, PartialEq)]
struct Mount {
    /// The directory of the filesystem mounted there (for cgroups, the group the
    /// mount point shows, as a cgroup path).
    root: String,
    point: PathBuf,
    fstype: String,
    super_options: Vec<String>,
}

/// `36 35 98:0 /root /point rw,noatime master:1 - fstype source rw,opts`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                root: unescape(fields.get(3)?),
                point: PathBuf::from(unescape(fields.get(4)?)),
                fstype: fields.get(dash + 1)?.to_string(),
                super_options: fields
                    .get(dash + 3)?
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of the cgroup `path` in `mount`, if the mount shows it.
fn dir_of(mount: &Mount, path: &str) -> Option<PathBuf> {
    let relative = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))?
    };
    let relative = relative.trim_start_matches('/');
    Some(if relative.is_empty() {
        mount.point.clone()
    } else {
        mount.point.join(relative)
    })
}

struct ProcCgroup<'a> {
    id: &'a str,
    controllers: Vec<&'a str>,
    path: &'a str,
}

/// `ID:CONTROLLERS:PATH` lines of /proc/PID/cgroup.
fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup<'_>> {
    text.lines()
        .filter_map(|line| {
            let (id, rest) = line.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            Some(ProcCgroup {
                id,
                controllers: controllers.split(',').filter(|c| !c.is_empty()).collect(),
                path,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
24 1 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
25 24 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
26 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
27 24 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 24 0:26 /ns /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
29 1 0:27 / /mnt/with\\040space rw - ext4 /dev/sda1 rw
";

    #[test]
    fn mountinfo_is_parsed() {
        let mounts = parse_mountinfo(HYBRID);
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[2].point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(mounts[2].fstype, "cgroup");
        assert_eq!(mounts[2].super_options, ["rw", "cpu", "cpuacct"]);
        assert_eq!(mounts[4].root, "/ns");
        assert_eq!(mounts[4].fstype, "cgroup2");
        assert_eq!(mounts[5].point, Path::new("/mnt/with space"));
    }

    #[test]
    fn cgroup_paths_map_to_directories() {
        let mounts = parse_mountinfo(HYBRID);
        let memory = &mounts[3];
        assert_eq!(
            dir_of(memory, "/"),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            dir_of(memory, "/process_api/1488"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/1488"))
        );
        let unified = &mounts[4];
        assert_eq!(
            dir_of(unified, "/ns/a/b"),
            Some(PathBuf::from("/sys/fs/cgroup/unified/a/b"))
        );
        assert_eq!(
            dir_of(unified, "/ns"),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(dir_of(unified, "/nsx"), None);
        assert_eq!(dir_of(unified, "/other"), None);
        assert_eq!(join_cgroup("/", "slipway"), "/slipway");
        assert_eq!(join_cgroup("/a/b", "slipway"), "/a/b/slipway");
    }

    #[test]
    fn proc_cgroup_lines_are_found_per_hierarchy() {
        let text = "9:name=systemd:/\n4:memory:/process_api/14\n1:cpu,cpuacct:/x\n0::/user.slice\n";
        assert_eq!(ProcKey::Unified.find(text), Some("/user.slice"));
        assert_eq!(
            ProcKey::V1(Controller::Memory).find(text),
            Some("/process_api/14")
        );
        assert_eq!(ProcKey::V1(Controller::Cpuacct).find(text), Some("/x"));
        assert_eq!(ProcKey::V1(Controller::Pids).find(text), None);
    }

    #[test]
    fn names_are_plain() {
        for good in ["build-42", "a", "B_7-x"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(101);
        for bad in [
            "",
            "a/b",
            "..",
            ".",
            "a.b",
            "a b",
            "é",
            "cgroup.procs",
            &long,
        ] {
            assert!(
                matches!(validate_name(bad), Err(LimitsError::InvalidName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_missing_controller_says_how_to_get_it() {
        let message = unavailable(Controller::Memory).to_string();
        assert!(
            message.starts_with("the memory controller is not available: "),
            "{message}"
        );
        assert!(message.contains("cgroup"), "{message}");
    }
}
