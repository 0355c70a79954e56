//! How slipway learns that branches of a customer's repository changed.
//!
//! Two sources, both ending in "branch X of project P is now at commit C":
//!
//! - polling ([`list_branches`]), which works with any git host slipway can
//!   reach;
//! - push webhooks from GitHub and GitLab ([`verify_github_signature`],
//!   [`parse_github_push`], [`verify_gitlab_token`], [`parse_gitlab_push`]),
//!   which are immediate but need the host to reach slipway.
//!
//! Either way, only branches whose name passes [`validate_branch_name`] are
//! reported. Comparing heads with the last poll and the quiet period after a
//! push are the control database's (one transaction, shared by all workers).

mod branch;
mod remote;
mod webhook;

pub use branch::{validate_branch_name, BranchRule, InvalidBranch, MAX_BRANCH_NAME_LEN};
pub use remote::{list_branches, RemoteError};
pub use webhook::{
    generate_secret, parse_github_push, parse_gitlab_push, verify_github_signature,
    verify_gitlab_token, WebhookError, WebhookEvent, GITHUB_EVENT_HEADER, GITHUB_SIGNATURE_HEADER,
    GITLAB_EVENT_HEADER, GITLAB_TOKEN_HEADER,
};

/// A full git object id as git prints it: 40 lowercase hex digits (SHA-1),
/// or 64 in a SHA-256 repository.
fn is_object_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
