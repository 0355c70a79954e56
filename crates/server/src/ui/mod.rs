//! The web UI: server-rendered pages (askama templates compiled into the
//! binary), htmx for the few partial updates, server-sent events for live
//! data, and the browser assets embedded from npm packages (see build.rs).
//! One file per page.

mod account;
mod assets;
mod backups;
mod badge;
mod branches;
mod build;
mod error;
mod login;
mod logs;
mod mails;
mod projects;
mod shell;
mod stream;
mod time;
mod views;

pub use error::UiError;
pub use login::LoginThrottle;

use askama::Template;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::SharedState;

/// The body of a form that only carries the session's CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// Every UI route (the proxy and the API are routed elsewhere).
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(projects::index))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/account", get(account::page))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/projects/{name}", get(branches::page))
        .route("/projects/{name}/events", get(branches::events))
        .route(
            "/projects/{name}/branches/{branch}/rebuild",
            post(branches::rebuild),
        )
        .route("/projects/{name}/duplicate", post(build::duplicate))
        .route(
            "/projects/{name}/backups",
            get(backups::page).post(backups::create),
        )
        .route(
            "/projects/{name}/backups/{id}/download",
            post(backups::download),
        )
        .route(
            "/projects/{name}/testinstances",
            post(backups::create_instance),
        )
        .route(
            "/projects/{name}/testinstances/{instance}/refresh",
            post(backups::refresh_instance),
        )
        .route("/builds/{id}", get(build::page))
        .route("/builds/{id}/events", get(build::events))
        .route("/builds/{id}/restart", post(build::restart))
        .route("/builds/{id}/open", get(build::open))
        .route("/builds/{id}/connect", post(build::connect))
        .route("/builds/{id}/users", get(build::users))
        .route("/builds/{id}/dump", post(build::dump))
        .route("/builds/{id}/logs/{file}", get(logs::raw))
        .route("/builds/{id}/logs/{file}/tail", get(logs::tail))
        .route("/builds/{id}/shell", get(shell::page))
        .route("/builds/{id}/shell/socket", get(shell::socket))
        .route("/builds/{id}/mails/{mail}", get(mails::page))
        .route("/builds/{id}/mails/{mail}/html", get(mails::html))
        .route("/builds/{id}/mails/{mail}/raw", get(mails::raw))
        .route("/badge/{project}/{*branch}", get(badge::badge))
        .route("/assets/{file}", get(assets::asset))
}

/// A rendered page with the UI's security headers: a Content-Security-Policy
/// that lets only our own scripts run (styles may be inline: xterm.js sets its own) (a log line or a branch name that holds
/// markup can never execute, even if escaping were ever missed), no framing
/// by other sites, no caching of what a session sees.
pub fn render(state: &SharedState, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => with_security_headers(state, Html(html).into_response()),
        Err(error) => {
            UiError::from(crate::ApiError::internal("rendering a page", error)).into_response()
        }
    }
}

pub fn with_security_headers(state: &SharedState, mut response: Response) -> Response {
    let builds = state.proxy.addresses.builds_source();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'self'; form-action 'self' {builds}"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Percent-encodes a query value (or a path given as one).
pub fn encode_query(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A path to go to after a redirect, if it stays on this site: one leading
/// `/`, not `//` (another host), no backslash (browsers read it as `/`).
pub fn local_path(next: &str) -> Option<&str> {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    safe.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_site() {
        assert_eq!(local_path("/projects/acme"), Some("/projects/acme"));
        assert_eq!(local_path("/web#action=1"), Some("/web#action=1"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query("/web?a=1&b"), "/web%3Fa%3D1%26b");
        assert_eq!(encode_query("démo"), "d%C3%A9mo");
    }
}
