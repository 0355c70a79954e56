//! Turning the rule book into answers: a project or build someone has no role
//! in does not exist for them (404, the same words as a missing one); an
//! action their role does not allow is refused (403, saying which rule).

use axum::http::StatusCode;
use slipway_access::{allows, Action, Principal};
use slipway_control::{Build, ControlError, Project, Stage};
use tokio_postgres::Client;

use super::Caller;
use crate::ApiError;

/// The project, if the caller may see it.
pub async fn visible_project(
    client: &Client,
    caller: &Caller,
    name: &str,
) -> Result<(Project, Principal), ApiError> {
    let unknown = || ApiError::from(ControlError::UnknownProject(name.to_string()));
    let project = match slipway_control::get_project(client, name).await {
        Ok(project) => project,
        Err(ControlError::UnknownProject(_)) => return Err(unknown()),
        Err(error) => return Err(error.into()),
    };
    let principal = caller.principal(client, project.id).await?;
    if !principal.sees_project() {
        return Err(unknown());
    }
    Ok((project, principal))
}

/// The project, if the caller may do `action` on its things of `stage`.
pub async fn authorize_project(
    client: &Client,
    caller: &Caller,
    name: &str,
    action: Action,
    stage: Stage,
) -> Result<(Project, Principal), ApiError> {
    let (project, principal) = visible_project(client, caller, name).await?;
    check(&principal, &project.name, action, stage)?;
    Ok((project, principal))
}

/// The project, if the caller may manage it (stages, promotion, members).
pub async fn authorize_management(
    client: &Client,
    caller: &Caller,
    name: &str,
) -> Result<(Project, Principal), ApiError> {
    authorize_project(
        client,
        caller,
        name,
        Action::ManageProject,
        Stage::Production,
    )
    .await
}

/// 403 unless the caller administers slipway itself (accounts, projects).
pub fn require_admin(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("only administrators of slipway {what}"),
        ))
    }
}

/// The build, if the caller may do `action` on it.
pub async fn authorize_build(
    client: &Client,
    caller: &Caller,
    build_id: i64,
    action: Action,
) -> Result<(Build, Principal), ApiError> {
    let unknown = || ApiError::from(ControlError::UnknownBuild(build_id));
    let build = match slipway_control::get_build(client, build_id).await {
        Ok(build) => build,
        Err(ControlError::UnknownBuild(_)) => return Err(unknown()),
        Err(error) => return Err(error.into()),
    };
    let principal = caller.principal(client, build.project_id).await?;
    if !principal.sees_project() {
        return Err(unknown());
    }
    // Someone who may not even see the build's stage learns nothing of it.
    if !allows(&principal, Action::View, build.stage) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "your role does not allow seeing {} builds of this project",
                build.stage
            ),
        ));
    }
    if !allows(&principal, action, build.stage) {
        // The project's name is read only to say the rule.
        let project = slipway_control::get_project_by_id(client, build.project_id).await?;
        return Err(refusal(&principal, &project.name, action, build.stage));
    }
    Ok((build, principal))
}

/// 403 with the rule, unless allowed.
pub fn check(
    principal: &Principal,
    project: &str,
    action: Action,
    stage: Stage,
) -> Result<(), ApiError> {
    if allows(principal, action, stage) {
        Ok(())
    } else {
        Err(refusal(principal, project, action, stage))
    }
}

/// The 403 that names the rule.
fn refusal(principal: &Principal, project: &str, action: Action, stage: Stage) -> ApiError {
    let role = principal
        .effective_role()
        .map(|role| role.as_str())
        .unwrap_or("none");
    let what = match action {
        Action::Duplicate => "making test duplicates of production".to_string(),
        Action::ManageProject => "changing the project's stages, settings and members".to_string(),
        action => format!("{} {stage} builds", action.describe()),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("your role in project '{project}' ({role}) does not allow {what}"),
    )
}
