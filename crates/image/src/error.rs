use std::path::PathBuf;

use crate::OdooVersion;

/// Why an image could not be found, built or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("unknown Odoo version '{0}': expected a series such as 16.0 or saas-17.2")]
    UnknownVersion(String),

    #[error(
        "Debian has no package of Odoo {0} (only of 14.0 and 19.0): build it from source \
         with `--odoo-repo <a clone of odoo/odoo>`"
    )]
    NotPackaged(OdooVersion),

    #[error("{tree} is not an Odoo source tree: {reason}")]
    NotOdooSource { tree: PathBuf, reason: String },

    #[error(
        "Odoo {series} wants Python {wanted} (its odoo/release.py) and no Debian release \
         slipway builds on has one: bullseye has 3.9, bookworm 3.11, trixie 3.13"
    )]
    NoDebianRelease { series: OdooVersion, wanted: String },

    #[error("building image {0} needs root (debootstrap and chroot): run slipway with sudo")]
    NeedsRoot(String),

    #[error("`{program}` not found on this host: install it (`apt-get install {package}`)")]
    ToolMissing {
        program: &'static str,
        package: &'static str,
    },

    #[error("image build step '{step}' failed ({status}); last lines of the log:\n{tail}\nfull log: {log}")]
    StepFailed {
        step: String,
        status: String,
        tail: String,
        log: PathBuf,
    },

    #[error("image {name} is damaged: {reason}; remove {path} and build it again")]
    Damaged {
        name: String,
        path: PathBuf,
        reason: String,
    },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io {
            action,
            path,
            source,
        }
    }

    /// Points a failed step's log at `kept`, where the log was kept when the build
    /// directory it was in was removed.
    pub(crate) fn with_log(mut self, kept: Option<PathBuf>) -> ImageError {
        if let (ImageError::StepFailed { log, .. }, Some(kept)) = (&mut self, kept) {
            *log = kept;
        }
        self
    }
}
