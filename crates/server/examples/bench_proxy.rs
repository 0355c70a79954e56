//! What the proxy adds to a small Odoo request (docs/benchmarks.md): a real
//! Odoo 14.0 build served by a running `slipway serve` (see
//! scripts/bench-ui.sh), asked `POST /web/webclient/version_info` (a tiny
//! JSON-RPC answered by Odoo's dispatcher) over keep-alive connections:
//!
//! - directly on the build's address (in its own network when confined);
//! - through the proxy at `<build>.localhost` with an API token, as it is
//!   (access and address cached, invalidated by LISTEN/NOTIFY);
//! - through the proxy with nothing cached (every request asks the control
//!   database who may open the build and where it answers: the naive way);
//! - the same two for the project's public production address.
//!
//! The proxies run in this process, on the serve's control database, with
//! the same code as `slipway serve`; rounds are interleaved so that every
//! target sees the same machine.
//!
//! `SLIPWAY_HOME=<serve's data dir> cargo run --release -p slipway_server
//! --example bench_proxy -- <build id> <project> [requests]`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_control::ControlDb;
use slipway_server::proxy::CacheLife;
use slipway_server::{Addresses, AppState, ServerParts};

const BLOCK: usize = 100;
const BODY: &str = r#"{"jsonrpc":"2.0","method":"call","params":{}}"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let build_id: i64 = args.next().expect("a build id").parse().unwrap();
    let project = args.next().expect("a project name");
    let requests: usize = args.next().map(|n| n.parse().unwrap()).unwrap_or(3000);
    let home = PathBuf::from(std::env::var_os("SLIPWAY_HOME").expect("SLIPWAY_HOME"));
    let account = slipway_engine::host::build_account().unwrap();
    let embedded = slipway_postgres::EmbeddedCluster::new(
        home.join("postgres"),
        slipway_postgres::PgBinaries::find(None).unwrap(),
        account.map(|a| slipway_postgres::ClusterUser {
            uid: a.uid,
            gid: a.gid,
        }),
    );
    let cluster = embedded.cluster().unwrap();
    let control = ControlDb::new(cluster.clone(), slipway_control::CONTROL_DATABASE);
    let direct = {
        let session = control.session().await.unwrap();
        let build = slipway_control::get_build(&session, build_id)
            .await
            .unwrap();
        build.serving_address().expect("the build serves")
    };
    let cached = proxy(&home, &control, CacheLife::DEFAULT).await;
    let naive = proxy(&home, &control, CacheLife::NONE).await;
    let targets = [
        ("direct to the build's address", direct, None),
        (
            "proxy, build address, cached",
            cached,
            Some(build_id.to_string()),
        ),
        (
            "proxy, build address, no cache (naive)",
            naive,
            Some(build_id.to_string()),
        ),
        (
            "proxy, production address, cached",
            cached,
            Some(project.clone()),
        ),
        (
            "proxy, production address, no cache (naive)",
            naive,
            Some(project),
        ),
    ];
    let clients: Vec<Client> = targets
        .iter()
        .map(|(_, at, label)| Client::new(*at, label.clone()))
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(requests); targets.len()];
    // Warm-up: connections, caches, Odoo's own.
    for client in &clients {
        for _ in 0..50 {
            client.call();
        }
    }
    let clients = Arc::new(clients);
    for _ in 0..requests / BLOCK {
        for (index, samples) in samples.iter_mut().enumerate() {
            let clients = clients.clone();
            let block = tokio::task::spawn_blocking(move || {
                (0..BLOCK)
                    .map(|_| {
                        let started = Instant::now();
                        clients[index].call();
                        started.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap();
            samples.extend(block);
        }
    }
    let direct = median(&mut samples[0].clone());
    println!("{requests} requests per target, interleaved in blocks of {BLOCK}:");
    for ((what, _, _), samples) in targets.iter().zip(samples.iter_mut()) {
        samples.sort();
        let at = |q: f64| {
            samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
        };
        println!(
            "{what}: p50 {:.3} ms, p99 {:.3} ms; added p50 {:.3} ms",
            at(0.5),
            at(0.99),
            at(0.5) - direct.as_secs_f64() * 1000.0
        );
    }
}

/// A proxy of this process on the serve's control database, on a free port.
async fn proxy(
    home: &std::path::Path,
    control: &ControlDb,
    life: CacheLife,
) -> std::net::SocketAddr {
    let layout = slipway_engine::Layout::at(home);
    let engine = slipway_engine::Engine::new(
        layout.clone(),
        slipway_image::ImageStore::new(&layout.images),
        control.cluster.clone(),
        Box::new(slipway_sandbox::Bubblewrap::locate().unwrap()),
        slipway_engine::host::build_account().unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let port = at.port();
    let (state, _watcher) = AppState::start(ServerParts {
        control: control.clone(),
        engine: Arc::new(engine),
        token: "bench-token".into(),
        addresses: Addresses::new("localhost", port),
        worker: None,
        pg_binaries: slipway_postgres::PgBinaries::find(None).unwrap(),
        proxy_cache: life,
    });
    tokio::spawn(async move {
        axum::serve(listener, slipway_server::router(state))
            .await
            .unwrap()
    });
    at
}

/// One keep-alive connection to a target.
struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    fn new(at: std::net::SocketAddr, label: Option<String>) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .max_idle_connections_per_host(1)
            .resolver(move |_: &str| Ok(vec![at]))
            .build();
        let host = match label {
            Some(label) => format!("{label}.localhost:{}", at.port()),
            None => at.to_string(),
        };
        Client {
            agent,
            url: format!("http://{host}/web/webclient/version_info"),
        }
    }

    fn call(&self) {
        let response = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .set("X-Slipway-Token", "bench-token")
            .send_string(BODY)
            .unwrap_or_else(|error| panic!("{}: {error}", self.url));
        let body = response.into_string().unwrap();
        assert!(body.contains("server_version"), "{body}");
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
