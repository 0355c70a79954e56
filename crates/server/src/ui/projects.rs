//! `/`: the projects the signed-in person has a role in.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use slipway_control::Role;

use super::views::{build_class, build_label, Chrome};
use super::{render, UiError};
use crate::auth::Viewer;
use crate::SharedState;

struct ProjectRow {
    name: String,
    odoo: String,
    role: &'static str,
    production_class: &'static str,
    production_label: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    projects: Vec<ProjectRow>,
    /// Workers seen lately whose builds run on the host's network.
    unconfined: Vec<String>,
}

/// A worker not seen for this long is gone: its setting no longer matters.
const WORKER_GONE: time::Duration = time::Duration::minutes(5);

pub async fn index(State(state): State<SharedState>, viewer: Viewer) -> Result<Response, UiError> {
    let session = state.control.session().await?;
    let projects = slipway_control::list_projects(&session).await?;
    let memberships = slipway_control::memberships(&session, viewer.session.user.id).await?;
    let mut rows = Vec::new();
    for project in projects {
        let role = if viewer.session.user.is_admin {
            Some(Role::Admin)
        } else {
            memberships
                .iter()
                .find(|membership| membership.project_id == project.id)
                .map(|membership| membership.role)
        };
        let Some(role) = role else { continue };
        let production = slipway_control::production_build(&session, project.id).await?;
        let (production_class, production_label) = match (&production, role) {
            // Testers see nothing of production.
            (_, Role::Tester) => ("killed", "—".to_string()),
            (Some(build), _) => (
                build_class(build.state, build.status),
                build_label(build.state, build.status),
            ),
            (None, _) => ("pending", "no production database yet".to_string()),
        };
        rows.push(ProjectRow {
            name: project.name,
            odoo: project.odoo,
            role: role.as_str(),
            production_class,
            production_label,
        });
    }
    let seen_since = time::OffsetDateTime::now_utc() - WORKER_GONE;
    let unconfined = slipway_control::list_workers(&session)
        .await?
        .into_iter()
        .filter(|worker| !worker.confined && worker.last_seen > seen_since)
        .map(|worker| worker.name)
        .collect();
    Ok(render(
        &state,
        &ProjectsPage {
            chrome: Chrome::for_viewer(&viewer, "Projects"),
            projects: rows,
            unconfined,
        },
    ))
}
