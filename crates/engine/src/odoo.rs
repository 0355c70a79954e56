//! Running the Odoo server of an image in the sandbox, with its output going to a
//! log file and to the log analyser as it comes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::odoo_install::OdooInstall;
use slipway_odoo_log::{Analysis, IgnoreRules, LogAnalyzer};
use slipway_postgres::Endpoint;
use slipway_sandbox::{Exit, HostUser, Mount, Network, Sandbox, SandboxSpec};

use crate::host::HostAccount;
use crate::{BuildError, Event, Observer};

/// Where things are mounted inside the sandbox.
pub const SOURCE_MOUNT: &str = "/mnt/src";
pub const DATA_MOUNT: &str = "/mnt/data";
pub const PYDEPS_MOUNT: &str = "/mnt/pydeps";
pub const CONFIG_MOUNT: &str = "/run/slipway/odoo.conf";
const SOCKET_MOUNT: &str = "/run/postgresql";

/// What every Odoo run of one build shares.
pub struct OdooHost<'a> {
    pub sandbox: &'a dyn Sandbox,
    pub odoo: &'a OdooInstall,
    pub account: Option<HostAccount>,
    pub endpoint: &'a Endpoint,
}

/// The build-specific parts of one Odoo run.
pub struct OdooRun<'a> {
    pub data_dir: &'a Path,
    pub source_dir: Option<&'a Path>,
    pub pydeps_dir: Option<&'a Path>,
    pub config_file: &'a Path,
    /// An Odoo command before the options (`neutralize`); `None`: the server.
    pub command: Option<&'static str>,
    pub args: Vec<String>,
    pub time_limit: Duration,
    pub log_file: &'a Path,
    /// Isolated unless the run must reach the mail catcher on the host.
    pub network: Network,
    /// The build's control groups (its limits); empty: none.
    pub cgroups: Vec<std::path::PathBuf>,
}

pub struct OdooOutcome {
    pub exit: Exit,
    pub analysis: Analysis,
    pub seconds: f64,
}

impl OdooHost<'_> {
    /// `db_host`/`db_port` as Odoo inside the sandbox sees the cluster.
    pub fn database_address(&self) -> (String, u16) {
        match self.endpoint {
            Endpoint::Socket { port, .. } => (SOCKET_MOUNT.to_string(), *port),
            Endpoint::Tcp { host, port } => (host.clone(), *port),
        }
    }

    pub fn spec(&self, run: &OdooRun<'_>, network: Network) -> SandboxSpec {
        let mut mounts = vec![
            Mount::read_write(run.data_dir, DATA_MOUNT),
            Mount::read_only(run.config_file, CONFIG_MOUNT),
        ];
        if let Some(source) = run.source_dir {
            mounts.push(Mount::read_only(source, SOURCE_MOUNT));
        }
        if let Some(pydeps) = run.pydeps_dir {
            mounts.push(Mount::read_only(pydeps, PYDEPS_MOUNT));
        }
        mounts.extend(self.odoo.mounts());
        // A socket endpoint needs no network at all; a TCP one needs the host's.
        let network = match self.endpoint {
            Endpoint::Socket { dir, .. } => {
                mounts.push(Mount::read_only(dir, SOCKET_MOUNT));
                network
            }
            Endpoint::Tcp { .. } => Network::Host,
        };
        let mut env = vec![
            (
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            ("HOME".to_string(), DATA_MOUNT.to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
            ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
        ];
        if run.pydeps_dir.is_some() {
            env.push(("PYTHONPATH".to_string(), PYDEPS_MOUNT.to_string()));
        }
        SandboxSpec {
            rootfs: self.odoo.runtime.rootfs(),
            mounts,
            env,
            workdir: DATA_MOUNT.into(),
            network,
            uid: self.odoo.runtime.meta.odoo_uid,
            gid: self.odoo.runtime.meta.odoo_gid,
            run_as: self.account.map(|a| HostUser {
                uid: a.uid,
                gid: a.gid,
            }),
            hostname: "slipway-build".to_string(),
            cgroups: run.cgroups.clone(),
        }
    }

    /// Runs `odoo <args>` to completion (or its time limit), writing every line to
    /// the log file and the analyser.
    pub async fn run(
        &self,
        run: OdooRun<'_>,
        rules: IgnoreRules,
        observer: &dyn Observer,
    ) -> Result<OdooOutcome, BuildError> {
        let argv = odoo_argv(self.odoo.launcher(), &run)?;
        let spec = self.spec(&run, run.network.clone());
        let log = OpenLog::create(run.log_file)?;
        self.execute(&spec, &argv, run.time_limit, log, rules, observer)
            .await
    }

    /// Runs any command of the image in the same sandbox shape (pip, for one).
    pub async fn execute(
        &self,
        spec: &SandboxSpec,
        argv: &[String],
        time_limit: Duration,
        mut log: OpenLog,
        rules: IgnoreRules,
        observer: &dyn Observer,
    ) -> Result<OdooOutcome, BuildError> {
        let started = Instant::now();
        let mut running = self.sandbox.spawn(spec, argv)?;
        let mut analyzer = LogAnalyzer::new(rules);
        let deadline = tokio::time::Instant::now() + time_limit;
        let mut timed_out = false;
        loop {
            match tokio::time::timeout_at(deadline, running.lines.recv()).await {
                Ok(Some(line)) => {
                    log.line(&line)?;
                    analyzer.feed_line(&line);
                    observer.event(Event::OdooLine(&line));
                }
                Ok(None) => break,
                Err(_elapsed) => {
                    timed_out = true;
                    break;
                }
            }
        }
        let exit = if timed_out {
            running.kill().await;
            Exit::TimedOut
        } else {
            // Output closed: the process is exiting; a short grace covers a
            // child that closed its output but lingers.
            running.wait(Duration::from_secs(30)).await?
        };
        log.finish()?;
        let mut analysis = analyzer.finish();
        crate::steps::verdict::judge_exit(&mut analysis, exit, time_limit);
        Ok(OdooOutcome {
            exit,
            analysis,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// `odoo [command] --config … <args>` for one run.
fn odoo_argv(launcher: Vec<String>, run: &OdooRun<'_>) -> Result<Vec<String>, BuildError> {
    let mut argv = launcher;
    argv.extend(run.command.map(str::to_string));
    argv.extend(["--config".to_string(), CONFIG_MOUNT.to_string()]);
    argv.extend(run.args.iter().cloned());
    if run.network == Network::Host && run.command.is_none() {
        // Odoo's HTTP server starts even with --stop-after-init (HttpCase
        // tests use it): on the host's network, each run needs a port of its
        // own, not the configuration's 8069 that every build shares.
        argv.extend([
            "--http-port".to_string(),
            crate::serving::free_port()?.to_string(),
        ]);
    }
    Ok(argv)
}

/// A log file being written, flushed at the end.
pub struct OpenLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl OpenLog {
    pub fn create(path: &Path) -> Result<OpenLog, BuildError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io("creating", parent))?;
        }
        let file = std::fs::File::create(path).map_err(BuildError::io("creating", path))?;
        Ok(OpenLog {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    fn line(&mut self, line: &str) -> Result<(), BuildError> {
        writeln!(self.file, "{line}").map_err(BuildError::io("writing", &self.path))
    }

    fn finish(mut self) -> Result<(), BuildError> {
        self.file
            .flush()
            .map_err(BuildError::io("writing", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(network: Network, command: Option<&'static str>) -> Vec<String> {
        odoo_argv(
            vec!["/usr/bin/odoo".to_string()],
            &OdooRun {
                data_dir: Path::new("/data"),
                source_dir: None,
                pydeps_dir: None,
                config_file: Path::new("/odoo.conf"),
                command,
                args: vec!["--stop-after-init".to_string()],
                time_limit: Duration::from_secs(1),
                log_file: Path::new("/dev/null"),
                network,
                cgroups: Vec::new(),
            },
        )
        .unwrap()
    }

    #[test]
    fn regression_runs_on_the_host_network_do_not_share_odoo_s_default_port() {
        let isolated = run(Network::Isolated, None);
        assert!(
            !isolated.contains(&"--http-port".to_string()),
            "{isolated:?}"
        );
        let first = run(Network::Host, None);
        let port = first.iter().skip_while(|a| *a != "--http-port").nth(1);
        let port: u16 = port.expect("a port of its own").parse().unwrap();
        assert_ne!(port, 8069);
        let neutralize = run(Network::Host, Some("neutralize"));
        assert_eq!(&neutralize[..2], ["/usr/bin/odoo", "neutralize"]);
        assert!(!neutralize.contains(&"--http-port".to_string()));
    }
}
