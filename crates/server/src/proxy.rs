//! The reverse proxy: `<project>.<base domain>` is the project's production,
//! `<build id>.<base domain>` one build, both forwarded to the loopback port
//! where the build's Odoo answers. While production's server is down for an
//! update, its address answers 503 with a maintenance page: never a half state.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use slipway_control::BuildState;

use crate::SharedState;

/// Browsers retry a maintenance page after this.
const MAINTENANCE_RETRY: Duration = Duration::from_secs(5);

/// Host names the proxy answers, and how it reaches builds.
pub struct Proxy {
    /// `localhost` by default: `http://<label>.localhost:<port>` resolves to
    /// the loopback in browsers without any DNS setup.
    pub base_domain: String,
    /// The port the server is reached on (for the URLs it gives out).
    pub public_port: u16,
    client: Client<HttpConnector, Body>,
}

impl Proxy {
    pub fn new(base_domain: &str, public_port: u16) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Proxy {
            base_domain: base_domain.trim_matches('.').to_ascii_lowercase(),
            public_port,
            client: Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// The stable address of a project's production.
    pub fn production_url(&self, project: &str) -> String {
        format!("http://{project}.{}:{}", self.base_domain, self.public_port)
    }

    /// The label of a `Host` header under the base domain, if it is one.
    fn label<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let label = name
            .strip_suffix(self.base_domain.as_str())?
            .strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }
}

/// What a label names.
enum Target {
    Port(u16),
    /// Production is being updated (or its server is restarting).
    Maintenance(String),
    Gone(StatusCode, String),
}

/// Sends requests for `<label>.<base domain>` to builds; everything else on
/// to the API.
pub async fn route_by_host(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_ascii_lowercase);
    let Some(label) = host.as_deref().and_then(|host| state.proxy.label(host)) else {
        return next.run(request).await;
    };
    let label = label.to_string();
    match resolve(&state, &label).await {
        Target::Port(port) => forward(&state, request, port, &label).await,
        Target::Maintenance(project) => maintenance(&project),
        Target::Gone(status, message) => page(status, "slipway", &message),
    }
}

async fn resolve(state: &SharedState, label: &str) -> Target {
    let session = match state.control.session().await {
        Ok(session) => session,
        Err(error) => {
            tracing::error!(%error, "proxy: control database unreachable");
            return Target::Gone(
                StatusCode::SERVICE_UNAVAILABLE,
                "slipway cannot reach its database right now; try again shortly".into(),
            );
        }
    };
    if let Ok(id) = label.parse::<i64>() {
        return match slipway_control::get_build(&session, id).await {
            Ok(build) => match (build.state, build.port) {
                (BuildState::Serving, Some(port)) => Target::Port(port),
                _ => Target::Gone(
                    StatusCode::NOT_FOUND,
                    format!("Build #{id} is not serving (it is {}).", build.state),
                ),
            },
            Err(_) => Target::Gone(StatusCode::NOT_FOUND, format!("There is no build #{id}.")),
        };
    }
    let project = match slipway_control::get_project(&session, label).await {
        Ok(project) => project,
        Err(_) => {
            return Target::Gone(
                StatusCode::NOT_FOUND,
                "No project or build has this address.".into(),
            )
        }
    };
    match slipway_control::production_build(&session, project.id).await {
        Ok(Some(build)) => match build.port {
            Some(port) => Target::Port(port),
            None => Target::Maintenance(project.name),
        },
        Ok(None) => Target::Gone(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Project {} has no production database yet: its production branch has not built successfully.",
                project.name
            ),
        ),
        Err(error) => {
            tracing::error!(%error, "proxy: cannot find the production build");
            Target::Maintenance(project.name)
        }
    }
}

async fn forward(state: &SharedState, mut request: Request, port: u16, label: &str) -> Response {
    // Odoo's `/websocket` (16.0+): the connection is handed over once both
    // sides agreed to upgrade, then bytes flow both ways until one closes.
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"))
        .then(|| hyper::upgrade::on(&mut request));
    let path = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let uri: Uri = match format!("http://127.0.0.1:{port}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return page(StatusCode::BAD_REQUEST, "slipway", "Invalid request path."),
    };
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
    match state.proxy.client.request(request).await {
        Ok(mut response) => {
            if let Some(client_side) = upgrade {
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    let build_side = hyper::upgrade::on(&mut response);
                    tokio::spawn(async move {
                        let (Ok(client_side), Ok(build_side)) =
                            (client_side.await, build_side.await)
                        else {
                            return;
                        };
                        let mut client_side = hyper_util::rt::TokioIo::new(client_side);
                        let mut build_side = hyper_util::rt::TokioIo::new(build_side);
                        let _ =
                            tokio::io::copy_bidirectional(&mut client_side, &mut build_side).await;
                    });
                }
            }
            response.map(Body::new)
        }
        Err(error) => {
            tracing::info!(label, port, %error, "proxy: the build's Odoo does not answer");
            if label.parse::<i64>().is_err() {
                // Production's server is down: stopped for an update, or
                // restarting after one.
                maintenance(label)
            } else {
                page(
                    StatusCode::BAD_GATEWAY,
                    "slipway",
                    "This build's Odoo does not answer right now; try again shortly.",
                )
            }
        }
    }
}

fn maintenance(project: &str) -> Response {
    let mut response = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Maintenance",
        &format!("{project} is being updated. This page reloads by itself."),
    );
    let headers = response.headers_mut();
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&MAINTENANCE_RETRY.as_secs().to_string()).expect("digits"),
    );
    headers.insert(
        "refresh",
        HeaderValue::from_str(&MAINTENANCE_RETRY.as_secs().to_string()).expect("digits"),
    );
    response
}

/// A small HTML page; `message` is escaped.
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:4em auto;max-width:40em\">\
         <h1>{title}</h1><p>{}</p></body></html>\n",
        escape(message),
        title = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_taken_from_hosts_under_the_base_domain_only() {
        let proxy = Proxy::new("localhost", 8800);
        assert_eq!(proxy.label("acme.localhost:8800"), Some("acme"));
        assert_eq!(proxy.label("42.localhost"), Some("42"));
        assert_eq!(proxy.label("localhost:8800"), None);
        assert_eq!(proxy.label("127.0.0.1:8800"), None);
        assert_eq!(proxy.label("a.b.localhost:8800"), None);
        assert_eq!(proxy.label("evil-localhost:8800"), None);
        assert_eq!(proxy.production_url("acme"), "http://acme.localhost:8800");
    }

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(escape("<b>\"x\"&'"), "&lt;b&gt;&quot;x&quot;&amp;&#39;");
    }
}
