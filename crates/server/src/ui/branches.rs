//! `/projects/{name}`: the branches view. One row per branch, production
//! first, then by last build; each row a strip of its builds. The page keeps
//! itself current over server-sent events: a changed branch's row is sent
//! again, rendered for this viewer's role.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Form;
use futures_util::stream::Stream;
use slipway_access::{allows, Action, Principal};
use slipway_control::{Project, Stage};

use super::stream::{async_stream, json_line, KEEP_ALIVE};
use super::views::{Chrome, RowView, TestInstanceView};
use super::CsrfForm;
use super::{render, UiError};
use crate::auth::{authorize_project, visible_project, Viewer};
use crate::live::LiveEvent;
use crate::proxy::access::redirect;
use crate::SharedState;

/// Builds shown per branch.
pub const BUILDS_PER_BRANCH: i64 = 20;
/// Changes closer together than this are sent as one update.
const COALESCE: Duration = Duration::from_millis(150);

#[derive(Template)]
#[template(path = "branches.html")]
struct BranchesPage {
    chrome: Chrome,
    project: String,
    odoo: String,
    rows: Vec<RowView>,
    can_duplicate: bool,
    /// Production's backups that failed verification (loud on the board).
    failed_backups: usize,
    /// Test instances: a section of their own, for who sees staging.
    instances: Vec<TestInstanceView>,
}

/// One row, alone: what the live updates send.
#[derive(Template)]
#[template(path = "branch_row.html")]
struct BranchRow<'a> {
    project: &'a str,
    csrf: &'a str,
    row: &'a RowView,
}

/// The rows the viewer may see (testers do not see production).
async fn rows(
    state: &SharedState,
    project: &Project,
    principal: &Principal,
    branch_id: Option<i64>,
) -> Result<Vec<RowView>, UiError> {
    let session = state.control.session().await?;
    let board =
        slipway_control::branch_board(&session, project.id, BUILDS_PER_BRANCH, branch_id).await?;
    Ok(board
        .iter()
        .filter(|branch| allows(principal, Action::View, branch.stage))
        .map(|branch| RowView::new(project, principal, branch))
        .collect())
}

pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let (project, principal) = {
        let session = state.control.session().await?;
        visible_project(&session, &viewer.caller, &name).await?
    };
    let rows = rows(&state, &project, &principal, None).await?;
    let failed_backups = if allows(&principal, Action::View, Stage::Production) {
        let session = state.control.session().await?;
        slipway_control::list_backups(&session, project.id)
            .await?
            .iter()
            .filter(|backup| backup.verification == slipway_api::Verification::Failed)
            .count()
    } else {
        0
    };
    let instances = if allows(&principal, Action::View, Stage::Staging) {
        let session = state.control.session().await?;
        TestInstanceView::list(&session, project.id).await?
    } else {
        vec![]
    };
    Ok(render(
        &state,
        &BranchesPage {
            failed_backups,
            instances,
            chrome: Chrome::for_viewer(&viewer, format!("{} · branches", project.name)),
            can_duplicate: allows(&principal, Action::Duplicate, Stage::Production),
            project: project.name,
            odoo: project.odoo,
            rows,
        },
    ))
}

/// Renders one row for the live updates.
pub fn row_html(project: &str, csrf: &str, row: &RowView) -> String {
    BranchRow { project, csrf, row }
        .render()
        .unwrap_or_default()
}

/// `/projects/{name}/events`: `row` events (`{"id", "order", "html"}`) as
/// branches change, `rows` (the whole table body) after a resync, and
/// `gone` when a branch disappears.
pub async fn events(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let (project, _) = {
        let session = state.control.session().await?;
        visible_project(&session, &viewer.caller, &name).await?
    };
    let mut events = state.live.subscribe();
    let stream = async_stream(move |sender| async move {
        loop {
            // A closed page ends the task even while its project is quiet.
            let first = tokio::select! {
                _ = sender.closed() => return,
                event = events.recv() => event,
            };
            let mut changed_branches = Vec::new();
            let mut everything = false;
            let mut note = |event: Result<LiveEvent, _>| match event {
                Ok(LiveEvent::Build {
                    project_id,
                    branch_id,
                    ..
                }) if project_id == project.id => changed_branches.push(branch_id),
                Ok(LiveEvent::Branches { project_id }) if project_id == project.id => {
                    everything = true
                }
                Ok(LiveEvent::Access) | Ok(LiveEvent::Resync) => everything = true,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => everything = true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {}
            };
            if matches!(first, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                return;
            }
            note(first);
            // A burst (a build's state changes, several branches pushed at
            // once) becomes one update.
            let until = tokio::time::Instant::now() + COALESCE;
            while let Ok(event) = tokio::time::timeout_at(until, events.recv()).await {
                note(event);
            }
            if !everything && changed_branches.is_empty() {
                continue;
            }
            if !viewer.still_signed_in(&state).await {
                return;
            }
            // The role may have changed: asked again for every update.
            let principal = match state.control.session().await {
                Ok(session) => {
                    match visible_project(&session, &viewer.caller, &project.name).await {
                        Ok((_, principal)) => principal,
                        Err(_) => return,
                    }
                }
                Err(_) => continue,
            };
            let csrf = viewer.csrf().to_string();
            if everything {
                let Ok(rows) = rows(&state, &project, &principal, None).await else {
                    continue;
                };
                let html: String = rows
                    .iter()
                    .map(|row| row_html(&project.name, &csrf, row))
                    .collect();
                if sender
                    .send(Event::default().event("rows").data(json_line(&html)))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            changed_branches.sort_unstable();
            changed_branches.dedup();
            for branch_id in changed_branches {
                let Ok(rows) = rows(&state, &project, &principal, Some(branch_id)).await else {
                    continue;
                };
                let event = match rows.first() {
                    Some(row) => Event::default().event("row").data(
                        serde_json::json!({
                            "id": row.id,
                            "order": row.order.to_string(),
                            "html": row_html(&project.name, &csrf, row),
                        })
                        .to_string(),
                    ),
                    None => Event::default()
                        .event("gone")
                        .data(serde_json::json!({ "id": branch_id }).to_string()),
                };
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// `POST /projects/{name}/branches/{branch}/rebuild`: refused while the
/// branch has a build in progress. htmx swaps the row with the answer.
pub async fn rebuild(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((name, branch_id)): Path<(String, i64)>,
    headers: axum::http::HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let session = state.control.session().await?;
    let (project, principal) = visible_project(&session, &viewer.caller, &name).await?;
    let board = slipway_control::branch_board(&session, project.id, 1, Some(branch_id)).await?;
    let Some(branch) = board.first() else {
        return Err(crate::ApiError::not_found(format!(
            "project '{name}' has no branch #{branch_id} (it was deleted from the repository)"
        ))
        .into());
    };
    authorize_project(
        &session,
        &viewer.caller,
        &name,
        Action::Rebuild,
        branch.stage,
    )
    .await?;
    let build = crate::queueing::queue_rebuild(&session, &project, &branch.name, false).await?;
    tracing::info!(project = %project.name, branch = %branch.name, build = build.id, by = viewer.login(), "rebuild requested");
    drop(session);
    if headers.contains_key("hx-request") {
        let rows = rows(&state, &project, &principal, Some(branch_id)).await?;
        let html = rows
            .first()
            .map(|row| row_html(&project.name, viewer.csrf(), row))
            .unwrap_or_default();
        return Ok(super::with_security_headers(
            &state,
            axum::response::Html(html).into_response(),
        ));
    }
    Ok(redirect(&format!("/projects/{}", project.name)))
}
