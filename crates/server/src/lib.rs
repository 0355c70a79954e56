//! `slipway serve`: the JSON API (versioned under `/api/v1`), the push webhooks
//! of GitHub and GitLab, and the watcher that polls repositories.

mod api;
mod error;
mod hooks;
pub mod proxy;
pub mod watcher;

pub use error::ApiError;

/// What `slipway.toml` and the CLI share with the API.
pub mod api_types {
    pub use crate::api::projects::{add_project, NewProjectBody};
}
pub use watcher::{PollRequests, Watcher};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use slipway_build::Layout;
use slipway_worker::ControlDb;

/// What every request handler may use.
pub struct AppState {
    pub control: ControlDb,
    pub layout: Layout,
    /// The bearer token of the API (the CLI reads it from the data dir).
    pub token: String,
    /// Asks the watcher to poll a project now (webhooks, new projects).
    pub polls: PollRequests,
    /// `<project>.<base>` and `<build>.<base>` to the builds' Odoo.
    pub proxy: proxy::Proxy,
    /// The cluster builds' databases live in (dumps).
    pub cluster: slipway_postgres::Cluster,
    /// `pg_dump` of the host, for dumps.
    pub pg_dump: std::path::PathBuf,
}

pub type SharedState = Arc<AppState>;

/// Every route of the server.
pub fn router(state: SharedState) -> Router {
    let api = Router::new()
        .route("/status", get(api::status::status))
        .route(
            "/projects",
            get(api::projects::list).post(api::projects::add),
        )
        .route("/projects/{name}", delete(api::projects::remove))
        .route("/projects/{name}/branches", get(api::branches::list))
        .route("/projects/{name}/stage", put(api::branches::set_stage))
        .route("/projects/{name}/promote", post(api::branches::promote))
        .route("/projects/{name}/rebuild", post(api::builds::rebuild))
        .route("/projects/{name}/builds", get(api::builds::list))
        .route("/builds/{id}", get(api::builds::get))
        .route("/builds/{id}/log", get(api::logs::log))
        .route("/builds/{id}/mails", get(api::mails::list))
        .route("/builds/{id}/mails/{mail}", get(api::mails::raw))
        .route("/builds/{id}/dump", get(api::dumps::dump))
        .route(
            "/projects/{name}/production",
            get(api::deployments::production),
        )
        .route(
            "/projects/{name}/duplicate",
            post(api::deployments::duplicate),
        )
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api/v1", api)
        .route("/hooks/github/{name}", post(hooks::github))
        .route("/hooks/gitlab/{name}", post(hooks::gitlab))
        // Before any route: a request for a build's host name is the build's.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            proxy::route_by_host,
        ))
        .with_state(state)
}

/// `Authorization: Bearer <token>` on every API call.
async fn require_token(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), state.token.as_bytes()) {
        return Err(ApiError::unauthorized(
            "missing or wrong API token (see `slipway --help` for --token)",
        ));
    }
    Ok(next.run(request).await)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
