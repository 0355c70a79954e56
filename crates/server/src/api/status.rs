use axum::extract::State;
use axum::{Extension, Json};
use slipway_api::ServerStatus;

use slipway_access::Action;
use slipway_control::Stage;

use crate::auth::{authorize_project, Caller};
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
    let mut failed_backups = vec![];
    for (project, id) in slipway_control::failed_verifications(&session).await? {
        let allowed =
            authorize_project(&session, &caller, &project, Action::View, Stage::Production).await;
        if allowed.is_ok() {
            failed_backups.push(format!("{project} #{id}"));
        }
    }
    Ok(Json(ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        workers: workers.len(),
        projects: projects.len(),
        caller: caller.login().to_string(),
        failed_backups,
    }))
}
