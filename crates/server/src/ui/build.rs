//! `/builds/{id}`: one build — commit, stage, status, timings, tests and
//! errors, the Odoo commits it runs, and what can be done with it: logs,
//! Connect, Connect as, shell, mails, dump, restart, test duplicate.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use slipway_access::{allows, Action, Principal};
use slipway_api::ByteSize;
use slipway_control::{Build, BuildSource, BuildState, MailSummary, Project, SecretHash, Stage};
use slipway_report::{Report, StoredReport};

use super::stream::{async_stream, json_line, KEEP_ALIVE};
use super::views::{build_class, build_label, commit_link, Chrome};
use super::CsrfForm;
use super::{local_path, logs, render, time, UiError};
use crate::auth::{authorize_project, new_token, Viewer};
use crate::proxy::access::{redirect, ENTER_PATH, TICKET_LIFETIME};
use crate::{ApiError, SharedState};

/// What the viewer may do here, decided once per render.
pub struct Can {
    pub connect: bool,
    pub connect_as: bool,
    pub shell: bool,
    pub mails: bool,
    pub dump: bool,
    pub rebuild: bool,
    pub restart: bool,
    pub duplicate: bool,
}

impl Can {
    /// `local`: the build is served on this host (its shell runs here).
    fn new(principal: &Principal, build: &Build, local: bool) -> Can {
        let stage = build.stage;
        let serving = build.state == BuildState::Serving;
        Can {
            connect: serving && allows(principal, Action::Connect, stage),
            connect_as: serving && allows(principal, Action::ConnectAs, stage),
            shell: serving && local && allows(principal, Action::Shell, stage),
            mails: allows(principal, Action::Mails, stage),
            dump: build.live_database().is_some() && allows(principal, Action::Dump, stage),
            rebuild: allows(principal, Action::Rebuild, stage)
                && !matches!(build.state, BuildState::Pending | BuildState::Running),
            restart: build.why_not_restartable().is_none()
                && allows(principal, Action::Restart, stage),
            duplicate: build.stage == Stage::Production
                && !build.duplicate
                && serving
                && allows(principal, Action::Duplicate, Stage::Production),
        }
    }
}

pub struct ProblemView {
    pub message: String,
    pub traceback: String,
}

/// The build's report (the `slipway ci --json` object), as shown.
pub struct ReportView {
    pub tests_run: u64,
    pub tests_failed: u64,
    pub tests_errors: u64,
    pub tests_skipped: u64,
    pub modules: Vec<String>,
    pub failed_tests: Vec<String>,
    pub errors: Vec<ProblemView>,
    pub warnings: Vec<String>,
    pub more_warnings: usize,
}

/// Warnings listed at most on the page (the log has them all).
const WARNINGS_SHOWN: usize = 50;

impl ReportView {
    fn new(report: &Report) -> ReportView {
        let run = &report.run;
        ReportView {
            tests_run: run.tests.run.into(),
            tests_failed: run.tests.failed.into(),
            tests_errors: run.tests.errors.into(),
            tests_skipped: run.tests.skipped.into(),
            modules: run.modules.clone(),
            failed_tests: report.failed_tests.clone(),
            errors: run
                .errors
                .iter()
                .map(|error| ProblemView {
                    message: error.message.clone(),
                    traceback: error.traceback.clone(),
                })
                .collect(),
            more_warnings: run.warnings.len().saturating_sub(WARNINGS_SHOWN),
            warnings: run.warnings.iter().take(WARNINGS_SHOWN).cloned().collect(),
        }
    }
}

/// The part of the page that changes while the build runs: sent again over
/// server-sent events.
#[derive(Template)]
#[template(path = "build_status.html")]
pub struct BuildStatus {
    pub id: i64,
    pub project: String,
    pub branch: String,
    pub stage: &'static str,
    pub duplicate: bool,
    pub commit: String,
    pub commit_url: Option<String>,
    pub class: &'static str,
    pub label: String,
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub waited: Option<String>,
    pub took: Option<String>,
    pub reason: Option<String>,
    pub address: Option<String>,
    /// What its database and files take on disk, as last measured.
    pub disk: Option<String>,
    pub report: Option<ReportView>,
    /// A report was kept but cannot be read (said so, not shown as zeros).
    pub report_unreadable: bool,
    pub can: Can,
    pub csrf: String,
    pub running: bool,
    pub branch_id: i64,
}

impl BuildStatus {
    fn new(
        state: &SharedState,
        project: &Project,
        build: &Build,
        principal: &Principal,
        csrf: &str,
    ) -> BuildStatus {
        let waited = build
            .started_at
            .and_then(|started| time::seconds_between(build.created_at, started))
            .map(time::duration);
        let took = match (build.started_at, build.finished_at) {
            (Some(started), Some(finished)) => time::seconds_between(started, finished),
            (Some(started), None) if build.state == BuildState::Running => {
                Some(time::seconds_since(started))
            }
            _ => None,
        }
        .map(time::duration);
        BuildStatus {
            id: build.id,
            project: project.name.clone(),
            branch: build.branch.clone(),
            stage: build.stage.as_str(),
            duplicate: build.duplicate,
            commit: build.commit.clone(),
            commit_url: commit_link(project, &build.commit),
            class: build_class(build.state, build.status),
            label: build_label(build.state, build.status),
            created: time::display(build.created_at),
            started: build.started_at.map(time::display),
            finished: build.finished_at.map(time::display),
            waited,
            took,
            reason: build.reason.clone(),
            address: (build.state == BuildState::Serving)
                .then(|| state.proxy.addresses.build_url(build.id)),
            disk: build.disk_use().map(|disk| {
                format!(
                    "{} · database {}, files {} · measured {}",
                    ByteSize(disk.total_bytes()),
                    ByteSize(disk.database_bytes),
                    ByteSize(disk.files_bytes),
                    time::display(disk.measured_at)
                )
            }),
            report: build
                .report
                .as_ref()
                .and_then(StoredReport::readable)
                .map(ReportView::new),
            report_unreadable: matches!(build.report, Some(StoredReport::Unreadable(_))),
            can: Can::new(principal, build, state.serves_locally(build)),
            csrf: csrf.to_string(),
            running: matches!(build.state, BuildState::Pending | BuildState::Running),
            branch_id: build.branch_id,
        }
    }
}

/// One repository of Odoo at the commit the build runs.
pub struct OdooSourceView {
    pub name: String,
    /// Stored without credentials.
    pub url: String,
    pub commit: String,
    pub short_commit: String,
    /// The branch it followed; `None`: a pinned tag or commit.
    pub branch: Option<String>,
}

/// Characters of a source's commit shown (enough to tell Odoo's apart).
const SOURCE_COMMIT_SHOWN: usize = 12;

impl OdooSourceView {
    fn new(source: &BuildSource) -> OdooSourceView {
        OdooSourceView {
            name: source.name.clone(),
            url: source.url.clone(),
            short_commit: source
                .commit
                .get(..SOURCE_COMMIT_SHOWN)
                .unwrap_or(&source.commit)
                .to_string(),
            commit: source.commit.clone(),
            branch: source.branch.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "build.html")]
struct BuildPage {
    chrome: Chrome,
    status: BuildStatus,
    /// Empty for Debian's packaged Odoo.
    odoo: Vec<OdooSourceView>,
    logs: Vec<logs::LogTab>,
    mails: Vec<MailSummary>,
    restart_asked: bool,
}

#[derive(Deserialize)]
pub struct PageQuery {
    restart: Option<String>,
}

/// The build the viewer may see, with its project, for the page.
async fn load(
    state: &SharedState,
    viewer: &Viewer,
    id: i64,
) -> Result<(Build, Project, Principal), UiError> {
    let (build, principal) = viewer.authorized_build(state, id, Action::View).await?;
    let session = state.control.session().await?;
    let project = slipway_control::get_project_by_id(&session, build.project_id).await?;
    Ok((build, project, principal))
}

pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let (build, project, principal) = load(&state, &viewer, id).await?;
    let status = BuildStatus::new(&state, &project, &build, &principal, viewer.csrf());
    let mails = if status.can.mails {
        let session = state.control.session().await?;
        slipway_control::list_mails(&session, id).await?
    } else {
        Vec::new()
    };
    let logs = logs::files_of(&state, &build);
    Ok(render(
        &state,
        &BuildPage {
            chrome: Chrome::for_viewer(
                &viewer,
                format!("Build #{id} · {} · {}", project.name, build.branch),
            ),
            status,
            odoo: build.sources.iter().map(OdooSourceView::new).collect(),
            logs,
            mails,
            restart_asked: query.restart.is_some(),
        },
    ))
}

/// `/builds/{id}/events`: a `status` event with the status part of the page
/// each time the build changes.
pub async fn events(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>, UiError>
{
    viewer.authorized_build(&state, id, Action::View).await?;
    let mut events = state.live.subscribe();
    let stream = async_stream(move |sender| async move {
        loop {
            let event = tokio::select! {
                _ = sender.closed() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(crate::live::LiveEvent::Build { id: changed, .. }) if changed == id => {}
                Ok(crate::live::LiveEvent::Resync | crate::live::LiveEvent::Access)
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            if !viewer.still_signed_in(&state).await {
                return;
            }
            let Ok((build, project, principal)) = load(&state, &viewer, id).await else {
                return;
            };
            let html = BuildStatus::new(&state, &project, &build, &principal, viewer.csrf())
                .render()
                .unwrap_or_default();
            if sender
                .send(Event::default().event("status").data(json_line(&html)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A one-time ticket for the build's address, and the redirect there.
async fn ticket_redirect(
    state: &SharedState,
    viewer: &Viewer,
    build: &Build,
    odoo_login: Option<String>,
    next: &str,
) -> Result<Response, UiError> {
    let token = new_token();
    let session = state.control.session().await?;
    slipway_control::create_ticket(
        &session,
        &SecretHash::of(&token),
        &slipway_control::BuildTicket {
            session_id: viewer.session.id,
            build_id: build.id,
            odoo_login,
            next_path: next.to_string(),
        },
        TICKET_LIFETIME,
    )
    .await?;
    Ok(redirect(&format!(
        "{}{ENTER_PATH}?ticket={token}",
        state.proxy.addresses.build_url(build.id)
    )))
}

#[derive(Deserialize)]
pub struct OpenQuery {
    path: Option<String>,
}

/// `GET /builds/{id}/open?path=P`: into the build's address (at P) without
/// logging into its Odoo: where the proxy sends browsers that have no access
/// cookie for the build yet.
pub async fn open(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(query): Query<OpenQuery>,
) -> Result<Response, UiError> {
    let (build, _) = viewer.authorized_build(&state, id, Action::Connect).await?;
    if build.state != BuildState::Serving {
        return Ok(redirect(&format!("/builds/{id}")));
    }
    let next = query.path.as_deref().and_then(local_path).unwrap_or("/");
    ticket_redirect(&state, &viewer, &build, None, next).await
}

#[derive(Deserialize)]
pub struct ConnectForm {
    csrf: String,
    /// Empty: the build's Odoo administrator.
    #[serde(default)]
    login: String,
}

/// `POST /builds/{id}/connect`: lands in the build's Odoo, logged in as its
/// administrator or as `login`, without a password.
pub async fn connect(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ConnectForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let (build, principal) = viewer.authorized_build(&state, id, Action::Connect).await?;
    if build.state != BuildState::Serving {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("build #{id} is not serving: start it again first"),
        )
        .into());
    }
    let admin = crate::connect::admin_login(&state, &build).await?;
    let login = match form.login.trim() {
        "" => admin,
        login if login == admin => admin,
        login => {
            if !allows(&principal, Action::ConnectAs, build.stage) {
                // Asked again for the refusal's words.
                viewer
                    .authorized_build(&state, id, Action::ConnectAs)
                    .await?;
            }
            login.to_string()
        }
    };
    tracing::info!(build = id, login, by = viewer.login(), "connect");
    ticket_redirect(&state, &viewer, &build, Some(login), "/web").await
}

#[derive(Template)]
#[template(path = "connect_users.html")]
struct ConnectUsers {
    users: Vec<crate::connect::OdooUser>,
}

/// `GET /builds/{id}/users`: the choices of "Connect as" (an htmx partial).
pub async fn users(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, UiError> {
    let (build, _) = viewer
        .authorized_build(&state, id, Action::ConnectAs)
        .await?;
    let users = crate::connect::odoo_users(&state, &build).await?;
    Ok(render(&state, &ConnectUsers { users }))
}

/// `POST /builds/{id}/restart`: asks the build's worker to serve it again.
pub async fn restart(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    viewer.authorized_build(&state, id, Action::Restart).await?;
    let session = state.control.session().await?;
    slipway_control::request_restart(&session, id).await?;
    tracing::info!(build = id, by = viewer.login(), "restart requested");
    Ok(redirect(&format!("/builds/{id}")))
}

#[derive(Deserialize)]
pub struct DumpForm {
    csrf: String,
    #[serde(default)]
    format: String,
}

/// `POST /builds/{id}/dump`: the database as Odoo's zip or `pg_dump -Fc`.
pub async fn dump(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<DumpForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let (build, _) = viewer.authorized_build(&state, id, Action::Dump).await?;
    let format = if form.format.is_empty() {
        "zip"
    } else {
        &form.format
    };
    Ok(crate::api::dumps::stream_dump(&state, &build, format)
        .await?
        .into_response())
}

/// `POST /projects/{name}/duplicate`: queues a test duplicate of production.
pub async fn duplicate(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let session = state.control.session().await?;
    authorize_project(
        &session,
        &viewer.caller,
        &name,
        Action::Duplicate,
        Stage::Production,
    )
    .await?;
    let build = slipway_control::enqueue_duplicate(&session, &name).await?;
    tracing::info!(project = %name, build = build.id, by = viewer.login(), "test duplicate requested");
    Ok(redirect(&format!("/builds/{}", build.id)))
}
