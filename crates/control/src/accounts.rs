//! Accounts and their roles per project. Passwords arrive here already hashed
//! (argon2id PHC strings, made by `slipway_access`): this layer never sees one.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use crate::error::violated_constraint;
use crate::{parse_column, ControlError, Role};

/// An account. The password hash is never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub login: String,
    /// Everything on every project, and the accounts themselves.
    pub is_admin: bool,
    pub created_at: OffsetDateTime,
}

/// A user's role in one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub project_id: i64,
    pub project: String,
    pub role: Role,
}

/// The SELECT list of a [`User`], over `users u`.
macro_rules! user_columns {
    () => {
        concat!(
            "u.id AS user_id, u.login AS user_login, u.is_admin AS user_is_admin, ",
            "u.created_at AS user_created_at"
        )
    };
}
pub(crate) use user_columns;

pub(crate) fn user_from_row(row: &Row) -> Result<User, ControlError> {
    Ok(User {
        id: row.try_get("user_id")?,
        login: row.try_get("user_login")?,
        is_admin: row.try_get("user_is_admin")?,
        created_at: row.try_get("user_created_at")?,
    })
}

fn user_error(login: &str, error: tokio_postgres::Error) -> ControlError {
    if violated_constraint(&error, &SqlState::UNIQUE_VIOLATION) == Some("users_login_unique") {
        return ControlError::UserExists(login.to_string());
    }
    if violated_constraint(&error, &SqlState::CHECK_VIOLATION) == Some("users_login_valid") {
        return ControlError::InvalidLogin(login.to_string());
    }
    error.into()
}

pub async fn add_user(
    client: &Client,
    login: &str,
    password_hash: &str,
    is_admin: bool,
) -> Result<User, ControlError> {
    let row = client
        .query_one(
            concat!(
                "INSERT INTO users AS u (login, password_hash, is_admin) VALUES ($1, $2, $3) RETURNING ",
                user_columns!()
            ),
            &[&login, &password_hash, &is_admin],
        )
        .await
        .map_err(|error| user_error(login, error))?;
    user_from_row(&row)
}

pub async fn get_user(client: &Client, login: &str) -> Result<User, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u WHERE u.login = $1"
            ),
            &[&login],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownUser(login.to_string()))?;
    user_from_row(&row)
}

/// The account and its password hash, for a login attempt; `None` when there
/// is no such login (the caller must not tell the two failures apart).
pub async fn user_credentials(
    client: &Client,
    login: &str,
) -> Result<Option<(User, String)>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                user_columns!(),
                ", u.password_hash FROM users u WHERE u.login = $1"
            ),
            &[&login],
        )
        .await?;
    match row {
        Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?))),
        None => Ok(None),
    }
}

/// Every account, by login.
pub async fn list_users(client: &Client) -> Result<Vec<User>, ControlError> {
    client
        .query(
            concat!("SELECT ", user_columns!(), " FROM users u ORDER BY u.login"),
            &[],
        )
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

/// Replaces the password; every session of the account ends with it.
pub async fn set_password(
    client: &mut Client,
    login: &str,
    password_hash: &str,
) -> Result<(), ControlError> {
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            "UPDATE users SET password_hash = $2 WHERE login = $1 RETURNING id",
            &[&login, &password_hash],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownUser(login.to_string()))?;
    let id: i64 = row.try_get(0)?;
    transaction
        .execute("DELETE FROM sessions WHERE user_id = $1", &[&id])
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Removes the account with its sessions, tokens and roles.
pub async fn remove_user(client: &Client, login: &str) -> Result<(), ControlError> {
    let removed = client
        .execute("DELETE FROM users WHERE login = $1", &[&login])
        .await?;
    if removed == 0 {
        return Err(ControlError::UnknownUser(login.to_string()));
    }
    Ok(())
}

/// Gives `login` a role in the project, or takes its role away (`None`).
pub async fn set_role(
    client: &Client,
    project: &str,
    login: &str,
    role: Option<Role>,
) -> Result<(), ControlError> {
    let row = client
        .query_opt(
            "SELECT (SELECT id FROM projects WHERE name = $1) AS project_id, \
                    (SELECT id FROM users WHERE login = $2) AS user_id",
            &[&project, &login],
        )
        .await?
        .expect("a SELECT without FROM returns one row");
    let project_id: Option<i64> = row.try_get("project_id")?;
    let project_id = project_id.ok_or_else(|| ControlError::UnknownProject(project.to_string()))?;
    let user_id: Option<i64> = row.try_get("user_id")?;
    let user_id = user_id.ok_or_else(|| ControlError::UnknownUser(login.to_string()))?;
    match role {
        Some(role) => {
            client
                .execute(
                    "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3) \
                     ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                    &[&project_id, &user_id, &role.as_str()],
                )
                .await?;
        }
        None => {
            client
                .execute(
                    "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2",
                    &[&project_id, &user_id],
                )
                .await?;
        }
    }
    Ok(())
}

/// The user's role in the project, if any.
pub async fn project_role(
    client: &Client,
    user_id: i64,
    project_id: i64,
) -> Result<Option<Role>, ControlError> {
    let row = client
        .query_opt(
            "SELECT role FROM project_members WHERE user_id = $1 AND project_id = $2",
            &[&user_id, &project_id],
        )
        .await?;
    row.map(|row| parse_column(&row, "role")).transpose()
}

/// The projects the user has a role in, by name.
pub async fn memberships(client: &Client, user_id: i64) -> Result<Vec<Membership>, ControlError> {
    client
        .query(
            "SELECT m.project_id, p.name, m.role FROM project_members m \
             JOIN projects p ON p.id = m.project_id WHERE m.user_id = $1 ORDER BY p.name",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(Membership {
                project_id: row.try_get("project_id")?,
                project: row.try_get("name")?,
                role: parse_column(row, "role")?,
            })
        })
        .collect()
}
