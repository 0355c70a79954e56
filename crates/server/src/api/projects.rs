use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_api::{
    AddedProject, LimitsChange, NewProject, OdooFollow, OdooSource, Project, SourceKind,
};
use slipway_control::ProjectSettings;
use slipway_sources::SourceSpec;

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

/// A project as the API shows it: the credentials of its repositories redacted.
fn project_answer(project: slipway_control::Project) -> Project {
    let sources = project.settings.odoo_sources;
    Project {
        repo: slipway_redact::redact(&project.repo_url).into_owned(),
        name: project.name,
        odoo: project.odoo,
        production_branch: project.production_branch,
        // Following is about sources: nothing to say without them.
        odoo_follow: (!sources.is_empty()).then_some(project.settings.odoo_follow),
        odoo_sources: sources
            .into_iter()
            .map(|source| OdooSource {
                url: slipway_redact::redact(&source.url).into_owned(),
                ..source
            })
            .collect(),
        limits: project.settings.limits,
    }
}

/// 400 for what only a project on Odoo from source can do.
pub(super) fn runs_packaged_odoo(project: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "project {project} runs Debian's packaged Odoo: {why} (a project builds Odoo from source when added with an odoo source, --odoo-repo)"
    ))
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
    let version = body
        .odoo
        .parse::<slipway_image::OdooVersion>()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    // As Odoo's branches name it ("17.0", "saas-17.2"): a source's default
    // revision is the branch named like the series.
    let series = version.to_string();
    let odoo_sources = body.odoo_sources.clone().unwrap_or_default();
    check_sources(&odoo_sources, &series)?;
    let from_source = odoo_sources
        .iter()
        .any(|source| source.kind == SourceKind::Odoo);
    if !from_source && !version.is_packaged() {
        return Err(ApiError::bad_request(format!(
            "Odoo {series} has no Debian package (only 14.0 and 19.0): give the project an odoo source (--odoo-repo) to build Odoo {series} from, or pick one of those"
        )));
    }
    let limits = body.limits();
    limits.validate()?;
    let odoo_follow = match body.odoo_follow.as_deref() {
        None => OdooFollow::default(),
        Some(text) => text.parse::<OdooFollow>()?,
    };
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
        odoo: series,
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
            odoo_sources,
            odoo_follow,
            limits,
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

/// Refuses sources a build could not take: each must be a repository
/// address and revision; Odoo's own comes first and alone, enterprise once at
/// most, and no two are named alike.
fn check_sources(sources: &[OdooSource], series: &str) -> Result<(), ApiError> {
    let specs = sources
        .iter()
        .enumerate()
        .map(|(index, source)| {
            SourceSpec::new(source.kind, &source.url, source.rev.as_deref(), series).map_err(
                |error| ApiError::bad_request(format!("Odoo source #{}: {error}", index + 1)),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (index, spec) in specs.iter().enumerate() {
        // Addons repositories may be many; Odoo and enterprise are one each.
        let alone = spec.kind != SourceKind::Addons;
        if let Some(first) = specs[..index]
            .iter()
            .find(|other| alone && other.kind == spec.kind)
        {
            return Err(ApiError::bad_request(format!(
                "two {name} sources, {} and {}: a project takes {name} from one repository",
                first.remote.plain(),
                spec.remote.plain(),
                name = spec.name,
            )));
        }
        if spec.kind == SourceKind::Odoo && index > 0 {
            return Err(ApiError::bad_request(format!(
                "the odoo source {} must come first: the other sources add to Odoo's own repository",
                spec.remote.plain()
            )));
        }
    }
    slipway_sources::check_unique(&specs).map_err(|error| ApiError::bad_request(error.to_string()))
}

/// `PATCH /api/v1/projects/{name}/limits`: the project's memory per stage
/// and egress allow-list, from its builds' next run or start on.
pub async fn set_limits(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<LimitsChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Project>, ApiError> {
    let session = state.control.session().await?;
    visible_project(&session, &caller, &name).await?;
    require_admin(&caller, "change a project's limits")?;
    let Json(change) = body.map_err(|rejection| {
        ApiError::bad_request(format!("invalid limits: {}", rejection.body_text()))
    })?;
    let project = slipway_control::get_project(&session, &name).await?;
    let limits = change.apply(&project.settings.limits);
    limits.validate()?;
    let update = slipway_control::ProjectUpdate {
        limits: Some(limits),
        ..slipway_control::ProjectUpdate::default()
    };
    let project = slipway_control::update_project(&session, &name, &update).await?;
    tracing::info!(project = %name, limits = ?project.settings.limits, "project limits changed");
    Ok(Json(project_answer(project)))
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
