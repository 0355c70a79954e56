//! Odoo from source on the platform: the repositories a project takes Odoo
//! from, how it follows them, and the exact commits a build ran.

use serde::{Deserialize, Serialize};
pub use slipway_sources::SourceKind;

/// One repository a project takes Odoo from, as its settings name it.
/// Its `url` may carry credentials: stored, never shown (answers redact it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OdooSource {
    pub kind: SourceKind,
    pub url: String,
    /// A branch (followed), a tag or a commit (pinned); `None`: the branch
    /// named like the project's series.
    #[serde(default)]
    pub rev: Option<String>,
}

/// Never prints the URL's credentials.
impl std::fmt::Debug for OdooSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooSource")
            .field("kind", &self.kind)
            .field("url", &slipway_redact::redact(&self.url))
            .field("rev", &self.rev)
            .finish()
    }
}

/// A source at the exact commit a build runs, resolved when it was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSource {
    pub kind: SourceKind,
    /// `odoo`, `enterprise`, or the repository's name.
    pub name: String,
    /// The repository's address, without credentials.
    pub url: String,
    /// 40 hex digits.
    pub commit: String,
    /// The branch whose head it was, when the source follows one.
    #[serde(default)]
    pub branch: Option<String>,
}
