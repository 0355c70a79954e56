//! A real `slipway serve` process for end-to-end tests, with its own data dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BUILD_LIMIT: Duration = Duration::from_secs(300);

/// A running `slipway serve` with a data dir of its own; killed (and its
/// PostgreSQL stopped) however the test ends.
pub struct Serve {
    pub home: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Serve {
    pub fn start(home: &Path, extra: &[&str]) -> Serve {
        std::fs::create_dir_all(home).unwrap();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .envs(env(home))
            .env("SLIPWAY_LEASE_SECONDS", "6")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(home.join("serve.stderr"))
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        let serve = Serve {
            home: home.to_path_buf(),
            port,
            child: Some(child),
        };
        wait_for("the server to answer", Duration::from_secs(120), || {
            serve.cli(&["status"]).status.success()
        });
        serve
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .envs(env(&self.home))
            .output()
            .unwrap()
    }

    /// `slipway ARGS`, which must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "slipway {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `slipway project add NAME --repo REPO --odoo VERSION
    /// --production-branch main EXTRA…`, which must succeed.
    pub fn add_project(&self, name: &str, repo: &Path, version: &str, extra: &[&str]) {
        let mut args = vec![
            "project",
            "add",
            name,
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            version,
            "--production-branch",
            "main",
        ];
        args.extend_from_slice(extra);
        self.ok(&args);
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "slipway {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub fn builds(&self, project: &str) -> Vec<Value> {
        self.json(&["builds", project, "--json"])
            .as_array()
            .unwrap()
            .clone()
    }

    /// The builds of one branch, newest first; none while slipway has not
    /// seen the branch yet.
    pub fn builds_of(&self, project: &str, branch: &str) -> Vec<Value> {
        let output = self.cli(&["builds", project, "--branch", branch, "--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && stderr.contains(&format!("has no branch '{branch}'")) {
            return Vec::new();
        }
        assert!(
            output.status.success(),
            "slipway builds {project} --branch {branch}: {stderr}"
        );
        serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap()
    }

    /// SIGKILL: slipway dies mid-way, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The host's API token, as the CLI of this host finds it.
    pub fn token(&self) -> String {
        let text = std::fs::read_to_string(self.home.join("server.json")).unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        file["token"].as_str().unwrap().to_string()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Stopped as an administrator would, so that it removes its
            // builds' networks and limits; killed if it does not stop.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["postgres", "stop"])
            .envs(env(&self.home))
            .output();
    }
}

pub fn env(home: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("SLIPWAY_HOME", home.display().to_string()),
        ("SLIPWAY_IMAGE_DIR", super::images().display().to_string()),
        ("RUST_LOG", "warn".to_string()),
    ]
}

/// The server's own embedded PostgreSQL, to look behind the API.
pub fn embedded_cluster(home: &Path) -> slipway_postgres::Cluster {
    let binaries = slipway_postgres::PgBinaries::find(None).unwrap();
    slipway_postgres::EmbeddedCluster::new(home.join("postgres"), binaries, None)
        .cluster()
        .unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub fn http_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let (host_port, path) = address
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((address, "/".into()));
    let mut stream = std::net::TcpStream::connect(host_port).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host_port}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
