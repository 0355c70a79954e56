use axum::extract::State;
use axum::{Extension, Json};
use slipway_api::ServerStatus;

use crate::auth::Caller;
use crate::{ApiError, SharedState};

/// `GET /api/v1/status`: the server answers, with a few counts and who the
/// token belongs to.
pub async fn status(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ServerStatus>, ApiError> {
    let session = state.control.session().await?;
    let workers = slipway_control::list_workers(&session).await?;
    let projects = slipway_control::list_projects(&session).await?;
    Ok(Json(ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        workers: workers.len(),
        projects: projects.len(),
        caller: caller.login().to_string(),
    }))
}
