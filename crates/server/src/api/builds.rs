use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::BuildView;
use crate::{ApiError, SharedState};

/// Builds listed at most (newest first).
const LIST_LIMIT: u32 = 200;

#[derive(Deserialize)]
pub struct ListQuery {
    pub branch: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /api/v1/projects/{name}/builds[?branch=B]`: newest first.
pub async fn list(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<BuildView>>, ApiError> {
    let session = state.control.session().await?;
    let project = slipway_control::get_project(&session, &name).await?;
    let limit = query.limit.unwrap_or(LIST_LIMIT).clamp(1, LIST_LIMIT);
    let builds =
        slipway_control::list_builds(&session, project.id, query.branch.as_deref(), limit).await?;
    Ok(Json(builds.iter().map(BuildView::from).collect()))
}

/// `GET /api/v1/builds/{id}`: the build with its reason and report.
pub async fn get(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let session = state.control.session().await?;
    let build = slipway_control::get_build(&session, id).await?;
    let mut view = serde_json::to_value(BuildView::from(&build)).expect("build view serializes");
    view["reason"] = build.reason.clone().into();
    view["report"] = build.report.clone().unwrap_or(Value::Null);
    // For `slipway psql` and dumps: the database, while it exists.
    view["database"] = match (&build.database, &build.collected_at) {
        (Some(database), None) => database.clone().into(),
        _ => Value::Null,
    };
    Ok(Json(view))
}

#[derive(Deserialize)]
pub struct RebuildBody {
    pub branch: String,
}

/// `POST /api/v1/projects/{name}/rebuild` `{"branch"}`: refused while the branch
/// has a build in progress. A staging rebuild makes a new copy of production.
pub async fn rebuild(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    body: Result<Json<RebuildBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<BuildView>), ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let session = state.control.session().await?;
    let build = slipway_control::rebuild(&session, &name, &body.branch).await?;
    Ok((StatusCode::CREATED, Json(BuildView::from(&build))))
}
