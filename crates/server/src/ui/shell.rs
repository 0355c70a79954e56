//! `/builds/{id}/shell`: a terminal in the browser (xterm.js) inside the
//! build's sandbox, over a websocket: the build's code and data, `odoo shell`
//! and `psql` on its own database. Closing the page closes the socket, which
//! kills the sandbox.

use std::time::Duration;

use askama::Template;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use slipway_access::Action;
use slipway_control::{Build, BuildState};
use slipway_sandbox::{Terminal, TerminalSize};

use super::views::Chrome;
use super::{render, UiError};
use crate::auth::session::same_origin;
use crate::auth::Viewer;
use crate::{ApiError, SharedState};

/// Pings keep the connection known alive; a peer gone without closing is
/// noticed when a ping cannot be sent.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A shell nobody types into for this long is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(60 * 60);
/// Bytes read from the terminal per message.
const READ_BUFFER: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "shell.html")]
struct ShellPage {
    chrome: Chrome,
    id: i64,
    branch: String,
    project: String,
}

async fn shell_build(state: &SharedState, viewer: &Viewer, id: i64) -> Result<Build, UiError> {
    let (build, _) = viewer.authorized_build(state, id, Action::Shell).await?;
    if build.state != BuildState::Serving {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("build #{id} is not serving: a shell opens on a serving build only"),
        )
        .into());
    }
    if !state.serves_locally(&build) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "build #{id} is served by worker '{}' on another host: open its shell from that host's slipway",
                build.worker.as_deref().unwrap_or("?")
            ),
        )
        .into());
    }
    Ok(build)
}

pub async fn page(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, UiError> {
    let build = shell_build(&state, &viewer, id).await?;
    let project = {
        let session = state.control.session().await?;
        slipway_control::get_project_by_id(&session, build.project_id)
            .await?
            .name
    };
    Ok(render(
        &state,
        &ShellPage {
            chrome: Chrome::for_viewer(&viewer, format!("Shell · build #{id}")),
            id,
            branch: build.branch,
            project,
        },
    ))
}

#[derive(Deserialize)]
pub struct SocketQuery {
    csrf: String,
    #[serde(default = "default_cols")]
    cols: u16,
    #[serde(default = "default_rows")]
    rows: u16,
}

fn default_cols() -> u16 {
    120
}

fn default_rows() -> u16 {
    32
}

/// What the page sends besides keystrokes.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Resize { cols: u16, rows: u16 },
}

pub async fn socket(
    State(state): State<SharedState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, UiError> {
    // Websockets are not bound by the same-origin policy: another site could
    // open one with the user's cookie. Its Origin header and the CSRF token
    // (which only our page knows) say it is ours.
    if !headers.contains_key(axum::http::header::ORIGIN) || !same_origin(&headers) {
        return Err(UiError::Csrf);
    }
    viewer.check_csrf(&query.csrf)?;
    let build = shell_build(&state, &viewer, id).await?;
    let engine_id = build.attempt().to_string();
    let spec = state
        .engine
        .terminal_spec(&engine_id, id)
        .map_err(|error| ApiError::internal("preparing a build's shell", error))?;
    let size = TerminalSize {
        rows: query.rows,
        cols: query.cols,
    };
    let argv = ["/bin/bash", "--norc", "-i"].map(String::from);
    let terminal = state
        .engine
        .sandbox()
        .spawn_terminal(&spec, &argv, size)
        .map_err(|error| ApiError::internal("starting a build's shell", error))?;
    tracing::info!(build = id, by = viewer.login(), "shell opened");
    let login = viewer.login().to_string();
    let banner = format!(
        "slipway: build #{id} ({}, {}). `odoo shell` opens Odoo's Python shell and `psql` the \
         build's database; closing the page ends this shell.\r\n",
        build.branch, build.stage
    );
    Ok(upgrade.on_upgrade(move |socket| async move {
        run(socket, terminal, banner, &state, &viewer).await;
        tracing::info!(build = id, by = %login, "shell closed");
    }))
}

/// Bytes both ways until either side ends (or the person signs out); then
/// the sandbox is killed.
async fn run(
    socket: WebSocket,
    mut terminal: Terminal,
    banner: String,
    state: &SharedState,
    viewer: &Viewer,
) {
    let (mut to_browser, mut from_browser) = socket.split();
    if to_browser
        .send(Message::Binary(banner.into_bytes().into()))
        .await
        .is_err()
    {
        terminal.kill().await;
        return;
    }
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut last_input = tokio::time::Instant::now();
    loop {
        tokio::select! {
            read = terminal.read(&mut buffer) => match read {
                Ok(0) | Err(_) => {
                    let _ = to_browser.send(Message::Text(r#"{"type":"exit"}"#.into())).await;
                    break;
                }
                Ok(n) => {
                    if to_browser.send(Message::Binary(buffer[..n].to_vec().into())).await.is_err() {
                        break;
                    }
                }
            },
            message = from_browser.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    last_input = tokio::time::Instant::now();
                    if terminal.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(Control::Resize { cols, rows }) = serde_json::from_str(&text) {
                        let _ = terminal.resize(TerminalSize { rows, cols });
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            _ = ping.tick() => {
                if last_input.elapsed() >= IDLE_LIMIT {
                    let _ = to_browser.send(Message::Text(r#"{"type":"idle"}"#.into())).await;
                    break;
                }
                if !viewer.still_signed_in(state).await {
                    let _ = to_browser.send(Message::Text(r#"{"type":"signed-out"}"#.into())).await;
                    break;
                }
                if to_browser.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    terminal.kill().await;
    let _ = terminal.wait(Duration::from_secs(5)).await;
    let _ = to_browser.close().await;
}
