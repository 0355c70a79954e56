//! Web sessions, API tokens, and access to builds' addresses. Only SHA-256
//! hashes of the tokens are stored: a copy of the database opens nothing.

use std::time::Duration;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use crate::accounts::{user_columns, user_from_row, User};
use crate::builds::seconds;
use crate::error::violated_constraint;
use crate::ControlError;

/// The stored form of a secret token. Made only from the token itself, so a
/// raw token can never end up in the database by mistake.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn of(token: &str) -> SecretHash {
        SecretHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to tell two apart in a log.
        write!(f, "SecretHash({}…)", &self.0[..8])
    }
}

/// How long web sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    /// Unused this long, a session ends.
    pub idle: Duration,
    /// However used, a session ends this long after the login.
    pub absolute: Duration,
}

/// A live web session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id: i64,
    pub user: User,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// Uses of a session closer together than this do not move its expiry: a page
/// load is not a write.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Opens a session for the user; `token` goes into the browser's cookie.
pub async fn create_session(
    client: &Client,
    user_id: i64,
    token: &SecretHash,
    csrf_token: &str,
    lifetime: SessionLifetime,
) -> Result<i64, ControlError> {
    let row = client
        .query_one(
            "INSERT INTO sessions (token_sha256, user_id, csrf_token, expires_at) \
             VALUES ($1, $2, $3, now() + least($4::float8, $5::float8) * interval '1 second') \
             RETURNING id",
            &[
                &token.as_str(),
                &user_id,
                &csrf_token,
                &seconds(lifetime.idle),
                &seconds(lifetime.absolute),
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

fn session_from_row(row: &Row) -> Result<WebSession, ControlError> {
    Ok(WebSession {
        id: row.try_get("session_id")?,
        user: user_from_row(row)?,
        csrf_token: row.try_get("csrf_token")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// The live session of a cookie's token, its idle expiry moved forward (at
/// most once a minute, never past the absolute lifetime). `None` for an
/// unknown or expired token.
pub async fn session_by_token(
    client: &Client,
    token: &SecretHash,
    lifetime: SessionLifetime,
) -> Result<Option<WebSession>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "WITH live AS (",
                " SELECT s.id FROM sessions s WHERE s.token_sha256 = $1 AND s.expires_at > now()",
                "), touched AS (",
                " UPDATE sessions s SET last_seen_at = now(),",
                "  expires_at = least(now() + $2::float8 * interval '1 second',",
                "                     s.created_at + $3::float8 * interval '1 second')",
                " FROM live WHERE s.id = live.id",
                "  AND s.last_seen_at < now() - $4::float8 * interval '1 second'",
                " RETURNING s.id, s.expires_at",
                ") SELECT s.id AS session_id, s.csrf_token, ",
                "coalesce(t.expires_at, s.expires_at) AS expires_at, ",
                user_columns!(),
                " FROM live JOIN sessions s ON s.id = live.id",
                " LEFT JOIN touched t ON t.id = s.id",
                " JOIN users u ON u.id = s.user_id"
            ),
            &[
                &token.as_str(),
                &seconds(lifetime.idle),
                &seconds(lifetime.absolute),
                &seconds(TOUCH_EVERY),
            ],
        )
        .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// Ends the session of a cookie's token (and with it every build address it
/// opened). Unknown tokens are ignored: logging out twice is fine.
pub async fn delete_session(client: &Client, token: &SecretHash) -> Result<(), ControlError> {
    client
        .execute(
            "DELETE FROM sessions WHERE token_sha256 = $1",
            &[&token.as_str()],
        )
        .await?;
    Ok(())
}

/// Drops expired sessions and tickets; returns how many rows went.
pub async fn purge_expired(client: &Client) -> Result<u64, ControlError> {
    let sessions = client
        .execute("DELETE FROM sessions WHERE expires_at <= now()", &[])
        .await?;
    let tickets = client
        .execute("DELETE FROM build_tickets WHERE expires_at <= now()", &[])
        .await?;
    Ok(sessions + tickets)
}

/// An API token as listed (the token itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

fn api_token_from_row(row: &Row) -> Result<ApiToken, ControlError> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

macro_rules! api_token_columns {
    () => {
        "id, name, created_at, last_used_at"
    };
}

pub async fn create_api_token(
    client: &Client,
    user_id: i64,
    name: &str,
    token: &SecretHash,
) -> Result<ApiToken, ControlError> {
    let row = client
        .query_one(
            concat!(
                "INSERT INTO api_tokens (user_id, name, token_sha256) VALUES ($1, $2, $3) RETURNING ",
                api_token_columns!()
            ),
            &[&user_id, &name, &token.as_str()],
        )
        .await
        .map_err(|error| {
            if violated_constraint(&error, &SqlState::CHECK_VIOLATION)
                == Some("api_tokens_name_valid")
            {
                ControlError::InvalidSetting("a token's name must have 1 to 100 characters")
            } else {
                error.into()
            }
        })?;
    api_token_from_row(&row)
}

/// The owner of an API token, its last use recorded (at most once a minute).
pub async fn user_by_api_token(
    client: &Client,
    token: &SecretHash,
) -> Result<Option<User>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "WITH found AS (SELECT t.id, t.user_id FROM api_tokens t WHERE t.token_sha256 = $1),",
                " touched AS (UPDATE api_tokens t SET last_used_at = now() FROM found",
                "  WHERE t.id = found.id",
                "  AND (t.last_used_at IS NULL OR t.last_used_at < now() - $2::float8 * interval '1 second'))",
                " SELECT ",
                user_columns!(),
                " FROM found JOIN users u ON u.id = found.user_id"
            ),
            &[&token.as_str(), &seconds(TOUCH_EVERY)],
        )
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user's API tokens, newest first.
pub async fn list_api_tokens(client: &Client, user_id: i64) -> Result<Vec<ApiToken>, ControlError> {
    client
        .query(
            concat!(
                "SELECT ",
                api_token_columns!(),
                " FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
            ),
            &[&user_id],
        )
        .await?
        .iter()
        .map(api_token_from_row)
        .collect()
}

/// Revokes one of the user's tokens.
pub async fn revoke_api_token(client: &Client, user_id: i64, id: i64) -> Result<(), ControlError> {
    let removed = client
        .execute(
            "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
            &[&id, &user_id],
        )
        .await?;
    if removed == 0 {
        return Err(ControlError::UnknownToken(id));
    }
    Ok(())
}

/// What a one-time ticket to a build's address carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildTicket {
    pub session_id: i64,
    pub build_id: i64,
    /// Log into the build's Odoo as this user; `None`: only open the address.
    pub odoo_login: Option<String>,
    /// Where to go on the build's address afterwards (a path).
    pub next_path: String,
}

pub async fn create_ticket(
    client: &Client,
    token: &SecretHash,
    ticket: &BuildTicket,
    valid_for: Duration,
) -> Result<(), ControlError> {
    client
        .execute(
            "INSERT INTO build_tickets (token_sha256, session_id, build_id, odoo_login, next_path, expires_at) \
             VALUES ($1, $2, $3, $4, $5, now() + $6::float8 * interval '1 second')",
            &[
                &token.as_str(),
                &ticket.session_id,
                &ticket.build_id,
                &ticket.odoo_login,
                &ticket.next_path,
                &seconds(valid_for),
            ],
        )
        .await?;
    Ok(())
}

/// Takes the ticket for `build_id` if it exists and has not expired; a
/// ticket is redeemed at most once, whoever asks.
pub async fn redeem_ticket(
    client: &Client,
    token: &SecretHash,
    build_id: i64,
) -> Result<Option<BuildTicket>, ControlError> {
    let row = client
        .query_opt(
            "DELETE FROM build_tickets WHERE token_sha256 = $1 \
             RETURNING session_id, build_id, odoo_login, next_path, expires_at > now() AS live",
            &[&token.as_str()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let ticket = BuildTicket {
        session_id: row.try_get("session_id")?,
        build_id: row.try_get("build_id")?,
        odoo_login: row.try_get("odoo_login")?,
        next_path: row.try_get("next_path")?,
    };
    let live: bool = row.try_get("live")?;
    Ok((live && ticket.build_id == build_id).then_some(ticket))
}

/// Records that the browser holding `token` may open the build's address for
/// as long as the session lives.
pub async fn grant_build_access(
    client: &Client,
    token: &SecretHash,
    session_id: i64,
    build_id: i64,
) -> Result<(), ControlError> {
    client
        .execute(
            "INSERT INTO build_access (token_sha256, session_id, build_id) VALUES ($1, $2, $3)",
            &[&token.as_str(), &session_id, &build_id],
        )
        .await?;
    Ok(())
}

/// Who a build-address cookie belongs to, and for which build: only while the
/// session it came from lives.
pub async fn build_access(
    client: &Client,
    token: &SecretHash,
) -> Result<Option<(i64, User)>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT a.build_id, ",
                user_columns!(),
                " FROM build_access a JOIN sessions s ON s.id = a.session_id",
                " JOIN users u ON u.id = s.user_id",
                " WHERE a.token_sha256 = $1 AND s.expires_at > now()"
            ),
            &[&token.as_str()],
        )
        .await?;
    match row {
        Some(row) => Ok(Some((row.try_get("build_id")?, user_from_row(&row)?))),
        None => Ok(None),
    }
}

/// The account behind a live session, by the session's id (a redeemed
/// ticket names its session, not the cookie's token).
pub async fn live_session_user(
    client: &Client,
    session_id: i64,
) -> Result<Option<User>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM sessions s JOIN users u ON u.id = s.user_id",
                " WHERE s.id = $1 AND s.expires_at > now()"
            ),
            &[&session_id],
        )
        .await?;
    row.as_ref().map(user_from_row).transpose()
}
