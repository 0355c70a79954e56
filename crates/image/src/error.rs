use std::path::PathBuf;

/// Why an image could not be found, built or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("unknown Odoo version '{0}': slipway builds images for 14.0 and 19.0")]
    UnknownVersion(String),

    #[error(
        "building an image needs root (debootstrap and chroot); run `sudo slipway image build {0}`"
    )]
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
}
