use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use slipway_access::{allows, Action};
use slipway_api::{
    Branch, BranchOdooRev, BranchRequest, BranchStage, Promotion, SetOdooRev, SetStage, SourceKind,
};
use slipway_control::Stage;

use super::build_answer;
use crate::auth::{authorize_management, visible_project, Caller};
use crate::{ApiError, SharedState};

/// `GET /api/v1/projects/{name}/branches`: production first, then by last
/// build; only the branches the caller's role lets them see.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Branch>>, ApiError> {
    let session = state.control.session().await?;
    let (_, principal) = visible_project(&session, &caller, &name).await?;
    let branches = slipway_control::list_branches(&session, &name).await?;
    Ok(Json(
        branches
            .into_iter()
            .filter(|branch| allows(&principal, Action::View, branch.stage))
            .map(|branch| Branch {
                last_build: branch
                    .last_build
                    .map(|build| build_answer(&build, &state.proxy.addresses)),
                name: branch.name,
                stage: branch.stage,
                head: branch.head,
                odoo_rev: branch.odoo_rev,
            })
            .collect(),
    ))
}

/// `PUT /api/v1/projects/{name}/stage` `{"branch", "stage"}`, with Odoo.sh's rules.
pub async fn set_stage(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<SetStage>, JsonRejection>,
) -> Result<Json<BranchStage>, ApiError> {
    let body = super::body(body)?;
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
    Ok(Json(BranchStage {
        name: branch.name,
        stage: branch.stage,
    }))
}

/// `POST /api/v1/projects/{name}/promote` `{"branch"}`: a staging branch becomes
/// the production branch; the previous production branch becomes staging.
pub async fn promote(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<BranchRequest>, JsonRejection>,
) -> Result<Json<Promotion>, ApiError> {
    let body = super::body(body)?;
    let mut session = state.control.session().await?;
    authorize_management(&session, &caller, &name).await?;
    let promotion =
        slipway_control::promote_to_production(&mut session, &name, &body.branch).await?;
    Ok(Json(Promotion {
        production: promotion.promoted.name,
        demoted: promotion.demoted.map(|branch| branch.name),
    }))
}

/// `PUT /api/v1/projects/{name}/branches/{branch}/odoo` `{"rev"}`: the
/// branch's own commit of the project's Odoo repository (`latest`: the
/// project's revision again), taken by its next build that resolves its
/// sources. Authorized as a change of stage.
pub async fn set_odoo_rev(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    body: Result<Json<SetOdooRev>, JsonRejection>,
) -> Result<Json<BranchOdooRev>, ApiError> {
    let rev = pinned_odoo_rev(&super::body(body)?.rev)?;
    let session = state.control.session().await?;
    let (project, _) = authorize_management(&session, &caller, &name).await?;
    let has_odoo_source = project
        .settings
        .odoo_sources
        .iter()
        .any(|source| source.kind == SourceKind::Odoo);
    if !has_odoo_source {
        return Err(super::projects::runs_packaged_odoo(
            &name,
            "a branch's Odoo revision is a commit of the project's Odoo repository, and it has none",
        ));
    }
    slipway_control::set_branch_odoo_rev(&session, &name, &branch, rev.as_deref()).await?;
    tracing::info!(project = %name, branch, rev = rev.as_deref().unwrap_or("latest"), by = caller.login(), "branch Odoo revision set");
    Ok(Json(BranchOdooRev {
        name: branch,
        odoo_rev: rev,
    }))
}

/// `latest` (`None`: the project's revision) or a full commit id, which a
/// branch pins; a branch or tag name is the project's to follow, not a
/// branch's.
fn pinned_odoo_rev(text: &str) -> Result<Option<String>, ApiError> {
    let rev = text.trim();
    if rev == "latest" {
        return Ok(None);
    }
    if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Some(rev.to_ascii_lowercase()));
    }
    Err(ApiError::bad_request(format!(
        "'{rev}' is not an Odoo revision a branch can pin: give a full commit id (40 hex digits) of the project's Odoo repository, or latest for the project's revision"
    )))
}
