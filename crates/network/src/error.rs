/// Why a build's network could not be made, changed or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(
        "`{program}` not found: install it (`apt-get install {package}`), or start slipway \
         with --unconfined to run builds on the host's network"
    )]
    ToolMissing {
        program: &'static str,
        package: &'static str,
    },

    #[error(
        "a network per build needs root (network namespaces, nftables): run slipway as root, \
         or start it with --unconfined to run builds on the host's network"
    )]
    NeedsRoot,

    /// `ip` or `nft` refused; `stderr` is what it said.
    #[error("`{command}` failed: {stderr}")]
    Refused { command: String, stderr: String },

    #[error("invalid build network name '{0}': use lowercase letters and digits")]
    InvalidName(String),

    /// What `nft` listed could not be read.
    #[error("cannot read {0}")]
    Unreadable(String),

    #[error("no free address for another build network: {0} networks exist")]
    Exhausted(usize),

    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}
