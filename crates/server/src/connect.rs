//! "Connect" and "Connect as": a build's Odoo users, and logging a browser
//! into one of them through slipway's `slipway_connect` Odoo module.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;
use slipway_control::Build;

use crate::proxy::{page, strip_private};
use crate::{ApiError, SharedState};

/// A user of a build's Odoo database, as the "Connect as" list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OdooUser {
    pub login: String,
    pub name: String,
    /// Portal or public users (not employees).
    pub share: bool,
}

/// Users shown at most in the list (a database can have thousands of portal
/// users; employees come first).
const USERS_LISTED: i64 = 500;

/// The build's database, while it has one.
fn database(build: &Build) -> Result<&str, ApiError> {
    build.live_database().ok_or_else(|| {
        ApiError::new(
            StatusCode::GONE,
            format!("build #{} has no database any more", build.id),
        )
    })
}

async fn connect_to(
    state: &SharedState,
    build: &Build,
) -> Result<tokio_postgres::Client, ApiError> {
    let database = database(build)?;
    state
        .engine
        .cluster()
        .connect(database)
        .await
        .map_err(|error| ApiError::internal("connecting to a build's database", error))
}

/// The active users of the build's Odoo, employees first, by login.
pub async fn odoo_users(state: &SharedState, build: &Build) -> Result<Vec<OdooUser>, ApiError> {
    let client = connect_to(state, build).await?;
    let rows = client
        .query(
            "SELECT u.login, coalesce(p.name, u.login) AS name, coalesce(u.share, false) AS share \
               FROM res_users u LEFT JOIN res_partner p ON p.id = u.partner_id \
              WHERE u.active AND u.login IS NOT NULL AND u.login <> '' \
              ORDER BY coalesce(u.share, false), u.login LIMIT $1",
            &[&USERS_LISTED],
        )
        .await
        .map_err(|error| ApiError::internal("listing a build's Odoo users", error))?;
    Ok(rows
        .iter()
        .map(|row| OdooUser {
            login: row.get("login"),
            name: row.get("name"),
            share: row.get("share"),
        })
        .collect())
}

/// The login of the build's Odoo administrator (`base.user_admin`).
pub async fn admin_login(state: &SharedState, build: &Build) -> Result<String, ApiError> {
    let client = connect_to(state, build).await?;
    let row = client
        .query_opt(
            "SELECT u.login FROM ir_model_data d JOIN res_users u ON u.id = d.res_id \
              WHERE d.module = 'base' AND d.name = 'user_admin' AND d.model = 'res.users'",
            &[],
        )
        .await
        .map_err(|error| ApiError::internal("finding a build's Odoo administrator", error))?;
    row.map(|row| row.get(0)).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "build #{}'s database has no Odoo administrator (base.user_admin): connect as another user",
                build.id
            ),
        )
    })
}

/// Asks the build's Odoo for a new session of `login` and hands its answer
/// (a redirect to `next` setting Odoo's session cookie) to the browser.
pub async fn log_into_odoo(
    state: &SharedState,
    build_id: i64,
    login: &str,
    next: &str,
    browser: Request,
) -> Response {
    let unavailable = |message: &str| page(StatusCode::SERVICE_UNAVAILABLE, "slipway", message);
    let build = match state.control.session().await {
        Ok(session) => slipway_control::get_build(&session, build_id).await,
        Err(error) => Err(error),
    };
    let Ok(build) = build else {
        return unavailable("slipway cannot reach its database right now; try again shortly.");
    };
    let Some(address) = build.serving_address() else {
        return unavailable(&format!("Build #{build_id} is not serving right now."));
    };
    let secret = match state.engine.connect_secret(&build.attempt().to_string()) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::warn!(build = build_id, %error, "no Connect secret for the build");
            return unavailable(&format!(
                "Build #{build_id} is served by another host; open it from that host's slipway."
            ));
        }
    };
    let uri = format!(
        "http://{address}{}?login={}&redirect={}",
        slipway_engine::CONNECT_PATH,
        crate::ui::encode_query(login),
        crate::ui::encode_query(next)
    );
    let (mut parts, _) = browser.into_parts();
    strip_private(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    let Ok(secret) = HeaderValue::from_str(&secret) else {
        return unavailable("The build's Connect secret is damaged; rebuild the branch.");
    };
    parts
        .headers
        .insert(slipway_engine::CONNECT_SECRET_HEADER, secret);
    let Ok(uri) = uri.parse() else {
        return page(StatusCode::BAD_REQUEST, "slipway", "Invalid login.");
    };
    parts.uri = uri;
    parts.method = axum::http::Method::GET;
    let request = Request::from_parts(parts, Body::empty());
    let response = match state.proxy.forward_raw(request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(build = build_id, %error, "Connect: the build's Odoo does not answer");
            return unavailable("This build's Odoo does not answer right now; try again shortly.");
        }
    };
    if response.status() == StatusCode::NOT_FOUND {
        return page(
            StatusCode::NOT_FOUND,
            "slipway",
            &format!("Build #{build_id}'s Odoo has no active user '{login}'."),
        );
    }
    tracing::info!(build = build_id, login, "connected to a build's Odoo");
    response
}
