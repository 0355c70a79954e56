//! Production, its test duplicates and its Odoo updates.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_access::Action;
use slipway_api::{Build, Production};
use slipway_control::{ControlError, Stage};

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
        .ok_or_else(|| ApiError::not_found(ControlError::NoProduction(name.clone()).to_string()))?;
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

/// `POST /api/v1/projects/{name}/odoo-update`: queues production's head on the
/// newest commits of the project's Odoo sources (production never changes
/// its Odoo by itself), run as any update of production: on a copy, the
/// serving build kept if it fails. Authorized as a rebuild of production.
pub async fn odoo_update(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, &caller, &name, Action::Rebuild, Stage::Production).await?;
    if project.settings.odoo_sources.is_empty() {
        return Err(super::projects::runs_packaged_odoo(
            &name,
            "it has no Odoo sources to update",
        ));
    }
    // An update changes a serving production; the first build creates it.
    if slipway_control::production_build(&session, project.id)
        .await?
        .is_none()
    {
        return Err(ControlError::NoProduction(name).into());
    }
    let build = crate::queueing::queue_odoo_update(&session, &project).await?;
    tracing::info!(project = %name, build = build.id, by = caller.login(), "Odoo update requested");
    Ok((
        StatusCode::CREATED,
        Json(build_answer(&build, &state.proxy.addresses)),
    ))
}
