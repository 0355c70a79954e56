//! Accounts, their roles and API tokens: `/users`, `/users/{login}/password`,
//! `/users/{login}/tokens`, `/projects/{name}/members/{login}`. Types that
//! carry a password or a token have no `Debug`, so that none is ever logged.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{timestamp, Role};

/// An account as listed (`slipway user list --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub login: String,
    /// An administrator of slipway: every project, every action, accounts.
    pub admin: bool,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    pub roles: Vec<ProjectRole>,
}

/// An account's role in one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRole {
    pub project: String,
    pub role: Role,
}

/// `POST /users`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub login: String,
    pub password: String,
    #[serde(default)]
    pub admin: bool,
}

/// The answer to `POST /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedUser {
    pub login: String,
    pub admin: bool,
}

/// `PUT /users/{login}/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    pub password: String,
}

/// `POST /users/{login}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
}

/// The answer to `POST /users/{login}/tokens`: the token is shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub token: String,
}

/// `PUT /projects/{name}/members/{login}`. The role is the caller's text,
/// checked by the server (which names the roles when it is wrong).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    pub role: String,
}

/// The answer to `PUT /projects/{name}/members/{login}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGiven {
    pub project: String,
    pub login: String,
    pub role: Role,
}
