//! Running untrusted code (a customer's Odoo addons) in isolation.
//!
//! [`Sandbox`] is the seam for backends; [`Bubblewrap`] is the one that exists:
//! read-only image as root, explicit mounts, private /tmp, clean environment, own
//! PID/IPC/UTS (and optionally network) namespaces, killed with its parent.
//!
//! A sandbox runs either a command whose output is read as lines ([`Running`],
//! for build steps) or an interactive program on a pseudo-terminal ([`Terminal`],
//! for the web shell; see the `terminal` module for why it differs).

mod bubblewrap;
mod process;
mod spec;
mod terminal;

pub use bubblewrap::Bubblewrap;
pub use process::{Exit, Running};
pub use spec::{Access, HostUser, Mount, Network, SandboxSpec};
pub use terminal::{Terminal, TerminalSize, DEFAULT_TERM, SESSION_HELPER};

use std::path::PathBuf;

/// A way to run a command in isolation. Docker or Kubernetes backends implement
/// the same contract: same spec in, same [`Running`] handle out.
pub trait Sandbox: Send + Sync {
    /// Short name for logs and `slipway` diagnostics.
    fn name(&self) -> &'static str;

    /// Starts `argv` inside a sandbox described by `spec`. Standard output and
    /// standard error arrive merged, in order, as lines on [`Running::lines`].
    ///
    /// Must be called from an async task (not a blocking thread): the child is tied
    /// to the calling thread's life via `PR_SET_PDEATHSIG`.
    fn spawn(&self, spec: &SandboxSpec, argv: &[String]) -> Result<Running, SandboxError>;

    /// Starts `argv` inside a sandbox described by `spec` on a fresh
    /// pseudo-terminal of `size`, which becomes the controlling terminal of a
    /// session led by `argv` inside the sandbox (Ctrl-C reaches the program, a
    /// shell gets job control). The environment is the spec's, plus
    /// `TERM=`[`DEFAULT_TERM`] if it has no `TERM`. The image needs
    /// [`SESSION_HELPER`].
    ///
    /// Same calling rule as [`Sandbox::spawn`]: from an async task.
    fn spawn_terminal(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
        size: TerminalSize,
    ) -> Result<Terminal, SandboxError>;

    /// The command line a person can run to start the same sandbox by hand
    /// (e.g. to serve a kept build), program first.
    fn command_line(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
    ) -> Result<Vec<String>, SandboxError>;
}

/// Why a sandboxed command could not be started or waited for.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("bubblewrap (`bwrap`) not found: install it (`apt-get install bubblewrap`)")]
    BubblewrapMissing,

    #[error("the sandbox root filesystem {0} does not exist")]
    RootfsMissing(PathBuf),

    #[error("mount source {0} does not exist")]
    MountSourceMissing(PathBuf),

    #[error("mount target {0} must be an absolute path under /mnt or /run")]
    MountTargetInvalid(PathBuf),

    #[error("{0} is missing from the image (util-linux): it gives the terminal to the sandboxed program")]
    SessionHelperMissing(PathBuf),

    #[error("empty command")]
    EmptyCommand,

    #[error("{action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}
