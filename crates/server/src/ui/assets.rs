//! Browser assets, embedded in the binary: htmx and xterm.js from their npm
//! packages (installed from the lockfile by build.rs), and slipway's own
//! script and style sheet. Browsers keep them for an hour.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

macro_rules! npm {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/node_modules/",
            $path
        ))
    };
}

macro_rules! own {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path))
    };
}

/// `(name, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript",
        npm!("htmx.org/dist/htmx.min.js"),
    ),
    (
        "xterm.js",
        "text/javascript",
        npm!("@xterm/xterm/lib/xterm.js"),
    ),
    ("xterm.css", "text/css", npm!("@xterm/xterm/css/xterm.css")),
    (
        "addon-fit.js",
        "text/javascript",
        npm!("@xterm/addon-fit/lib/addon-fit.js"),
    ),
    ("slipway.js", "text/javascript", own!("slipway.js")),
    ("shell.js", "text/javascript", own!("shell.js")),
    ("slipway.css", "text/css", own!("slipway.css")),
];

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
