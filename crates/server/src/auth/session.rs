//! The UI's side: the person behind a session cookie, and the CSRF token
//! every one of their forms must carry back.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use slipway_control::{SecretHash, WebSession};

use super::{cookies, same_secret, Caller, SESSION_LIFETIME};
use crate::ui::UiError;
use crate::SharedState;

/// The UI session's cookie.
pub const SESSION_COOKIE: &str = "slipway_session";

/// A signed-in person looking at the UI.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: WebSession,
    pub caller: Caller,
}

impl Viewer {
    pub fn login(&self) -> &str {
        &self.session.user.login
    }

    /// The session's CSRF token, for the forms of a page.
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    /// The build, if this person may do `action` on it (see
    /// [`super::authorize_build`]).
    pub async fn authorized_build(
        &self,
        state: &SharedState,
        id: i64,
        action: slipway_access::Action,
    ) -> Result<(slipway_control::Build, slipway_access::Principal), UiError> {
        let session = state.control.session().await?;
        Ok(super::authorize_build(&session, &self.caller, id, action).await?)
    }

    /// Whether the session still lives (long-lived streams ask it as they go:
    /// signing out, or an expired session, ends them).
    pub async fn still_signed_in(&self, state: &SharedState) -> bool {
        match state.control.session().await {
            Ok(client) => matches!(
                slipway_control::live_session_user(&client, self.session.id).await,
                Ok(Some(_))
            ),
            // A database hiccup is not a sign-out.
            Err(_) => true,
        }
    }

    /// Refuses a state-changing request whose form (or `X-CSRF-Token` header)
    /// does not carry the session's token: another site made the browser send it.
    pub fn check_csrf(&self, given: &str) -> Result<(), UiError> {
        if same_secret(given.as_bytes(), self.session.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(UiError::Csrf)
        }
    }
}

impl FromRequestParts<SharedState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Viewer, UiError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        let Some(token) = cookies::get(&parts.headers, SESSION_COOKIE) else {
            return Err(UiError::LoginRequired {
                next,
                expired: false,
            });
        };
        let client = state.control.session().await?;
        let session =
            slipway_control::session_by_token(&client, &SecretHash::of(token), SESSION_LIFETIME)
                .await?;
        match session {
            Some(session) => Ok(Viewer {
                caller: Caller::User(session.user.clone()),
                session,
            }),
            None => Err(UiError::LoginRequired {
                next,
                expired: true,
            }),
        }
    }
}

impl OptionalFromRequestParts<SharedState> for Viewer {
    type Rejection = UiError;

    /// No session (or an ended one) is `None`; a database failure is an error.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Option<Viewer>, UiError> {
        match <Viewer as FromRequestParts<SharedState>>::from_request_parts(parts, state).await {
            Ok(viewer) => Ok(Some(viewer)),
            Err(UiError::LoginRequired { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Whether the browser reached us over HTTPS (directly or through a
/// TLS-terminating proxy): cookies are then marked `Secure`.
pub fn over_https(headers: &HeaderMap, public_https: bool) -> bool {
    public_https
        || headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Whether a state-changing request comes from one of our own pages: a
/// browser always sends `Origin` with a cross-site POST, and it must then be
/// this very host. (Defence in depth: the CSRF token decides.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}
