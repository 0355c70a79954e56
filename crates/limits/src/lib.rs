//! Resource limits for one build's processes, with Linux control groups, so that
//! a runaway build (a memory leak, a fork bomb, a busy loop) cannot starve
//! production or the worker.
//!
//! [`Cgroups::detect`] finds where slipway can make cgroups (cgroup v2 when the
//! unified hierarchy has the memory, cpu and pids controllers, else the v1
//! `memory`, `cpu` (+`cpuacct`) and `pids` hierarchies) and makes slipway's own
//! parent group, `slipway`, there. [`Cgroups::create`] makes one group per build
//! with [`Limits`] written to it; the build's processes enter it before they exec
//! through [`BuildCgroup::join_hook`], and everything they fork stays in it.
//!
//! ```no_run
//! use std::os::unix::process::CommandExt;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cgroups = slipway_limits::Cgroups::detect()?;
//! let limits = slipway_limits::Limits::for_development(
//!     slipway_limits::host_memory(),
//!     slipway_limits::available_cores(),
//! );
//! let build = cgroups.create("build-42", &limits)?;
//! let mut command = std::process::Command::new("odoo-bin");
//! // SAFETY: the hook only opens, writes and closes pre-computed paths.
//! unsafe { command.pre_exec(build.join_hook()) };
//! let status = command.status()?;
//! if build.oom_killed() {
//!     eprintln!("the build ran out of memory ({limits})");
//! }
//! build.remove()?;
//! # let _ = status;
//! # Ok(())
//! # }
//! ```

mod build;
mod detect;
mod files;
mod kill;
mod limits;

pub use build::BuildCgroup;
pub use detect::{CgroupVersion, Cgroups, PARENT_GROUP};
pub use limits::{
    available_cores, host_memory, Limits, DEFAULT_CPU_WEIGHT, MAX_CPU_WEIGHT, MIN_CPU_WEIGHT,
};

use std::path::PathBuf;
use std::time::Duration;

/// Why cgroups could not be found, made, limited, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error(
        "no cgroup filesystem is mounted: mount cgroup v2 \
         (`mount -t cgroup2 cgroup2 /sys/fs/cgroup`), as systemd does at boot"
    )]
    NoCgroupFilesystem,

    /// A controller slipway needs is on no hierarchy it can use. `hint` says how
    /// to get it.
    #[error("the {controller} controller is not available: {hint}")]
    ControllerUnavailable {
        controller: &'static str,
        hint: String,
    },

    /// Every controller is there, but some on cgroup v2 and others on v1 (a
    /// "hybrid" boot that moved only some of them): one build's limits must be
    /// on one kind of hierarchy.
    #[error(
        "the {on_v2} controller is on cgroup v2 but the {on_v1} controller on cgroup v1: \
         slipway needs memory, cpu and pids on one version; boot with cgroup v2 \
         (systemd.unified_cgroup_hierarchy=1)"
    )]
    MixedVersions {
        on_v2: &'static str,
        on_v1: &'static str,
    },

    #[error(
        "cannot enable the memory, cpu and pids controllers in {path}: {source} \
         (with cgroup v2 a group that has child groups with controllers may hold no \
         process itself, and its parent must offer the controllers)"
    )]
    EnableControllers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot create the cgroup {path}: {source} (slipway must run as root, \
         on a writable cgroup filesystem)"
    )]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid cgroup name {0:?}: use 1 to 100 letters, digits, `-` and `_`")]
    InvalidName(String),

    #[error("invalid limits: {0}")]
    InvalidLimits(String),

    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },

    /// The kernel lacks a file this needs (too old, or built without it).
    #[error("{what} is not available: {path} does not exist (kernel too old?)")]
    Unsupported { what: &'static str, path: PathBuf },

    #[error(
        "{path} still holds {count} process(es) {waited:?} after they were killed \
         (stuck in uninterruptible sleep, e.g. on a hung filesystem?)"
    )]
    StillPopulated {
        path: PathBuf,
        count: usize,
        waited: Duration,
    },

    #[error("cannot remove the cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
