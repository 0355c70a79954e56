//! The few pages the proxy answers itself: maintenance, stopped builds,
//! refusals. Everything shown is escaped.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::SharedState;

/// Browsers retry a maintenance page after this.
const MAINTENANCE_RETRY: Duration = Duration::from_secs(5);

pub fn maintenance(project: &str) -> Response {
    let mut response = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Maintenance",
        &format!("{project} is being updated. This page reloads by itself."),
    );
    let headers = response.headers_mut();
    let seconds = HeaderValue::from_str(&MAINTENANCE_RETRY.as_secs().to_string()).expect("digits");
    headers.insert(header::RETRY_AFTER, seconds.clone());
    headers.insert("refresh", seconds);
    response
}

/// A stopped build's address: says so, and links to the build's page in the
/// UI, where it can be started again (a form there carries the CSRF token).
pub fn stopped(state: &SharedState, build_id: i64, restartable: bool) -> Response {
    let ui = state.proxy.addresses.ui_origin();
    let (message, link) = if restartable {
        (
            format!("Build #{build_id} is stopped: its Odoo is not running, but its database is still there."),
            format!(
                "<p><a href=\"{}\">Start it again</a></p>",
                escape(&format!("{ui}/builds/{build_id}?restart=1#restart"))
            ),
        )
    } else {
        (
            format!("Build #{build_id} is stopped and its database was dropped (or it was replaced as production)."),
            format!("<p><a href=\"{}\">See the build</a></p>", escape(&format!("{ui}/builds/{build_id}"))),
        )
    };
    page_with(
        StatusCode::SERVICE_UNAVAILABLE,
        "Build stopped",
        &message,
        &link,
    )
}

/// A small HTML page; `message` is escaped.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    page_with(status, title, message, "")
}

/// [`page`] with trusted, already escaped `extra` HTML after the message.
fn page_with(status: StatusCode, title: &str, message: &str, extra: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:4em auto;max-width:40em\">\
         <h1>{title}</h1><p>{}</p>{extra}</body></html>\n",
        escape(message),
        title = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(escape("<b>\"x\"&'"), "&lt;b&gt;&quot;x&quot;&amp;&#39;");
    }
}
