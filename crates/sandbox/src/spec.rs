use std::path::PathBuf;

/// Whether a mount can be written from inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A host path made visible inside the sandbox.
#[derive(Debug, Clone)]
pub struct Mount {
    pub source: PathBuf,
    /// Absolute, under `/mnt` or `/run`: the image's own directories stay untouched.
    pub target: PathBuf,
    pub access: Access,
}

impl Mount {
    pub fn read_only(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        Mount {
            source: source.into(),
            target: target.into(),
            access: Access::ReadOnly,
        }
    }

    pub fn read_write(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        Mount {
            source: source.into(),
            target: target.into(),
            access: Access::ReadWrite,
        }
    }
}

/// Network reach of the sandboxed command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// Own network namespace with only a loopback: nothing leaves, nothing enters.
    /// PostgreSQL is reached through a mounted Unix socket.
    #[default]
    Isolated,
    /// The host's network (`slipway ci`'s pip, `serve --unconfined`).
    Host,
    /// A network namespace made for the build (its path, `/run/netns/…`),
    /// joined before the sandbox starts: what it reaches is its firewall's
    /// business (slipway_network).
    Namespace(PathBuf),
}

/// A host account to run the sandbox as, when slipway itself runs as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostUser {
    pub uid: u32,
    pub gid: u32,
}

/// Everything that describes one sandboxed command except the command itself.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// The image's root filesystem, mounted read-only.
    pub rootfs: PathBuf,
    pub mounts: Vec<Mount>,
    /// The whole environment: nothing of the caller's leaks in.
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
    pub network: Network,
    /// Identity inside the sandbox (the image's `odoo` user, so that it exists in
    /// the image's `/etc/passwd`).
    pub uid: u32,
    pub gid: u32,
    /// Host account the sandbox runs as; `None` keeps the caller's.
    pub run_as: Option<HostUser>,
    pub hostname: String,
    /// Control groups its processes are put in before bubblewrap starts (one
    /// directory per hierarchy: the build's limits); empty: the caller's.
    pub cgroups: Vec<PathBuf>,
}
