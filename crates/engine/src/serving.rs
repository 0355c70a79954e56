//! Serving a kept build: its Odoo answering HTTP in the build's own network
//! (or on a loopback port of the host when builds run unconfined),
//! started from what the build recorded in its directory, so that it can be
//! started again after a restart of slipway.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use slipway_sandbox::{Mount, Network, Running};

use crate::connect;
use crate::layout::BuildDir;
use crate::odoo::{OdooRun, CONFIG_MOUNT};
use crate::odoo_install::SourceTree;
use crate::{BuildError, Engine, Layout, LogFile};

/// What it takes to start Odoo again on a kept build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServedBuild {
    pub database: String,
    /// The runtime image's name.
    pub image: String,
    /// The source trees Odoo runs from; none for Debian's packaged Odoo.
    #[serde(default)]
    pub sources: Vec<SourceTree>,
    pub data_dir: PathBuf,
    pub source_dir: PathBuf,
    pub pydeps_dir: Option<PathBuf>,
    pub config_file: PathBuf,
}

impl ServedBuild {
    pub(crate) fn write(&self, build_dir: &BuildDir) -> Result<(), BuildError> {
        let path = build_dir.served_file();
        let text = serde_json::to_string_pretty(self).expect("served build serializes");
        std::fs::write(&path, text).map_err(BuildError::io("writing", &path))
    }

    pub fn read(layout: &Layout, build_id: &str) -> Result<ServedBuild, BuildError> {
        let path = layout.build(build_id).served_file();
        let text = std::fs::read_to_string(&path).map_err(BuildError::io("reading", &path))?;
        serde_json::from_str(&text)
            .map_err(|error| BuildError::Host(format!("{} is damaged: {error}", path.display())))
    }

    /// The secret that callers of the build's [`crate::CONNECT_PATH`] must
    /// send in [`crate::CONNECT_SECRET_HEADER`] (from the build's config).
    pub fn connect_secret(&self) -> Result<String, BuildError> {
        connect::read_secret(&self.config_file)
    }

    pub(crate) fn run(&self, network: Network, cgroups: Vec<std::path::PathBuf>) -> OdooRun<'_> {
        OdooRun {
            data_dir: &self.data_dir,
            source_dir: Some(&self.source_dir),
            pydeps_dir: self.pydeps_dir.as_deref(),
            config_file: &self.config_file,
            command: None,
            args: Vec::new(),
            time_limit: Duration::ZERO,
            log_file: Path::new("/dev/null"),
            network,
            cgroups,
        }
    }

    /// Odoo's command line serving this build on `port`.
    pub(crate) fn argv(&self, launcher: Vec<String>, listen: SocketAddr) -> Vec<String> {
        let options = [
            "--config",
            CONFIG_MOUNT,
            "--database",
            &self.database,
            "--http-interface",
            &listen.ip().to_string(),
            "--http-port",
            &listen.port().to_string(),
        ];
        let mut argv = launcher;
        argv.extend(options.iter().map(|word| word.to_string()));
        argv
    }
}

/// The port a served build's Odoo listens on in its own network (each build
/// has the whole port range to itself there).
pub const BUILD_PORT: u16 = 8069;

/// Where a served build's Odoo listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeAt {
    /// A port of the host's loopback (the host's network: `serve --unconfined`).
    Loopback(u16),
    /// The build's own network (its namespace), on its own address, where
    /// only slipway's proxy reaches it.
    Namespace {
        namespace: PathBuf,
        address: Ipv4Addr,
    },
}

impl ServeAt {
    /// Where callers reach the served Odoo.
    pub fn address(&self) -> SocketAddr {
        match self {
            ServeAt::Loopback(port) => SocketAddr::from((Ipv4Addr::LOCALHOST, *port)),
            ServeAt::Namespace { address, .. } => SocketAddr::from((*address, BUILD_PORT)),
        }
    }

    fn network(&self) -> Network {
        match self {
            ServeAt::Loopback(_) => Network::Host,
            ServeAt::Namespace { namespace, .. } => Network::Namespace(namespace.clone()),
        }
    }

    /// What Odoo binds: inside its own network, every address of it.
    fn listen(&self) -> SocketAddr {
        match self {
            ServeAt::Loopback(_) => self.address(),
            ServeAt::Namespace { .. } => SocketAddr::from((Ipv4Addr::UNSPECIFIED, BUILD_PORT)),
        }
    }
}

/// A running Odoo server of a build. Dropping it stops the server.
pub struct OdooServer {
    pub build_id: String,
    /// Where it answers.
    pub address: SocketAddr,
    running: Running,
}

impl OdooServer {
    /// Stops the server (the whole sandbox goes with it).
    pub async fn stop(mut self) {
        self.running.kill().await;
        let _ = self.running.wait(Duration::from_secs(10)).await;
    }

    /// Whether the process still runs (one that ended is reaped: a zombie
    /// still has its `/proc` entry, so that is no sign of life).
    pub fn is_running(&mut self) -> bool {
        !self.running.has_exited()
    }

    /// Waits until `/web/login` answers 200, or `limit` passes.
    pub async fn wait_until_ready(&self, limit: Duration) -> Result<(), BuildError> {
        let deadline = Instant::now() + limit;
        loop {
            if http_status(self.address, "/web/login").await == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BuildError::Host(format!(
                    "Odoo of build {} did not answer at {} within {} s",
                    self.build_id,
                    self.address,
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The status code of `GET path` at `address`, if anything answers.
pub async fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A free port on the host's loopback, right now.
pub fn free_port() -> Result<u16, BuildError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(BuildError::io("finding a free port on", "127.0.0.1"))
}

impl Engine {
    /// Starts Odoo on kept build `build_id`, serving HTTP `at`, with
    /// slipway's Connect addon, its processes in `cgroups` (its limits;
    /// empty: none). Its output goes to the build's `server.log`.
    pub async fn serve(
        &self,
        build_id: &str,
        at: ServeAt,
        cgroups: Vec<std::path::PathBuf>,
    ) -> Result<OdooServer, BuildError> {
        let served = ServedBuild::read(self.layout(), build_id)?;
        let odoo = self.odoo_of(&served)?;
        let host = self.odoo_host(&odoo);
        let config_file = &served.config_file;
        let config =
            std::fs::read_to_string(config_file).map_err(BuildError::io("reading", config_file))?;
        if connect::ensure_secret(config_file, &config)? {
            tracing::info!(build = %build_id, "Connect secret added to the build's Odoo config");
        }
        let addons = connect::install_addon(self.layout())?;
        // Only the served Odoo gets the addon: install and test runs never see it.
        let mut spec = host.spec(&served.run(at.network(), cgroups), at.network());
        spec.mounts
            .push(Mount::read_only(&addons, connect::ADDONS_MOUNT));
        let mut argv = served.argv(odoo.launcher(), at.listen());
        argv.extend(connect::server_options(config_file, &config)?);
        let mut running = self.sandbox().spawn(&spec, &argv)?;
        // Appended to, next to the build's other logs.
        let log_path = self.layout().log(build_id, LogFile::Server);
        let mut lines = std::mem::replace(&mut running.lines, tokio::sync::mpsc::channel(1).1);
        // Always drained: a full pipe would stop Odoo.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .await;
            let mut file = file.ok();
            while let Some(line) = lines.recv().await {
                if let Some(file) = file.as_mut() {
                    let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                }
            }
        });
        Ok(OdooServer {
            build_id: build_id.to_string(),
            address: at.address(),
            running,
        })
    }

    /// The secret of a served build's Connect route (see
    /// [`ServedBuild::connect_secret`]); the build has one once it was served.
    pub fn connect_secret(&self, build_id: &str) -> Result<String, BuildError> {
        ServedBuild::read(self.layout(), build_id)?.connect_secret()
    }
}

impl Engine {
    /// Points a kept build's Odoo at the mail catcher's current port (it
    /// changes when slipway restarts). Builds without a catcher login are left
    /// alone (production sends through its own mail servers).
    pub fn route_mail(&self, build_id: &str, mail_port: u16) -> Result<(), BuildError> {
        let served = ServedBuild::read(self.layout(), build_id)?;
        let path = &served.config_file;
        let text = std::fs::read_to_string(path).map_err(BuildError::io("reading", path))?;
        if !text.lines().any(|line| line.starts_with("smtp_user = ")) {
            return Ok(());
        }
        let wanted = format!("smtp_port = {mail_port}");
        if text.lines().any(|line| line == wanted) {
            return Ok(());
        }
        let rewritten: String = text
            .lines()
            .map(|line| {
                if line.starts_with("smtp_port = ") {
                    format!("{wanted}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        // Same file, same mode and owner: only its content changes.
        std::fs::write(path, rewritten).map_err(BuildError::io("writing", path))
    }
}
