use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_api::{AddedProject, NewProject, Project};
use slipway_control::ProjectSettings;

use crate::auth::{require_admin, visible_project, Caller};
use crate::{ApiError, SharedState};

/// `git ls-remote` of a new project's repository may take this long.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// `GET /api/v1/projects`: the projects the caller has a role in.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<Project>>, ApiError> {
    let session = state.control.session().await?;
    let projects = slipway_control::list_projects(&session).await?;
    let mut list = Vec::new();
    for project in projects {
        if caller.principal(&session, project.id).await?.sees_project() {
            list.push(project_answer(project));
        }
    }
    Ok(Json(list))
}

/// A project as the API shows it: its repository's credentials redacted.
fn project_answer(project: slipway_control::Project) -> Project {
    Project {
        repo: slipway_redact::redact(&project.repo_url).into_owned(),
        name: project.name,
        odoo: project.odoo,
        production_branch: project.production_branch,
    }
}

/// `POST /api/v1/projects`: checked against the repository before anything is
/// stored, so a wrong URL or branch leaves nothing half-created.
pub async fn add(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewProject>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<AddedProject>), ApiError> {
    require_admin(&caller, "add or remove projects")?;
    let Json(body) = body.map_err(|rejection| {
        ApiError::bad_request(format!("invalid project: {}", rejection.body_text()))
    })?;
    let project = add_project(&state, body).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// Validates and stores a project, records its branches and queues its first
/// builds (production, then staging: [`crate::queueing`]). Shared with
/// `slipway.toml` at start.
pub async fn add_project(state: &SharedState, body: NewProject) -> Result<AddedProject, ApiError> {
    let series = body
        .odoo
        .parse::<slipway_image::OdooVersion>()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    // A project builds on Debian's packaged Odoo; Odoo from source is
    // `slipway ci --odoo-repo` only, for now.
    if !series.is_packaged() {
        return Err(ApiError::bad_request(format!(
            "Odoo {series} has no Debian package (only 14.0 and 19.0): a project builds on one of those; Odoo from source is `slipway ci --odoo-repo` only for now"
        )));
    }
    slipway_triggers::validate_branch_name(&body.production_branch)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The engine compiles the rules per build; a broken one is refused now.
    if let Some(rules) = &body.ignore_rules {
        slipway_odoo_log::IgnoreRules::new(rules)
            .map_err(|error| ApiError::bad_request(error.to_string()))?;
    }
    let heads = slipway_triggers::list_branches(&body.repo, LIST_TIMEOUT)
        .await
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    if !heads.contains_key(&body.production_branch) {
        let known: Vec<&str> = heads.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(format!(
            "the repository has no branch '{}' for production (it has: {}); pass --production-branch",
            body.production_branch,
            if known.is_empty() { "no branch at all".to_string() } else { known.join(", ") }
        )));
    }
    let staging_source = match body.staging_source.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<slipway_control::StagingSource>()
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
        ),
    };
    let defaults = ProjectSettings::default();
    let new = slipway_control::NewProject {
        name: body.name.clone(),
        repo_url: body.repo.clone(),
        odoo: body.odoo.clone(),
        production_branch: body.production_branch.clone(),
        webhook_secret: slipway_triggers::generate_secret()
            .map_err(|error| ApiError::internal("generating a webhook secret", error))?,
        settings: ProjectSettings {
            poll_interval_s: body.poll_interval_s.unwrap_or(defaults.poll_interval_s),
            quiet_period_s: body.quiet_period_s.unwrap_or(defaults.quiet_period_s),
            dev_builds_kept: body.dev_builds_kept.unwrap_or(defaults.dev_builds_kept),
            modules: body.modules.clone(),
            test_tags: body.test_tags.clone(),
            ignore_rules: body.ignore_rules.clone().unwrap_or_default(),
            update_all: body.update_all.unwrap_or(defaults.update_all),
            staging_source: staging_source.unwrap_or(defaults.staging_source),
            commit_url: body.commit_url.clone().filter(|url| !url.is_empty()),
        },
    };
    let mut session = state.control.session().await?;
    let project = slipway_control::add_project(&session, &new).await?;
    let changes = slipway_control::sync_branches(&mut session, project.id, &heads).await?;
    tracing::info!(project = %project.name, branches = changes.created.len(), "project added");
    crate::queueing::queue_new_project(&session, &project, &changes.created).await?;
    Ok(AddedProject {
        branches: changes.created.len(),
        webhook_secret: project.webhook_secret.clone(),
        project: project_answer(project),
    })
}

/// `DELETE /api/v1/projects/{name}`.
pub async fn remove(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut session = state.control.session().await?;
    visible_project(&session, &caller, &name).await?;
    require_admin(&caller, "add or remove projects")?;
    let removed = slipway_control::remove_project(&mut session, &name).await?;
    tracing::info!(project = %name, live_builds = removed.live_builds.len(), "project removed");
    Ok(StatusCode::NO_CONTENT)
}
