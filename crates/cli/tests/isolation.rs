//! Isolation end to end, on real Odoo 19.0 under `slipway serve`: a hostile
//! module (fixture `hostile`) tries, when it is installed and again inside a
//! served request, to reach slipway's API, another build's Odoo, a listener of
//! the host, and "the internet" (a namespace this test makes, holding the
//! customer's SMTP server). A development build reaches none of them and its
//! mail is still caught; production reaches the internet and its SMTP server,
//! never the host nor another build. A served build is reached through the
//! proxy only.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use common::customer_smtp::CustomerSmtp;
use common::serve::{wait_for, Serve, BUILD_LIMIT};
use common::shop::{
    add_project, database_of, newest_build_once, production, push, serving_url, Odoo,
};
use slipway_network::test_support::{inside, Internet};

/// What the probe says of each target.
type Probe = BTreeMap<String, String>;

#[test]
fn a_hostile_module_reaches_nothing_but_its_mail_catcher_and_production_only_the_world() {
    common::require_root("builds run in network namespaces of their own");
    let temp = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // The internet, with the customer's SMTP server in it.
    let internet = Internet::make(101);
    let smtp_listener = inside(&internet.namespace(), || {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
    });
    let smtp_port = smtp_listener.local_addr().unwrap().port();
    let customer_smtp = CustomerSmtp::start(&runtime, smtp_listener);
    let smtp = (internet.address().to_string(), smtp_port);
    // A service of the host on every address, which notes who came.
    let host_service = HostService::start();

    let home = temp.path().join("home");
    let serve = Serve::start(&home, &[]);
    let repo = common::repository(temp.path(), "hostile");
    let targets = |extra: Value| {
        let mut tcp = json!({
            "api": ["gateway", serve.port],
            "api_on_loopback": ["127.0.0.1", serve.port],
            "host_service": ["gateway", host_service.port],
            "internet": [smtp.0, smtp.1],
        });
        tcp.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"tcp": tcp, "smtp": [smtp.0, smtp.1]}).to_string()
    };
    write_targets(&repo, &targets(json!({})));
    push(&repo, "probe targets");

    // Production: the world, not the host.
    add_project(&serve, &repo, "19.0");
    wait_for("production to serve", BUILD_LIMIT, || {
        production(&serve).is_some()
    });
    let production_id = production(&serve).unwrap()["build"].as_i64().unwrap();
    let production_db = database_of(&serve, production_id);
    let at_install = probe_in_log(&serve, production_id);
    assert_eq!(
        at_install,
        expected(&[
            ("api", false),
            ("api_on_loopback", false),
            ("host_service", false),
            ("internet", true),
            ("smtp", true),
        ]),
        "production at install"
    );
    assert!(
        customer_smtp
            .subjects()
            .contains(&format!("probe install of {production_db}")),
        "production's mail reached its SMTP server: {:?}",
        customer_smtp.subjects()
    );
    let production_address = address_of(&serve, production_id);

    // An integration under test in the internet, which the project lets
    // its development and staging builds reach (that address and port only).
    let integration_listener = inside(&internet.namespace(), || {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
    });
    let integration = (
        internet.address().to_string(),
        integration_listener.local_addr().unwrap().port(),
    );
    serve.ok(&[
        "project",
        "limits",
        "shop",
        "--egress-allow",
        &format!("{}:{}", integration.0, integration.1),
    ]);

    // A development branch, told where production is.
    common::git(&repo, &["checkout", "-qb", "feature"]);
    write_targets(
        &repo,
        &targets(json!({
            "production": [production_address.ip().to_string(), production_address.port()],
            "integration": [integration.0, integration.1],
        })),
    );
    push(&repo, "probe production too");
    let development_id = newest_build_once(&serve, "feature", "to serve", |newest| {
        assert_ne!(newest["status"], "failed", "{newest}");
        newest["state"] == "serving"
    });
    let development_db = database_of(&serve, development_id);
    // Nothing but the integration its project allows.
    let nothing: Vec<(&str, bool)> = [
        "api",
        "api_on_loopback",
        "host_service",
        "integration",
        "internet",
        "production",
        "smtp",
    ]
    .into_iter()
    .map(|name| (name, name == "integration"))
    .collect();
    assert_eq!(
        probe_in_log(&serve, development_id),
        expected(&nothing),
        "development at install"
    );
    // Its mail is caught, with what the probe found.
    let subject = format!("probe install of {development_db}");
    let caught = serve.json(&["mails", &development_id.to_string(), "--json"]);
    let mail = caught
        .as_array()
        .unwrap()
        .iter()
        .find(|mail| mail["subject"] == subject.as_str())
        .unwrap_or_else(|| panic!("the probe's mail is caught: {caught}"));
    let raw = serve.ok(&["mail", &development_id.to_string(), &mail["id"].to_string()]);
    assert!(raw.contains("\"internet\": \"refused"), "{raw}");

    // What it takes on disk is measured while it serves, and shown.
    wait_for(
        "the development build's disk use",
        Duration::from_secs(60),
        || {
            let builds = serve.json(&["builds", "shop", "--json"]);
            let measured = builds
                .as_array()
                .unwrap()
                .iter()
                .find(|build| build["id"] == development_id)
                .map(|build| build["disk"].clone())
                .unwrap_or(Value::Null);
            // A database of Odoo with its modules: megabytes; its checkout and logs too.
            measured["database_bytes"]
                .as_u64()
                .is_some_and(|bytes| bytes > 1 << 20)
                && measured["files_bytes"]
                    .as_u64()
                    .is_some_and(|bytes| bytes > 0)
        },
    );
    let table = serve.ok(&["builds", "shop", "--branch", "feature"]);
    assert!(table.contains(" MiB"), "the disk column: {table}");

    // Inside served requests, through the proxy.
    let development_address = address_of(&serve, development_id);
    let served = Odoo::through_proxy(&serve, &development_id.to_string(), &development_db);
    let extra = json!({
        "production": [production_address.ip().to_string(), production_address.port()],
        "integration": [integration.0, integration.1],
    });
    let answer = served.get("/hostile/probe", &[("targets", &extra.to_string())]);
    let mut found = outcomes(&answer);
    assert_eq!(found.remove("catcher").as_deref(), Some("sent"), "{answer}");
    assert_eq!(found, expected(&nothing), "development in a request");
    let served = Odoo::through_proxy(&serve, "shop", &production_db);
    let extra =
        json!({"development": [development_address.ip().to_string(), development_address.port()]});
    let answer = served.get("/hostile/probe", &[("targets", &extra.to_string())]);
    assert_eq!(
        outcomes(&answer),
        expected(&[
            ("api", false),
            ("api_on_loopback", false),
            ("development", false),
            ("host_service", false),
            ("internet", true),
            ("smtp", true),
        ]),
        "production in a request"
    );
    let reached = customer_smtp.subjects();
    assert!(
        reached.contains(&format!("probe request of {production_db}"))
            && !reached
                .iter()
                .any(|subject| subject.contains(&development_db)),
        "{reached:?}"
    );
    assert_eq!(
        host_service.visitors(),
        Vec::<SocketAddr>::new(),
        "a build reached a service of the host"
    );

    // Reached through the proxy only: not on the loopback, and not by a
    // local process that is not root.
    assert!(
        !development_address.ip().is_loopback(),
        "{development_address}"
    );
    let script = format!(
        "import socket; socket.create_connection(('{}', {}), 3); print('reached')",
        development_address.ip(),
        development_address.port()
    );
    let nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["python3", "-c", &script])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&nobody.stdout).contains("reached"),
        "a local process that is not root reached a build's Odoo"
    );
    assert_eq!(
        common::serve::http_status(&format!("http://{development_address}/web/login")),
        Some(200),
        "root (the proxy) reaches it"
    );
}

fn write_targets(repo: &Path, targets: &str) {
    std::fs::write(repo.join("hostile_probe").join("targets.json"), targets).unwrap();
}

/// Each name reached (`true`) or refused.
fn expected(outcomes: &[(&str, bool)]) -> Probe {
    outcomes
        .iter()
        .map(|(name, reached)| {
            let outcome = match (*name, reached) {
                ("smtp", true) => "sent",
                ("smtp", false) => "failed",
                (_, true) => "reached",
                (_, false) => "refused",
            };
            (name.to_string(), outcome.to_string())
        })
        .collect()
}

/// The probe's findings at install, from the build's log.
fn probe_in_log(serve: &Serve, build: i64) -> Probe {
    let log = serve.ok(&["logs", &build.to_string()]);
    let line = log
        .lines()
        .find_map(|line| line.split_once("slipway probe install: "))
        .unwrap_or_else(|| panic!("no probe in the log of build #{build}:\n{log}"))
        .1;
    outcomes(line)
}

/// The probe's JSON findings, each outcome without its detail ("refused:
/// TimeoutError" is "refused").
fn outcomes(json: &str) -> Probe {
    let found: Probe = serde_json::from_str(json).unwrap_or_else(|error| panic!("{error}: {json}"));
    found
        .into_iter()
        .map(|(name, outcome)| {
            let kind = outcome.split(':').next().unwrap().to_string();
            (name, kind)
        })
        .collect()
}

/// Where a serving build's Odoo listens.
fn address_of(serve: &Serve, build: i64) -> SocketAddr {
    serving_url(serve, build)
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// A service of the host listening on every address, noting each visitor.
struct HostService {
    port: u16,
    visitors: Arc<Mutex<Vec<SocketAddr>>>,
}

impl HostService {
    fn start() -> HostService {
        let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let visitors = Arc::new(Mutex::new(Vec::new()));
        let noted = visitors.clone();
        std::thread::spawn(move || {
            for (_, visitor) in listener.incoming().flatten().filter_map(|s| {
                let peer = s.peer_addr().ok()?;
                Some((s, peer))
            }) {
                noted.lock().unwrap().push(visitor);
            }
        });
        HostService { port, visitors }
    }

    fn visitors(&self) -> Vec<SocketAddr> {
        std::thread::sleep(Duration::from_millis(100));
        self.visitors.lock().unwrap().clone()
    }
}
