use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_access::{allows, Action};
use slipway_control::Stage;

use super::BuildView;
use crate::auth::{authorize_management, visible_project, Caller};
use crate::{ApiError, SharedState};

/// `GET /api/v1/projects/{name}/branches`: production first, then by last
/// build; only the branches the caller's role lets them see.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = state.control.session().await?;
    let (_, principal) = visible_project(&session, &caller, &name).await?;
    let branches = slipway_control::list_branches(&session, &name).await?;
    let list: Vec<Value> = branches
        .iter()
        .filter(|branch| allows(&principal, Action::View, branch.stage))
        .map(|branch| {
            json!({
                "name": branch.name,
                "stage": branch.stage.as_str(),
                "head": branch.head,
                "last_build": branch.last_build.as_ref().map(|build| BuildView::new(build, &state.proxy.addresses)),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

#[derive(Deserialize)]
pub struct StageBody {
    pub branch: String,
    pub stage: String,
}

/// `PUT /api/v1/projects/{name}/stage` `{"branch", "stage"}`, with Odoo.sh's rules.
pub async fn set_stage(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<StageBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let stage: Stage = body.stage.parse()?;
    let mut session = state.control.session().await?;
    authorize_management(&session, &caller, &name).await?;
    // A second production branch is refused; changing which branch is
    // production is an explicit promotion.
    let before = slipway_control::list_branches(&session, &name)
        .await?
        .into_iter()
        .find(|branch| branch.name == body.branch)
        .map(|branch| branch.stage);
    let branch = slipway_control::set_stage(&mut session, &name, &body.branch, stage).await?;
    if before != Some(branch.stage) {
        let project = slipway_control::get_project(&session, &name).await?;
        crate::queueing::queue_restaged(&session, &project, &branch).await?;
    }
    Ok(Json(
        json!({"name": branch.name, "stage": branch.stage.as_str()}),
    ))
}

#[derive(Deserialize)]
pub struct PromoteBody {
    pub branch: String,
}

/// `POST /api/v1/projects/{name}/promote` `{"branch"}`: a staging branch becomes
/// the production branch; the previous production branch becomes staging.
pub async fn promote(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<PromoteBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let mut session = state.control.session().await?;
    authorize_management(&session, &caller, &name).await?;
    let promotion =
        slipway_control::promote_to_production(&mut session, &name, &body.branch).await?;
    Ok(Json(json!({
        "production": promotion.promoted.name,
        "demoted": promotion.demoted.map(|branch| branch.name),
    })))
}
