use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use slipway_access::{allows, Action};
use slipway_api::{Build, BuildDetail, RebuildRequest};
use slipway_report::StoredReport;

use super::build_answer;
use crate::auth::{authorize_build, authorize_project, visible_project, Caller};
use crate::{ApiError, SharedState};

/// Builds listed at most (newest first).
const LIST_LIMIT: u32 = 200;

#[derive(Deserialize)]
pub struct ListQuery {
    pub branch: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /api/v1/projects/{name}/builds[?branch=B]`: newest first; only the
/// builds the caller's role lets them see.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Build>>, ApiError> {
    let session = state.control.session().await?;
    let (project, principal) = visible_project(&session, &caller, &name).await?;
    let limit = query.limit.unwrap_or(LIST_LIMIT).clamp(1, LIST_LIMIT);
    let builds =
        slipway_control::list_builds(&session, project.id, query.branch.as_deref(), limit).await?;
    Ok(Json(
        builds
            .iter()
            .filter(|build| allows(&principal, Action::View, build.stage))
            .map(|build| build_answer(build, &state.proxy.addresses))
            .collect(),
    ))
}

/// `GET /api/v1/builds/{id}`: the build with its reason and report.
pub async fn get(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<BuildDetail>, ApiError> {
    let session = state.control.session().await?;
    let (build, _) = authorize_build(&session, &caller, id, Action::View).await?;
    Ok(Json(BuildDetail {
        build: build_answer(&build, &state.proxy.addresses),
        database: build.live_database().map(str::to_string),
        // A kept report that cannot be read is said to be so, not shown as null.
        report_unreadable: matches!(build.report, Some(StoredReport::Unreadable(_))),
        report: build.report.and_then(|report| report.readable().cloned()),
        reason: build.reason,
    }))
}

/// `POST /api/v1/builds/{id}/start`: a stopped build (development, staging or
/// duplicate) whose database is still there serves again; its worker starts it.
pub async fn start(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let session = state.control.session().await?;
    authorize_build(&session, &caller, id, Action::Restart).await?;
    let build = slipway_control::request_restart(&session, id).await?;
    tracing::info!(build = id, by = caller.login(), "start requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(build_answer(&build, &state.proxy.addresses)),
    ))
}

/// `POST /api/v1/projects/{name}/rebuild` `{"branch", "newest_odoo"}`: refused
/// while the branch has a build in progress. A staging rebuild makes a new
/// copy of production. It runs the Odoo commits of the branch's newest build,
/// or with `newest_odoo` its sources' newest.
pub async fn rebuild(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<RebuildRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let body = super::body(body)?;
    let session = state.control.session().await?;
    visible_project(&session, &caller, &name).await?;
    let stage = slipway_control::list_branches(&session, &name)
        .await?
        .into_iter()
        .find(|branch| branch.name == body.branch)
        .map(|branch| branch.stage)
        .ok_or_else(|| slipway_control::ControlError::UnknownBranch {
            project: name.clone(),
            branch: body.branch.clone(),
        })?;
    authorize_project(&session, &caller, &name, Action::Rebuild, stage).await?;
    let project = slipway_control::get_project(&session, &name).await?;
    let build =
        crate::queueing::queue_rebuild(&session, &project, &body.branch, body.newest_odoo).await?;
    Ok((
        StatusCode::CREATED,
        Json(build_answer(&build, &state.proxy.addresses)),
    ))
}
