//! Mail caught from a build.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use slipway_access::Action;
use slipway_api::MailSummary;

use crate::auth::{authorize_build, Caller};
use crate::{ApiError, SharedState};

/// `GET /api/v1/builds/{id}/mails`: oldest first.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<MailSummary>>, ApiError> {
    let session = state.control.session().await?;
    authorize_build(&session, &caller, id, Action::Mails).await?;
    Ok(Json(slipway_control::list_mails(&session, id).await?))
}

/// `GET /api/v1/builds/{id}/mails/{mail}`: the raw message (`message/rfc822`).
pub async fn raw(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((id, mail)): Path<(i64, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    let session = state.control.session().await?;
    authorize_build(&session, &caller, id, Action::Mails).await?;
    let raw = slipway_control::get_mail(&session, id, mail).await?;
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], raw))
}
