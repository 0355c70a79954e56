//! The reverse proxy: `<project>.<base domain>` is the project's production
//! (public: it is the customer's Odoo, guarded by its own login),
//! `<build id>.<base domain>` one build (for signed-in people allowed to
//! connect to it), both forwarded to the address where the build's Odoo
//! answers (in its own network), websockets and long polling included. While
//! production's server is down for an update, its address answers 503 with a
//! maintenance page: never a half state. A stopped build says so and offers a
//! restart.

pub mod access;
mod cache;
mod pages;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use slipway_control::BuildState;

use crate::addresses::Addresses;
use crate::live::Hub;
use crate::SharedState;
pub(crate) use pages::{escape, page};

pub use cache::CacheLife;
use cache::{Cache, Target};

/// Headers a browser may not send to a build: slipway's own, which only the
/// proxy sets (the Connect secret above all).
const PRIVATE_HEADER_PREFIX: &str = "x-slipway-";

/// How the proxy reaches builds, and what it remembers between requests.
pub struct Proxy {
    pub addresses: Addresses,
    client: Client<HttpConnector, Body>,
    cache: Cache,
}

impl Proxy {
    pub fn new(addresses: Addresses) -> Proxy {
        Proxy::with_cache(addresses, CacheLife::DEFAULT)
    }

    pub fn with_cache(addresses: Addresses, life: CacheLife) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Proxy {
            addresses,
            client: Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            cache: Cache::new(life),
        }
    }

    /// Keeps the caches true to the control database: every change drops
    /// what it may have made stale.
    pub fn follow(self: &std::sync::Arc<Self>, hub: &Hub) {
        cache::follow(self, hub);
    }

    /// The stable address of a project's production.
    pub fn production_url(&self, project: &str) -> String {
        self.addresses.production_url(project)
    }

    /// Sends a request prepared by slipway itself to a build's Odoo.
    pub(crate) async fn forward_raw(
        &self,
        request: Request,
    ) -> Result<Response, hyper_util::client::legacy::Error> {
        Ok(self.client.request(request).await?.map(Body::new))
    }
}

/// Sends requests for `<label>.<base domain>` to builds; everything else on
/// to the UI and the API.
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
    let Some(label) = host
        .as_deref()
        .and_then(|host| state.proxy.addresses.label(host))
    else {
        return next.run(request).await;
    };
    let label = label.to_string();
    match label.parse::<i64>() {
        Ok(build_id) => build_request(&state, build_id, request).await,
        Err(_) => production_request(&state, &label, request).await,
    }
}

/// A request to one build's address: only for those allowed to connect.
async fn build_request(state: &SharedState, build_id: i64, request: Request) -> Response {
    if request.uri().path() == access::ENTER_PATH {
        return access::enter(state, build_id, request).await;
    }
    let (method, uri, headers) = (
        request.method().clone(),
        request.uri().clone(),
        request.headers().clone(),
    );
    if let Err(refusal) = access::check(state, build_id, &method, &uri, &headers).await {
        return refusal;
    }
    let target = state.proxy.cache.build(state, build_id).await;
    match target {
        Target::Address(address) => forward(state, request, address, None).await,
        Target::Stopped { restartable } => pages::stopped(state, build_id, restartable),
        Target::NotServing(build_state) => page(
            StatusCode::NOT_FOUND,
            "slipway",
            &format!(
                "Build #{build_id} is not serving (it is {build_state}).",
                build_state = describe_state(build_state)
            ),
        ),
        Target::Gone(status, message) => page(status, "slipway", &message),
        Target::Maintenance => pages::maintenance(&build_id.to_string()),
    }
}

/// A request to a project's production address: public.
async fn production_request(state: &SharedState, project: &str, request: Request) -> Response {
    match state.proxy.cache.production(state, project).await {
        Target::Address(address) => forward(state, request, address, Some(project)).await,
        Target::Maintenance => pages::maintenance(project),
        Target::Gone(status, message) => page(status, "slipway", &message),
        Target::Stopped { .. } | Target::NotServing(_) => pages::maintenance(project),
    }
}

fn describe_state(state: BuildState) -> &'static str {
    match state {
        BuildState::Pending => "queued",
        BuildState::Running => "still building",
        BuildState::Serving => "serving",
        BuildState::Stopped => "stopped",
        BuildState::Done => "finished without a server",
    }
}

/// Forwards the request to the build's Odoo on the loopback, as it came
/// minus slipway's own cookie and headers. `production`: the project whose
/// production this is (an Odoo that does not answer is then being updated).
pub(crate) async fn forward(
    state: &SharedState,
    mut request: Request,
    address: std::net::SocketAddr,
    production: Option<&str>,
) -> Response {
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
    let uri: Uri = match format!("http://{address}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return page(StatusCode::BAD_REQUEST, "slipway", "Invalid request path."),
    };
    *request.uri_mut() = uri;
    strip_private(request.headers_mut());
    let headers = request.headers_mut();
    let proto = if state.proxy.addresses.https() {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
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
            tracing::info!(%address, %error, "proxy: the build's Odoo does not answer");
            if let Some(project) = production {
                // Production's server is down: stopped for an update, or
                // restarting after one.
                pages::maintenance(project)
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

/// Removes what a build must never see from a request: slipway's cookie and
/// `X-Slipway-*` headers (only the proxy itself sets those, after this).
pub(crate) fn strip_private(headers: &mut axum::http::HeaderMap) {
    let private: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(PRIVATE_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in private {
        headers.remove(name);
    }
    let cookies = crate::auth::cookies::without(headers, access::BUILD_COOKIE);
    headers.remove(header::COOKIE);
    if let Some(cookies) = cookies {
        headers.insert(header::COOKIE, cookies);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_reach_builds_without_slipway_s_cookie_and_headers() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("session_id=odoo; slipway_build=secret"),
        );
        headers.insert("x-slipway-connect", HeaderValue::from_static("forged"));
        headers.insert("X-Slipway-Token", HeaderValue::from_static("token"));
        headers.insert("x-other", HeaderValue::from_static("kept"));
        strip_private(&mut headers);
        assert_eq!(headers.get(header::COOKIE).unwrap(), "session_id=odoo");
        assert!(headers.get("x-slipway-connect").is_none());
        assert!(headers.get("x-slipway-token").is_none());
        assert_eq!(headers.get("x-other").unwrap(), "kept");
    }
}
