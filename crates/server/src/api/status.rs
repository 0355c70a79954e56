use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::{ApiError, SharedState};

/// `GET /api/v1/status`: the server answers, with a few counts.
pub async fn status(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let session = state.control.session().await?;
    let workers = slipway_control::list_workers(&session).await?;
    let projects = slipway_control::list_projects(&session).await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "workers": workers.len(),
        "projects": projects.len(),
    })))
}
