//! The bubblewrap backend.
//!
//! The sandbox root is a tmpfs on which the image's top-level directories are
//! bind-mounted read-only one by one, so that mount points under `/mnt` and `/run`
//! need not exist in the image; the tmpfs is remounted read-only at the end.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::process::Running;
use crate::spec::{Access, HostUser, Network, SandboxSpec};
use crate::terminal::{self, Pty, Terminal, TerminalSize};
use crate::{Sandbox, SandboxError};

/// Top-level directories of the image that are never mounted: the sandbox gets
/// fresh ones (proc, dev, tmp, run, mnt) or has no use for them.
const SKIPPED_TOP_LEVEL: &[&str] = &[
    "dev",
    "proc",
    "sys",
    "tmp",
    "run",
    "mnt",
    "home",
    "root",
    "boot",
    "media",
    "lost+found",
];

/// How the sandbox relates to the session of the process that starts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Session {
    /// `--new-session`: the sandbox cannot reach the caller's terminal (no
    /// `TIOCSTI` injection into it). For commands on pipes.
    Detached,
    /// The program starts the terminal's session itself, inside the sandbox
    /// (see [`crate::terminal`]).
    OwnTerminal,
}

#[derive(Debug, Clone)]
pub struct Bubblewrap {
    program: PathBuf,
}

impl Bubblewrap {
    /// Finds `bwrap` on `PATH`.
    pub fn locate() -> Result<Bubblewrap, SandboxError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("bwrap"))
            .find(|candidate| candidate.is_file())
            .map(|program| Bubblewrap { program })
            .ok_or(SandboxError::BubblewrapMissing)
    }

    /// The full `bwrap` argument list for `spec` running `argv` (as [`Sandbox::spawn`]
    /// and [`Sandbox::command_line`] use it).
    pub fn arguments(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
    ) -> Result<Vec<OsString>, SandboxError> {
        self.arguments_for(spec, argv, Session::Detached)
    }

    pub(crate) fn arguments_for(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
        session: Session,
    ) -> Result<Vec<OsString>, SandboxError> {
        if argv.is_empty() {
            return Err(SandboxError::EmptyCommand);
        }
        if !spec.rootfs.join("usr").is_dir() {
            return Err(SandboxError::RootfsMissing(spec.rootfs.clone()));
        }
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&dyn AsRefOs]| args.extend(items.iter().map(|item| item.to_os()));
        push(&[
            &"--unshare-user",
            &"--unshare-ipc",
            &"--unshare-pid",
            &"--unshare-uts",
            &"--unshare-cgroup-try",
        ]);
        if spec.network == Network::Isolated {
            push(&[&"--unshare-net"]);
        }
        push(&[
            &"--uid",
            &spec.uid.to_string(),
            &"--gid",
            &spec.gid.to_string(),
        ]);
        push(&[&"--hostname", &spec.hostname]);
        push(&[&"--die-with-parent", &"--clearenv"]);
        match session {
            // No TIOCSTI injection into the caller's terminal.
            Session::Detached => push(&[&"--new-session"]),
            // A fresh PTY of our own: nothing to inject into; the program starts
            // the session that owns it.
            Session::OwnTerminal => {}
        }
        for (key, value) in &spec.env {
            push(&[&"--setenv", key, value]);
        }
        for entry in image_top_level(&spec.rootfs)? {
            match entry {
                TopLevel::Dir(name) => push(&[
                    &"--ro-bind",
                    &spec.rootfs.join(&name),
                    &Path::new("/").join(&name),
                ]),
                TopLevel::Symlink(name, target) => {
                    push(&[&"--symlink", &target, &Path::new("/").join(&name)])
                }
            }
        }
        push(&[&"--proc", &"/proc", &"--dev", &"/dev", &"--tmpfs", &"/tmp"]);
        for mount in &spec.mounts {
            let target_ok = mount.target.is_absolute()
                && (mount.target.starts_with("/mnt") || mount.target.starts_with("/run"))
                && !mount
                    .target
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if !target_ok {
                return Err(SandboxError::MountTargetInvalid(mount.target.clone()));
            }
            if !mount.source.exists() {
                return Err(SandboxError::MountSourceMissing(mount.source.clone()));
            }
            let flag = match mount.access {
                Access::ReadOnly => "--ro-bind",
                Access::ReadWrite => "--bind",
            };
            push(&[&flag, &mount.source, &mount.target]);
        }
        push(&[&"--remount-ro", &"/", &"--chdir", &spec.workdir, &"--"]);
        args.extend(argv.iter().map(OsString::from));
        Ok(args)
    }
}

impl Sandbox for Bubblewrap {
    fn name(&self) -> &'static str {
        "bubblewrap"
    }

    fn command_line(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
    ) -> Result<Vec<String>, SandboxError> {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(
            self.arguments(spec, argv)?
                .iter()
                .map(|word| word.to_string_lossy().into_owned()),
        );
        Ok(words)
    }

    fn spawn(&self, spec: &SandboxSpec, argv: &[String]) -> Result<Running, SandboxError> {
        let args = self.arguments(spec, argv)?;
        let (reader, writer) = std::io::pipe().map_err(|source| SandboxError::Io {
            action: "creating a pipe",
            source,
        })?;
        let writer_for_stderr = writer.try_clone().map_err(|source| SandboxError::Io {
            action: "creating a pipe",
            source,
        })?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer_for_stderr)
            .kill_on_drop(true);
        let run_as = spec.run_as;
        let joins = Joins::open(spec)?;
        let fds = joins.fds();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || confine(&fds, run_as));
        }
        let child = command.spawn().map_err(|source| SandboxError::Io {
            action: "starting bwrap",
            source,
        })?;
        // The child joined them (or failed to start): our descriptors can go.
        drop(joins);
        // Our copies of the write end must go, or the reader never sees the end.
        drop(command);
        tracing::debug!(pid = ?child.id(), program = %argv[0], "sandbox started");
        Ok(Running::new(child, reader))
    }

    fn spawn_terminal(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
        size: TerminalSize,
    ) -> Result<Terminal, SandboxError> {
        let spec = terminal::with_default_term(spec);
        let wrapped = terminal::in_own_session(&spec.rootfs, argv)?;
        let args = self.arguments_for(&spec, &wrapped, Session::OwnTerminal)?;
        let pty = Pty::open(size).map_err(|source| SandboxError::Io {
            action: "allocating a pseudo-terminal",
            source,
        })?;
        let slave = |pty: &Pty| {
            pty.slave.try_clone().map_err(|source| SandboxError::Io {
                action: "allocating a pseudo-terminal",
                source,
            })
        };
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&args)
            .env_clear()
            .stdin(slave(&pty)?)
            .stdout(slave(&pty)?)
            .stderr(slave(&pty)?)
            .kill_on_drop(true);
        let run_as = spec.run_as;
        let joins = Joins::open(&spec)?;
        let fds = joins.fds();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                terminal::leave_session()?;
                confine(&fds, run_as)
            });
        }
        let child = command.spawn().map_err(|source| SandboxError::Io {
            action: "starting bwrap",
            source,
        })?;
        drop(joins);
        // Every copy of the slave outside the sandbox must go, or reading the
        // master never sees the end when the sandbox exits.
        drop(command);
        let Pty { master, slave } = pty;
        drop(slave);
        tracing::debug!(pid = ?child.id(), program = %argv[0], "sandbox terminal started");
        Terminal::new(child, master).map_err(|source| SandboxError::Io {
            action: "watching the pseudo-terminal",
            source,
        })
    }
}

/// What the child joins before it execs bubblewrap: the build's network
/// namespace and control groups, opened before the fork (`setns` wants a
/// descriptor, a group a write to its `cgroup.procs`; opening a file after a
/// fork is not async-signal-safe in Rust).
struct Joins {
    namespace: Option<std::fs::File>,
    cgroups: Vec<std::fs::File>,
}

/// The descriptors of [`Joins`], for the child.
struct JoinFds {
    namespace: Option<std::os::fd::RawFd>,
    cgroups: Vec<std::os::fd::RawFd>,
}

impl Joins {
    fn open(spec: &SandboxSpec) -> Result<Joins, SandboxError> {
        let namespace = match &spec.network {
            Network::Namespace(path) => {
                Some(
                    std::fs::File::open(path).map_err(|source| SandboxError::Io {
                        action: "opening the build's network namespace",
                        source,
                    })?,
                )
            }
            Network::Isolated | Network::Host => None,
        };
        let cgroups = spec
            .cgroups
            .iter()
            .map(|dir| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))
                    .map_err(|source| SandboxError::Io {
                        action: "opening the build's control group",
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Joins { namespace, cgroups })
    }

    fn fds(&self) -> JoinFds {
        use std::os::fd::AsRawFd;
        JoinFds {
            namespace: self.namespace.as_ref().map(AsRawFd::as_raw_fd),
            cgroups: self.cgroups.iter().map(AsRawFd::as_raw_fd).collect(),
        }
    }
}

/// In the child between fork and exec: enter the build's control groups and
/// network, become `run_as` and die with the calling thread.
/// Async-signal-safe: no allocation, only system calls.
fn confine(joins: &JoinFds, run_as: Option<HostUser>) -> std::io::Result<()> {
    // SAFETY: write, setns, setgroups, setgid, setuid and prctl are
    // async-signal-safe; the descriptors are open until the spawn returns.
    unsafe {
        // Both need the rights dropped below: first. "0" is the writer.
        for &fd in &joins.cgroups {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(fd) = joins.namespace {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(user) = run_as {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(user.gid) != 0
                || libc::setuid(user.uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        // If slipway dies (even SIGKILL), bubblewrap dies, and with it the whole
        // sandbox. Set after setuid, which clears it.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

enum TopLevel {
    Dir(String),
    Symlink(String, PathBuf),
}

fn image_top_level(rootfs: &Path) -> Result<Vec<TopLevel>, SandboxError> {
    let entries = std::fs::read_dir(rootfs).map_err(|source| SandboxError::Io {
        action: "reading the image root",
        source,
    })?;
    let mut items = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SandboxError::Io {
            action: "reading the image root",
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if SKIPPED_TOP_LEVEL.contains(&name.as_str()) {
            continue;
        }
        let file_type = entry.file_type().map_err(|source| SandboxError::Io {
            action: "reading the image root",
            source,
        })?;
        if file_type.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(|source| SandboxError::Io {
                action: "reading an image symlink",
                source,
            })?;
            items.push(TopLevel::Symlink(name, target));
        } else if file_type.is_dir() {
            items.push(TopLevel::Dir(name));
        }
    }
    items.sort_by(|a, b| top_level_name(a).cmp(top_level_name(b)));
    Ok(items)
}

fn top_level_name(item: &TopLevel) -> &str {
    match item {
        TopLevel::Dir(name) | TopLevel::Symlink(name, _) => name,
    }
}

trait AsRefOs {
    fn to_os(&self) -> OsString;
}

impl AsRefOs for &str {
    fn to_os(&self) -> OsString {
        OsString::from(*self)
    }
}

impl AsRefOs for String {
    fn to_os(&self) -> OsString {
        OsString::from(self)
    }
}

impl AsRefOs for PathBuf {
    fn to_os(&self) -> OsString {
        self.as_os_str().to_owned()
    }
}

impl AsRefOs for &Path {
    fn to_os(&self) -> OsString {
        self.as_os_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            rootfs: "/".into(),
            mounts: vec![],
            env: vec![],
            workdir: "/tmp".into(),
            network: Network::Isolated,
            uid: 1000,
            gid: 1000,
            run_as: None,
            hostname: "test".into(),
            cgroups: Vec::new(),
        }
    }

    #[test]
    fn only_sandboxes_without_a_terminal_get_bubblewraps_new_session() {
        let sandbox = Bubblewrap {
            program: "bwrap".into(),
        };
        let argv = ["sh".to_string()];
        let new_session = |session| {
            sandbox
                .arguments_for(&spec(), &argv, session)
                .unwrap()
                .contains(&OsString::from("--new-session"))
        };
        assert!(new_session(Session::Detached));
        assert!(!new_session(Session::OwnTerminal));
    }
}
