//! The `shop` project of the production and staging tests: added to a
//! running slipway, pushed to, its builds and their databases read back, and
//! its Odoo called through slipway's proxy.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::serve::{embedded_cluster, Serve};

pub fn add_project(serve: &Serve, repo: &Path, version: &str) {
    serve.add_project(
        "shop",
        repo,
        version,
        &["--poll-interval", "1", "--quiet-period", "3"],
    );
}

pub fn push(repo: &Path, message: &str) -> String {
    super::git(repo, &["add", "-A"]);
    super::git(repo, &["commit", "-qm", message]);
    super::git(repo, &["rev-parse", "HEAD"])
}

/// Copies a fixture of `production_changes` into the repository as `addon`.
pub fn put_addon(repo: &Path, change: &str, addon: &str) {
    put_addon_of(repo, "production_changes", change, addon);
}

/// Copies fixture `group/change` into the repository as `addon`.
pub fn put_addon_of(repo: &Path, group: &str, change: &str, addon: &str) {
    let from = Path::new(super::FIXTURES).join(group).join(change);
    let to = repo.join(addon);
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(&from, &to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn production(serve: &Serve) -> Option<Value> {
    let output = serve.cli(&["production", "shop", "--json"]);
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).unwrap())
}

/// The newest build of the shop's `branch` once `done` says so of it (its
/// answer in `slipway builds --json`); its id.
pub fn newest_build_once(
    serve: &Serve,
    branch: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> i64 {
    let mut id = None;
    super::serve::wait_for(
        &format!("{branch} {what}"),
        super::serve::BUILD_LIMIT,
        || {
            let builds = serve.builds_of("shop", branch);
            let Some(newest) = builds.first() else {
                return false;
            };
            id = newest["id"].as_i64();
            done(newest)
        },
    );
    id.unwrap()
}

pub fn build(serve: &Serve, id: i64) -> Value {
    serve
        .builds("shop")
        .into_iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no build #{id}"))
}

pub fn database_of(serve: &Serve, build: i64) -> String {
    of_build(serve, build, "database")
}

/// Where a serving build's Odoo listens (in its own network, which only
/// root reaches: the tests run as root), for tests that talk to Odoo itself:
/// the API only gives the proxy's address, which applies the roles.
pub fn serving_url(serve: &Serve, build: i64) -> String {
    of_build(serve, build, "coalesce(url, '')")
}

/// Why a build is in its state, for assertion messages.
pub fn reason_of(serve: &Serve, build: i64) -> String {
    of_build(serve, build, "coalesce(reason, '')")
}

/// `expression` of a build's row in slipway's control database.
pub fn of_build<T>(serve: &Serve, build: i64, expression: &str) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    let cluster = embedded_cluster(&serve.home);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = cluster.connect("slipway_control").await.unwrap();
        client
            .query_one(
                &format!("SELECT {expression} FROM builds WHERE id = $1"),
                &[&build],
            )
            .await
            .unwrap()
            .get(0)
    })
}

/// An Odoo reached through slipway's proxy as `<label>.localhost`, with the
/// host's API token (a build's address is not open to anonymous callers).
pub struct Odoo {
    agent: ureq::Agent,
    base: String,
    database: String,
    token: String,
}

impl Odoo {
    pub fn through_proxy(serve: &Serve, label: &str, database: &str) -> Odoo {
        let port = serve.port;
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            // `*.localhost` needs no DNS in browsers; here, resolve it ourselves.
            .resolver(move |_: &str| Ok(vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))]))
            .build();
        Odoo {
            agent,
            base: format!("http://{label}.localhost:{port}"),
            database: database.to_string(),
            token: serve.token(),
        }
    }

    pub fn status(&self, path: &str) -> u16 {
        let request = self.agent.get(&format!("{}{path}", self.base));
        match request.set("X-Slipway-Token", &self.token).call() {
            Ok(response) => response.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(_) => 0,
        }
    }

    /// GET `path` with `query`: the answer's body, which must be a success.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut request = self
            .agent
            .get(&format!("{}{path}", self.base))
            .set("X-Slipway-Token", &self.token);
        for (name, value) in query {
            request = request.query(name, value);
        }
        request
            .call()
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
            .into_string()
            .unwrap()
    }

    pub fn rpc(&self, service: &str, method: &str, args: Value) -> Value {
        let response: Value = self
            .agent
            .post(&format!("{}/jsonrpc", self.base))
            .set("X-Slipway-Token", &self.token)
            .send_json(json!({
                "jsonrpc": "2.0", "method": "call", "id": 1,
                "params": {"service": service, "method": method, "args": args},
            }))
            .unwrap()
            .into_json()
            .unwrap();
        assert!(
            response["error"].is_null(),
            "{service}.{method}: {response}"
        );
        response["result"].clone()
    }

    /// `model.method(*args)` as admin (a production database without demo
    /// data: admin's password is Odoo's initial one).
    pub fn call(&self, model: &str, method: &str, args: Value) -> Value {
        let uid = self.rpc("common", "login", json!([self.database, "admin", "admin"]));
        assert!(uid.is_i64(), "admin logs in: {uid}");
        self.rpc(
            "object",
            "execute_kw",
            json!([self.database, uid, "admin", model, method, args]),
        )
    }

    pub fn param(&self, key: &str) -> Value {
        self.call("ir.config_parameter", "get_param", json!([key]))
    }
}

pub fn psql(serve: &Serve, build: i64, sql: &str) -> String {
    let output = serve.cli(&["psql", &build.to_string(), "-tA", "-c", sql]);
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
