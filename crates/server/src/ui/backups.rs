//! `/projects/{name}/backups`: the project's Backups tab. Production's
//! backups with their verification (a failed one is shown loudly), taking
//! one now, downloading one, and the test instances restored from them.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use slipway_access::{allows, Action};
use slipway_api::{BackupState, ByteSize, Verification};
use slipway_control::{InstanceMode, Stage};

use super::time::display;
use super::views::{Chrome, TestInstanceView};
use super::{render, UiError};
use crate::api::backups as api;
use crate::auth::{visible_project, Viewer};
use crate::proxy::access::redirect;
use crate::SharedState;

struct BackupRow {
    id: i64,
    kind: String,
    created: String,
    size: String,
    /// `ok`, `failed`, `pending`: the CSS class too.
    verified: &'static str,
    state: String,
    reason: String,
    downloadable: bool,
}

#[derive(Template)]
#[template(path = "backups.html")]
struct BackupsPage {
    chrome: Chrome,
    project: String,
    backups: Vec<BackupRow>,
    /// Backups whose verification failed: they cannot be restored.
    failed: Vec<i64>,
    instances: Vec<TestInstanceView>,
    can_back_up: bool,
    can_manage_instances: bool,
}

pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let session = state.control.session().await?;
    let (project, principal) = visible_project(&session, &viewer.caller, &name).await?;
    let sees_production = allows(&principal, Action::View, Stage::Production);
    let records = if sees_production {
        slipway_control::list_backups(&session, project.id).await?
    } else {
        vec![]
    };
    let can_download = allows(&principal, Action::Dump, Stage::Production);
    let backups = records
        .iter()
        .map(|backup| BackupRow {
            id: backup.id,
            kind: backup.kind.to_string(),
            created: display(backup.created_at),
            size: backup
                .size_bytes
                .map_or_else(|| "—".to_string(), |bytes| ByteSize(bytes).to_string()),
            verified: backup.verification.as_str(),
            state: backup.state.to_string(),
            reason: backup.reason.clone().unwrap_or_default(),
            downloadable: can_download && backup.unrestorable().is_none(),
        })
        .collect();
    let failed = records
        .iter()
        .filter(|b| b.verification == Verification::Failed && b.state != BackupState::Deleted)
        .map(|b| b.id)
        .collect();
    let instances = if allows(&principal, Action::View, Stage::Staging) {
        TestInstanceView::list(&session, project.id).await?
    } else {
        vec![]
    };
    Ok(render(
        &state,
        &BackupsPage {
            chrome: Chrome::for_viewer(&viewer, format!("Backups of {}", project.name)),
            project: project.name,
            backups,
            failed,
            instances,
            can_back_up: allows(&principal, Action::Rebuild, Stage::Production),
            can_manage_instances: allows(&principal, Action::Duplicate, Stage::Production),
        },
    ))
}

/// `POST /projects/{name}/backups`: a backup now.
pub async fn create(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    api::request_manual(&state, &viewer.caller, &name).await?;
    Ok(redirect(&format!("/projects/{name}/backups")))
}

/// `POST /projects/{name}/backups/{id}/download`: Odoo's zip.
pub async fn download(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    Ok(api::backup_zip(&state, &viewer.caller, &name, id)
        .await?
        .into_response())
}

#[derive(Deserialize)]
pub struct InstanceForm {
    pub csrf: String,
    pub name: String,
}

/// `POST /projects/{name}/testinstances`: a new test instance from the
/// newest verified backup; to its build's page.
pub async fn create_instance(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<InstanceForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let instance = form.name.trim();
    let (_, axum::Json(build)) = api::queue_test_instance(
        &state,
        &viewer.caller,
        &name,
        instance,
        None,
        InstanceMode::New,
    )
    .await?;
    Ok(redirect(&format!("/builds/{}", build.id)))
}

/// `POST /projects/{name}/testinstances/{instance}/refresh`.
pub async fn refresh_instance(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((name, instance)): Path<(String, String)>,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let (_, axum::Json(build)) = api::queue_test_instance(
        &state,
        &viewer.caller,
        &name,
        &instance,
        None,
        InstanceMode::Existing,
    )
    .await?;
    Ok(redirect(&format!("/builds/{}", build.id)))
}
