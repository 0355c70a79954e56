use std::path::{Path, PathBuf};

/// Why a source could not be resolved or exported. Addresses are shown
/// without credentials.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("'{address}' is not a repository address ({why}): give a git URL or a local path")]
    BadAddress { address: String, why: String },

    #[error("{remote} could not be reached: {reason}; check the address and its credentials")]
    Unreachable { remote: String, reason: String },

    #[error("{remote} has no branch, tag or commit '{rev}': give one it has")]
    UnknownRevision { remote: String, rev: String },

    #[error("'{0}' is not a full commit id")]
    BadCommit(String),

    #[error("two sources are named '{0}': addon repositories are named after the last part of their address, which must differ")]
    DuplicateName(String),

    #[error(transparent)]
    Git(#[from] slipway_checkout::CheckoutError),

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> SourceError + 'a {
        move |source| SourceError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
