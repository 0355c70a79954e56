//! Push webhooks of GitHub (`X-Hub-Signature-256`, HMAC of the body with the
//! project's secret) and GitLab (`X-Gitlab-Token`). A valid push makes the
//! watcher poll the project at once; the quiet period and the queue do the rest.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use slipway_triggers::{WebhookError, WebhookEvent};

use crate::{ApiError, SharedState};

pub async fn github(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = project(&state, &name).await?;
    slipway_triggers::verify_github_signature(
        project.webhook_secret.as_bytes(),
        &body,
        header(&headers, slipway_triggers::GITHUB_SIGNATURE_HEADER),
    )
    .map_err(refused)?;
    let event = slipway_triggers::parse_github_push(
        header(&headers, slipway_triggers::GITHUB_EVENT_HEADER),
        &body,
    )
    .map_err(refused)?;
    Ok(act(&state, &project, event))
}

pub async fn gitlab(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = project(&state, &name).await?;
    slipway_triggers::verify_gitlab_token(
        &project.webhook_secret,
        header(&headers, slipway_triggers::GITLAB_TOKEN_HEADER),
    )
    .map_err(refused)?;
    let event = slipway_triggers::parse_gitlab_push(
        header(&headers, slipway_triggers::GITLAB_EVENT_HEADER),
        &body,
    )
    .map_err(refused)?;
    Ok(act(&state, &project, event))
}

/// The project, or 401 like a wrong signature: an unauthenticated caller must
/// not learn which project names exist.
async fn project(state: &SharedState, name: &str) -> Result<slipway_control::Project, ApiError> {
    let session = state.control.session().await?;
    match slipway_control::get_project(&session, name).await {
        Ok(project) => Ok(project),
        Err(slipway_control::ControlError::UnknownProject(_)) => Err(ApiError::unauthorized(
            "the webhook's signature or token does not match this project",
        )),
        Err(error) => Err(error.into()),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Authentication failures are 401, anything else about the payload 400.
fn refused(error: WebhookError) -> ApiError {
    match error {
        WebhookError::Malformed(_) => ApiError::bad_request(error.to_string()),
        other if is_authentication(&other) => ApiError::unauthorized(other.to_string()),
        other => ApiError::bad_request(other.to_string()),
    }
}

fn is_authentication(error: &WebhookError) -> bool {
    !matches!(
        error,
        WebhookError::Malformed(_) | WebhookError::InvalidBranch(_) | WebhookError::MissingEvent(_)
    )
}

fn act(
    state: &SharedState,
    project: &slipway_control::Project,
    event: WebhookEvent,
) -> (StatusCode, Json<Value>) {
    match event {
        WebhookEvent::Ping => (StatusCode::OK, Json(json!({"ok": true}))),
        WebhookEvent::Push { branch, commit, .. } => {
            tracing::info!(project = %project.name, %branch, %commit, "push received");
            state.polls.request(project.id);
            (
                StatusCode::ACCEPTED,
                Json(json!({"accepted": "push", "branch": branch, "commit": commit})),
            )
        }
        WebhookEvent::BranchDeleted { branch, .. } => {
            state.polls.request(project.id);
            (
                StatusCode::ACCEPTED,
                Json(json!({"accepted": "branch deleted", "branch": branch})),
            )
        }
        WebhookEvent::Ignored { event } => (StatusCode::ACCEPTED, Json(json!({"ignored": event}))),
    }
}
