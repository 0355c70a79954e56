//! The mail a build sent, caught: one message decoded (headers, text,
//! attachments), its HTML in a sandboxed frame, and the raw message.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use slipway_access::Action;
use slipway_mailcatcher::MailView;

use super::views::Chrome;
use super::{render, UiError};
use crate::auth::Viewer;
use crate::SharedState;

#[derive(Template)]
#[template(path = "mail.html")]
struct MailPage {
    chrome: Chrome,
    build: i64,
    id: i64,
    mail: MailView,
    text: String,
    sizes: Vec<String>,
}

/// The mail decoded; parsing is linear but a message can be megabytes: off
/// the async threads.
async fn mail_view(
    state: &SharedState,
    viewer: &Viewer,
    build: i64,
    mail: i64,
) -> Result<MailView, UiError> {
    let raw = raw_mail(state, viewer, build, mail).await?;
    tokio::task::spawn_blocking(move || MailView::parse(&raw))
        .await
        .map_err(|error| crate::ApiError::internal("reading a caught mail", error).into())
}

async fn raw_mail(
    state: &SharedState,
    viewer: &Viewer,
    build: i64,
    mail: i64,
) -> Result<Vec<u8>, UiError> {
    viewer.authorized_build(state, build, Action::Mails).await?;
    let session = state.control.session().await?;
    Ok(slipway_control::get_mail(&session, build, mail).await?)
}

pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((build, id)): Path<(i64, i64)>,
) -> Result<Response, UiError> {
    let mail = mail_view(&state, &viewer, build, id).await?;
    let text = mail.display_text().into_owned();
    let sizes = mail
        .attachments
        .iter()
        .map(|attachment| format!("{} KB", attachment.size.div_ceil(1024)))
        .collect();
    Ok(render(
        &state,
        &MailPage {
            chrome: Chrome::for_viewer(&viewer, format!("Mail #{id} · build #{build}")),
            build,
            id,
            text,
            sizes,
            mail,
        },
    ))
}

/// The HTML body, alone, for an `<iframe>`: served as a sandbox (a unique
/// origin, no scripts, no forms, nothing loaded from outside), so whatever
/// the mail holds it can neither run nor reach slipway.
pub async fn html(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((build, id)): Path<(i64, i64)>,
) -> Result<Response, UiError> {
    let body = mail_view(&state, &viewer, build, id)
        .await?
        .html
        .unwrap_or_else(|| "<p>This mail has no HTML part.</p>".to_string());
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// The message as caught (`message/rfc822`, downloaded, never rendered).
pub async fn raw(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((build, id)): Path<(i64, i64)>,
) -> Result<Response, UiError> {
    let raw = raw_mail(&state, &viewer, build, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"build{build}-mail{id}.eml\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        raw,
    )
        .into_response())
}
