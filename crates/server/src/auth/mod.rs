//! Who is calling, and whether they may: API tokens and the host's token for
//! the JSON API, cookie sessions with CSRF tokens for the UI, and the one
//! rule book ([`slipway_access::allows`]) for both.

pub mod cookies;
pub mod rules;
pub mod session;

use std::time::Duration;

use slipway_access::Principal;
use slipway_control::{ControlError, SessionLifetime, User};

pub use rules::{
    authorize_build, authorize_management, authorize_project, require_admin, visible_project,
};
pub use session::Viewer;

/// UI sessions: unused for 12 hours, or 7 days after the login, they end.
pub const SESSION_LIFETIME: SessionLifetime = SessionLifetime {
    idle: Duration::from_secs(12 * 3600),
    absolute: Duration::from_secs(7 * 24 * 3600),
};

/// Who calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The token in the data dir's `server.json`: root on this host.
    Host,
    /// A person, through an API token or a UI session.
    User(User),
}

impl Caller {
    /// The rules that apply to them in one project.
    pub async fn principal(
        &self,
        client: &tokio_postgres::Client,
        project_id: i64,
    ) -> Result<Principal, ControlError> {
        match self {
            Caller::Host => Ok(Principal::Host),
            Caller::User(user) if user.is_admin => Ok(Principal::User {
                is_admin: true,
                role: None,
            }),
            Caller::User(user) => Ok(Principal::User {
                is_admin: false,
                role: slipway_control::project_role(client, user.id, project_id).await?,
            }),
        }
    }

    /// Administrators of slipway itself (accounts, projects).
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::Host => true,
            Caller::User(user) => user.is_admin,
        }
    }

    pub fn login(&self) -> &str {
        match self {
            Caller::Host => "(host)",
            Caller::User(user) => &user.login,
        }
    }
}

/// A random token for a cookie or a form: 192 bits, hex.
pub fn new_token() -> String {
    slipway_postgres::random_secret(24)
}

/// Constant-time comparison of two secrets.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
