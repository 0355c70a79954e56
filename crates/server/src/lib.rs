//! `slipway serve`: the web UI, the JSON API (versioned under `/api/v1`), the
//! reverse proxy to builds, the push webhooks of GitHub and GitLab, and the
//! watcher that polls repositories.

mod addresses;
mod api;
pub mod auth;
mod connect;
mod error;
mod hooks;
pub mod live;
mod odoo_revisions;
pub mod proxy;
pub mod queueing;
pub mod ui;
pub mod watcher;

pub use addresses::Addresses;
/// Adds a project of `slipway.toml` as the API adds one.
pub use api::projects::add_project;
pub use error::ApiError;
pub use watcher::{PollRequests, Watcher};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use slipway_control::ControlDb;
use slipway_control::{Build, SecretHash};
use slipway_engine::Engine;

use auth::Caller;

/// What every request handler may use.
pub struct AppState {
    pub control: ControlDb,
    /// The host's API token (the CLI of this host reads it from the data dir).
    pub token: String,
    /// Asks the watcher to poll a project now (webhooks, new projects).
    pub polls: PollRequests,
    /// `<project>.<base>` and `<build>.<base>` to the builds' Odoo.
    pub proxy: Arc<proxy::Proxy>,
    /// PostgreSQL's programs of the host, for dumps and backups.
    pub pg_binaries: slipway_postgres::PgBinaries,
    /// The engine of this host: its data dir (logs, dumps), the cluster of the
    /// builds' databases, shells and Connect secrets of the builds it serves.
    pub engine: Arc<Engine>,
    /// The name of this host's worker, if it runs one: its builds are local.
    pub worker: Option<String>,
    /// Live events for pages and caches.
    pub live: live::Hub,
    /// Failed logins, per account name.
    pub logins: ui::LoginThrottle,
}

/// What a server is made of, besides what it makes itself.
pub struct ServerParts {
    pub control: ControlDb,
    pub engine: Arc<Engine>,
    /// The host's API token.
    pub token: String,
    pub addresses: Addresses,
    /// The name of this host's worker, if it runs one.
    pub worker: Option<String>,
    pub pg_binaries: slipway_postgres::PgBinaries,
    /// How long the proxy trusts its caches ([`proxy::CacheLife::DEFAULT`]).
    pub proxy_cache: proxy::CacheLife,
}

impl AppState {
    /// The server's state, with its live events hub listening and the
    /// proxy's caches following it, and the watcher to run beside it.
    pub fn start(parts: ServerParts) -> (SharedState, Watcher) {
        let (watcher, polls) = Watcher::new(parts.control.clone());
        tokio::spawn(purge_expired_sessions(parts.control.clone()));
        let live = live::Hub::start(parts.control.clone());
        let proxy = Arc::new(proxy::Proxy::with_cache(parts.addresses, parts.proxy_cache));
        proxy.follow(&live);
        let state = Arc::new(AppState {
            control: parts.control,
            token: parts.token,
            polls,
            proxy,
            pg_binaries: parts.pg_binaries,
            engine: parts.engine,
            worker: parts.worker,
            live,
            logins: ui::LoginThrottle::default(),
        });
        (state, watcher)
    }

    /// Whether the build is served by this host's worker (its files, its
    /// server and its sandbox are here).
    pub fn serves_locally(&self, build: &Build) -> bool {
        self.worker.is_some() && build.worker == self.worker
    }
}

pub type SharedState = Arc<AppState>;

/// Expired sessions (with the build addresses they opened) and tickets are
/// deleted this often.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

async fn purge_expired_sessions(control: ControlDb) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        let purged = match control.session().await {
            Ok(session) => slipway_control::purge_expired(&session).await,
            Err(error) => Err(error),
        };
        match purged {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "expired sessions and tickets deleted"),
            Err(error) => {
                tracing::warn!(%error, "deleting expired sessions failed; retrying later")
            }
        }
    }
}

/// Every route of the server.
pub fn router(state: SharedState) -> Router {
    let api = Router::new()
        .route("/status", get(api::status::status))
        .route(
            "/projects",
            get(api::projects::list).post(api::projects::add),
        )
        .route("/projects/{name}", delete(api::projects::remove))
        .route("/projects/{name}/limits", patch(api::projects::set_limits))
        .route("/projects/{name}/branches", get(api::branches::list))
        .route("/projects/{name}/stage", put(api::branches::set_stage))
        .route(
            "/projects/{name}/branches/{branch}/odoo",
            put(api::branches::set_odoo_rev),
        )
        .route("/projects/{name}/promote", post(api::branches::promote))
        .route("/projects/{name}/rebuild", post(api::builds::rebuild))
        .route(
            "/projects/{name}/odoo-update",
            post(api::deployments::odoo_update),
        )
        .route("/projects/{name}/builds", get(api::builds::list))
        .route(
            "/projects/{name}/members/{login}",
            put(api::users::set_role).delete(api::users::remove_role),
        )
        .route("/builds/{id}", get(api::builds::get))
        .route("/builds/{id}/start", post(api::builds::start))
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
        .route(
            "/projects/{name}/backups",
            get(api::backups::list).post(api::backups::create),
        )
        .route("/projects/{name}/backups/{id}", get(api::backups::get))
        .route(
            "/projects/{name}/backups/{id}/verify",
            post(api::backups::verify),
        )
        .route(
            "/projects/{name}/backups/{id}/restore",
            post(api::backups::restore),
        )
        .route(
            "/projects/{name}/backups/{id}/download",
            get(api::backups::download),
        )
        .route(
            "/projects/{name}/backup-settings",
            get(api::backups::settings).put(api::backups::set_settings),
        )
        .route(
            "/projects/{name}/testinstances",
            get(api::backups::test_instances).post(api::backups::create_test_instance),
        )
        .route(
            "/projects/{name}/testinstances/{instance}",
            delete(api::backups::remove_test_instance),
        )
        .route(
            "/projects/{name}/testinstances/{instance}/refresh",
            post(api::backups::refresh_test_instance),
        )
        .route(
            "/projects/{name}/imports",
            post(api::backups::import).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/users", get(api::users::list).post(api::users::add))
        .route("/users/{login}", delete(api::users::remove))
        .route("/users/{login}/password", put(api::users::set_password))
        .route("/users/{login}/tokens", post(api::users::create_token))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api/v1", api)
        .route("/hooks/github/{name}", post(hooks::github))
        .route("/hooks/gitlab/{name}", post(hooks::gitlab))
        .merge(ui::routes())
        // Before any route: a request for a build's host name is the build's.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            proxy::route_by_host,
        ))
        .with_state(state)
}

/// `Authorization: Bearer <token>` on every API call: the host's token, or a
/// user's API token (the call then has that user's roles).
async fn require_token(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .to_string();
    let refused = || {
        ApiError::unauthorized(
            "missing or wrong API token (see `slipway --help` for --token; tokens are made on \
             the account page or with `slipway user token`)",
        )
    };
    if given.is_empty() {
        return Err(refused());
    }
    let caller = if auth::same_secret(given.as_bytes(), state.token.as_bytes()) {
        Caller::Host
    } else {
        let session = state.control.session().await?;
        match slipway_control::user_by_api_token(&session, &SecretHash::of(&given)).await? {
            Some(user) => Caller::User(user),
            None => return Err(refused()),
        }
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}
