//! Production and its test duplicates.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_access::Action;
use slipway_api::{Build, Production};
use slipway_control::Stage;

use super::build_answer;
use crate::auth::{authorize_project, Caller};
use crate::{ApiError, SharedState};

/// `GET /api/v1/projects/{name}/production`: the serving production build.
pub async fn production(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Production>, ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, &caller, &name, Action::View, Stage::Production).await?;
    let build = slipway_control::production_build(&session, project.id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                slipway_control::ControlError::NoProduction(name.clone()).to_string(),
            )
        })?;
    Ok(Json(Production {
        build: build.id,
        commit: build.commit,
        status: build.status,
        url: state.proxy.production_url(&project.name),
    }))
}

/// `POST /api/v1/projects/{name}/duplicate`: queues a test duplicate of production.
pub async fn duplicate(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let session = state.control.session().await?;
    authorize_project(
        &session,
        &caller,
        &name,
        Action::Duplicate,
        Stage::Production,
    )
    .await?;
    let build = slipway_control::enqueue_duplicate(&session, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(build_answer(&build, &state.proxy.addresses)),
    ))
}
