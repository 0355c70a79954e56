//! Shared by the end-to-end tests: real git repositories made from fixtures, the
//! real `slipway` binary, a shared data dir (so template databases are reused
//! across tests, as they are across a user's builds) and the real images.

#![allow(dead_code)]

pub mod browser;
pub mod customer_smtp;
pub mod odoo_source;
pub mod serve;
pub mod shop;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Stops a test that needs root with a message saying so. CI runs as root; a
/// test that returned early instead would pass without testing anything.
pub fn require_root(why: &str) {
    assert!(
        slipway_engine::host::is_root(),
        "this test needs root ({why}): run the suite as root, as CI does"
    );
}

pub const V14: &str = "14.0";
pub const V19: &str = "19.0";

/// A scenario `fn(version: &str)` as one test per Odoo version of the images:
/// `common::on_both_versions!(scenario);`.
#[allow(unused_macros)] // Not every test binary has such scenarios.
macro_rules! on_both_versions {
    ($scenario:ident) => {
        mod $scenario {
            #[test]
            fn v14() {
                super::$scenario($crate::common::V14);
            }

            #[test]
            fn v19() {
                super::$scenario($crate::common::V19);
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_versions;

/// The data dir of the end-to-end tests: its embedded PostgreSQL and template
/// databases are shared by all tests (and runs) of the suite. `SLIPWAY_E2E_HOME`
/// (set by scripts/test.sh), else a directory under the system's temp dir named
/// after this checkout. Not under `target/`: PostgreSQL runs as the `slipway`
/// user, which must be able to reach it whatever the checkout's parents allow.
pub fn home() -> PathBuf {
    if let Some(home) = std::env::var_os("SLIPWAY_E2E_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    // FNV-1a of the checkout's path: stable, and distinct per checkout.
    let hash = env!("CARGO_MANIFEST_DIR")
        .bytes()
        .fold(0xcbf29ce484222325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3)
        });
    std::env::temp_dir().join(format!("slipway-e2e-{hash:016x}"))
}

/// Images are large and slow to build: the tests use the machine's image cache
/// (`SLIPWAY_IMAGE_DIR`, else the root default), building what is missing.
pub fn images() -> PathBuf {
    std::env::var_os("SLIPWAY_IMAGE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/slipway/images"))
}

pub fn slipway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .env("SLIPWAY_HOME", home())
        .env("SLIPWAY_IMAGE_DIR", images())
        .env_remove("SLIPWAY_DATABASE_URL")
        .env("RUST_LOG", "warn");
    command
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=slipway tests",
            "-c",
            "user.email=tests@slipway.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A git repository in `dir` holding the fixture `name`, committed.
pub fn repository(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    copy_tree(&Path::new(FIXTURES).join(name), &repo);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", &format!("fixture {name}")]);
    repo
}

pub struct CiRun {
    pub output: Output,
    pub json: Value,
}

impl CiRun {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The build id, from the log path `<home>/logs/<id>/odoo.log`.
    pub fn build_id(&self) -> String {
        let log = PathBuf::from(self.json["log"].as_str().expect("log path"));
        log.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    pub fn errors_text(&self) -> String {
        self.json["errors"].to_string()
    }

    /// The report says `status`; else the report and what slipway said.
    #[track_caller]
    pub fn assert_status(&self, status: &str) {
        assert_eq!(
            self.json["status"],
            status,
            "{}\n{}",
            self.json,
            self.stderr()
        );
    }
}

/// `slipway ci REPO --odoo VERSION --json ARGS`; stdout must be one JSON object.
pub fn ci_json(repo: &Path, version: &str, args: &[&str]) -> CiRun {
    let output = slipway()
        .arg("ci")
        .arg(repo)
        .args(["--odoo", version, "--json"])
        .args(args)
        .output()
        .expect("slipway runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "stdout is not one JSON object ({error}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    CiRun { output, json }
}

/// Asserts a finished build left no database, role or build directory behind.
pub async fn assert_cleaned_up(build_id: &str) {
    let home = home();
    assert!(
        !home.join("builds").join(build_id).exists(),
        "build dir of {build_id} left behind"
    );
    assert!(
        !home.join("runs").join(format!("{build_id}.json")).exists(),
        "run marker of {build_id} left behind"
    );
    let cluster = admin_cluster();
    let database = format!("slipway_b_{build_id}");
    assert!(
        !cluster.database_exists(&database).await.unwrap(),
        "database {database} left behind"
    );
    assert!(
        cluster
            .roles_with_prefix(&database)
            .await
            .unwrap()
            .is_empty(),
        "role {database} left behind"
    );
}

/// An administrative handle on the tests' embedded cluster (started by slipway).
pub fn admin_cluster() -> slipway_postgres::Cluster {
    let binaries = slipway_postgres::PgBinaries::find(None).unwrap();
    slipway_postgres::EmbeddedCluster::new(home().join("postgres"), binaries, None)
        .cluster()
        .unwrap()
}

/// HMAC-SHA256 of `body` with `key`, hex: what GitHub puts in X-Hub-Signature-256.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
