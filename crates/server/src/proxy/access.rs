//! Who may open a build's address. The UI's session cookie is never sent to a
//! build's host (it is another site), so the UI hands the browser a one-time
//! ticket in a redirect to `<build>.<domain>/__slipway/enter`; redeemed
//! there, it becomes a cookie of that host alone, valid while the UI session
//! lives. Scripts use `X-Slipway-Token: <API token>` instead.
//!
//! "Connect" goes one step further: at the redemption, the proxy asks the
//! build's Odoo (slipway's `slipway_connect` module, with the build's secret
//! in a header no browser can send through the proxy) for a new session of
//! the chosen user, and passes Odoo's answer — a redirect that sets Odoo's own
//! session cookie — to the browser. Nobody types or sees a password.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use slipway_access::{allows, Action};
use slipway_control::SecretHash;

use super::cache::Decision;
use super::page;
use crate::auth::cookies::{self, CookieOptions};
use crate::auth::{self, Caller};
use crate::SharedState;

/// The path of a build's address where tickets are redeemed.
pub const ENTER_PATH: &str = "/__slipway/enter";
/// The cookie that opens one build's address.
pub const BUILD_COOKIE: &str = "slipway_build";
/// The header scripts authenticate with on builds' addresses.
pub const TOKEN_HEADER: &str = "x-slipway-token";
/// A ticket must be redeemed within this (it travels in one redirect).
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);

/// Whether the request may reach the build; the response to send otherwise.
pub async fn check(
    state: &SharedState,
    build_id: i64,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let (token, from_header) = match headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => (token.to_string(), true),
        None => match cookies::get(headers, BUILD_COOKIE) {
            Some(token) => (token.to_string(), false),
            None => return Err(send_to_ui(state, build_id, method, uri, headers)),
        },
    };
    let hash = SecretHash::of(&token);
    let decision = match state.proxy.cache.decision(&hash, build_id) {
        Some(decision) => decision,
        None => {
            let decision = decide(state, build_id, &token, &hash, from_header).await?;
            state.proxy.cache.remember(hash, build_id, decision);
            decision
        }
    };
    match decision {
        Decision::Allowed => Ok(()),
        Decision::Refused => Err(not_found(build_id)),
        Decision::Expired => Err(send_to_ui(state, build_id, method, uri, headers)),
    }
}

async fn decide(
    state: &SharedState,
    build_id: i64,
    token: &str,
    hash: &SecretHash,
    from_header: bool,
) -> Result<Decision, Response> {
    let session = state.control.session().await.map_err(|_| unavailable())?;
    let caller = if from_header {
        if auth::same_secret(token.as_bytes(), state.token.as_bytes()) {
            Some(Caller::Host)
        } else {
            slipway_control::user_by_api_token(&session, hash)
                .await
                .map_err(|_| unavailable())?
                .map(Caller::User)
        }
    } else {
        match slipway_control::build_access(&session, hash)
            .await
            .map_err(|_| unavailable())?
        {
            // A cookie opens the build it was given for, nothing else.
            Some((granted, user)) if granted == build_id => Some(Caller::User(user)),
            Some(_) => return Ok(Decision::Expired),
            None => None,
        }
    };
    let Some(caller) = caller else {
        if from_header {
            return Err(page(
                StatusCode::UNAUTHORIZED,
                "slipway",
                "The X-Slipway-Token header holds no valid API token.",
            ));
        }
        // An expired or revoked cookie: through the UI again.
        return Ok(Decision::Expired);
    };
    Ok(if may_connect(state, &caller, build_id).await? {
        Decision::Allowed
    } else {
        Decision::Refused
    })
}

/// Whether `caller` may connect to the build (a build they may not see, or
/// that does not exist, reads the same).
async fn may_connect(
    state: &SharedState,
    caller: &Caller,
    build_id: i64,
) -> Result<bool, Response> {
    let facts = match state.proxy.cache.build_facts(state, build_id).await {
        Ok(Some(facts)) => facts,
        Ok(None) => return Ok(false),
        Err(_) => return Err(unavailable()),
    };
    let session = state.control.session().await.map_err(|_| unavailable())?;
    let principal = caller
        .principal(&session, facts.project_id)
        .await
        .map_err(|_| unavailable())?;
    Ok(allows(&principal, Action::Connect, facts.stage))
}

/// No access yet: a browser navigating is sent to the UI, which checks who
/// it is and comes back with a ticket; anything else is refused.
fn send_to_ui(
    state: &SharedState,
    build_id: i64,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let navigating = method == Method::GET
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !navigating {
        return page(
            StatusCode::UNAUTHORIZED,
            "slipway",
            "Sign in to slipway and open this build from its page.",
        );
    }
    let path = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let location = format!(
        "{}/builds/{build_id}/open?path={}",
        state.proxy.addresses.ui_origin(),
        crate::ui::encode_query(path)
    );
    redirect(&location)
}

/// `GET /__slipway/enter?ticket=T` on a build's address: the ticket becomes
/// this host's access cookie; with an Odoo login in it, Odoo's new session too.
pub async fn enter(state: &SharedState, build_id: i64, request: Request) -> Response {
    let ticket = request
        .uri()
        .query()
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("ticket="))
        .unwrap_or_default()
        .to_string();
    let expired = || {
        page(
            StatusCode::FORBIDDEN,
            "slipway",
            "This link has expired or was already used: open the build again from its page in slipway.",
        )
    };
    if ticket.is_empty() {
        return expired();
    }
    let Ok(session) = state.control.session().await else {
        return unavailable();
    };
    let redeemed =
        slipway_control::redeem_ticket(&session, &SecretHash::of(&ticket), build_id).await;
    let ticket = match redeemed {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return expired(),
        Err(_) => return unavailable(),
    };
    // The rules are checked again: a role may have changed since the click.
    let user = match slipway_control::live_session_user(&session, ticket.session_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return expired(),
        Err(_) => return unavailable(),
    };
    let caller = Caller::User(user);
    match may_connect(state, &caller, build_id).await {
        Ok(true) => {}
        Ok(false) => return not_found(build_id),
        Err(response) => return response,
    }
    let access = auth::new_token();
    if slipway_control::grant_build_access(
        &session,
        &SecretHash::of(&access),
        ticket.session_id,
        build_id,
    )
    .await
    .is_err()
    {
        return unavailable();
    }
    drop(session);
    let mut response = match &ticket.odoo_login {
        None => redirect(&ticket.next_path),
        Some(login) => {
            crate::connect::log_into_odoo(state, build_id, login, &ticket.next_path, request).await
        }
    };
    cookies::set(
        response.headers_mut(),
        BUILD_COOKIE,
        &access,
        CookieOptions {
            secure: state.proxy.addresses.https(),
            max_age: None,
        },
    );
    response
}

fn not_found(build_id: i64) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "slipway",
        &format!("There is no build #{build_id} you can connect to."),
    )
}

fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "slipway",
        "slipway cannot reach its database right now; try again shortly.",
    )
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut response = (StatusCode::SEE_OTHER, Body::empty()).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
