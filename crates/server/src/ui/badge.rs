//! `/badge/{project}/{branch}.svg`: a branch's status as a small image, for
//! READMEs. The one thing anonymous visitors may see: the result of the
//! branch's last finished build, nothing else.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_control::{BuildState, BuildStatus};

use crate::proxy::escape;
use crate::SharedState;

/// `(label, colour)` of the message part.
fn message(status: Option<BuildStatus>) -> (&'static str, &'static str) {
    match status {
        Some(BuildStatus::Success) => ("passing", "#2e8540"),
        Some(BuildStatus::Warning) => ("warnings", "#c98a00"),
        Some(BuildStatus::Failed) => ("failing", "#c0392b"),
        Some(BuildStatus::Killed) => ("killed", "#777777"),
        None => ("unknown", "#9f9f9f"),
    }
}

pub async fn badge(
    State(state): State<SharedState>,
    Path((project, branch)): Path<(String, String)>,
) -> Response {
    let branch = branch.strip_suffix(".svg").unwrap_or(&branch).to_string();
    let status = match last_finished(&state, &project, &branch).await {
        Ok(status) => status,
        Err(status) => return (status, svg("build", message(None))).into_response(),
    };
    (StatusCode::OK, svg("build", message(status))).into_response()
}

/// The status of the branch's newest finished build; 404 for an unknown
/// project or branch (the same answer for both).
async fn last_finished(
    state: &SharedState,
    project: &str,
    branch: &str,
) -> Result<Option<BuildStatus>, StatusCode> {
    let session = state
        .control
        .session()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let project = slipway_control::get_project(&session, project)
        .await
        .map_err(|_| StatusCode::NOT_FOUND)?;
    let builds = slipway_control::list_builds(&session, project.id, Some(branch), 20)
        .await
        .map_err(|_| StatusCode::NOT_FOUND)?;
    Ok(builds
        .iter()
        .filter(|build| !matches!(build.state, BuildState::Pending | BuildState::Running))
        .find(|build| !build.duplicate)
        .and_then(|build| build.status))
}

fn svg(label: &str, (text, colour): (&str, &str)) -> impl IntoResponse {
    // Roughly 7 px per character of an 11 px sans-serif.
    let left = 10 + 7 * label.len();
    let right = 10 + 7 * text.len();
    let total = left + right;
    let body = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {text}\">\
         <rect width=\"{left}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"5\" y=\"14\">{label}</text><text x=\"{x}\" y=\"14\">{text}</text></g></svg>",
        label = escape(label),
        text = escape(text),
        x = left + 5,
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        body,
    )
}
