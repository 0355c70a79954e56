//! slipway's own PostgreSQL cluster in its data dir.
//!
//! Socket-only (`listen_addresses = ''`): nothing on the network can reach it; the
//! sandboxes get the socket directory mounted. Every role, the superuser included,
//! authenticates with a password, because sandboxes run as the same host account
//! as the server and `peer` would let them in as anyone.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::names::random_secret;
use crate::{Cluster, ClusterUser, Endpoint, PgBinaries, PgError};

/// The superuser's name: Odoo refuses `postgres`, and a distinct name makes it
/// obvious in `pg_stat_activity` who is who.
pub const SUPERUSER: &str = "slipway";
/// Only names the socket file (`.s.PGSQL.5432`) in our own socket directory.
const PORT: u16 = 5432;
const START_TIMEOUT_SECONDS: &str = "120";

/// The layout of the embedded cluster under `<data dir>/postgres`.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    root: PathBuf,
    binaries: PgBinaries,
    /// Host account that runs the server when slipway runs as root (PostgreSQL
    /// refuses to run as root).
    run_as: Option<ClusterUser>,
}

impl EmbeddedCluster {
    pub fn new(
        root: impl Into<PathBuf>,
        binaries: PgBinaries,
        run_as: Option<ClusterUser>,
    ) -> EmbeddedCluster {
        EmbeddedCluster {
            root: root.into(),
            binaries,
            run_as,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    fn password_file(&self) -> PathBuf {
        self.root.join("superuser.password")
    }

    /// Creates the cluster if needed, starts it if it is not running, and returns
    /// a handle to it. Safe to call from several processes at once.
    pub async fn ensure_running(&self) -> Result<Cluster, PgError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.ensure_running_blocking())
            .await
            .expect("embedded cluster start does not panic")?;
        let cluster = self.cluster()?;
        cluster.ping().await?;
        Ok(cluster)
    }

    /// A handle to the cluster without starting it.
    pub fn cluster(&self) -> Result<Cluster, PgError> {
        let password_file = self.password_file();
        let password =
            fs::read_to_string(&password_file).map_err(PgError::io("reading", &password_file))?;
        Ok(Cluster::new(
            Endpoint::Socket {
                dir: self.socket_dir(),
                port: PORT,
            },
            SUPERUSER.to_string(),
            Some(password.trim().to_string()),
            Some(self.binaries.major),
        ))
    }

    fn ensure_running_blocking(&self) -> Result<(), PgError> {
        fs::create_dir_all(&self.root).map_err(PgError::io("creating", &self.root))?;
        let lock_path = self.root.join(".lock");
        let lock = File::create(&lock_path).map_err(PgError::io("creating", &lock_path))?;
        lock.lock().map_err(PgError::io("locking", &lock_path))?;
        if !self.data_dir().join("PG_VERSION").exists() {
            self.initialize()?;
        }
        self.check_version()?;
        if !self.is_running()? {
            tracing::info!(dir = %self.data_dir().display(), "starting the embedded PostgreSQL");
            self.run(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "--wait".as_ref(),
                    "--timeout".as_ref(),
                    START_TIMEOUT_SECONDS.as_ref(),
                    "--pgdata".as_ref(),
                    self.data_dir().as_os_str(),
                    "--log".as_ref(),
                    self.log_file().as_os_str(),
                ],
            )?;
        }
        Ok(())
    }

    /// Stops the server (fast shutdown: sessions are ended, data is safe).
    pub fn stop(&self) -> Result<bool, PgError> {
        if !self.data_dir().join("PG_VERSION").exists() || !self.is_running()? {
            return Ok(false);
        }
        self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "--mode=fast".as_ref(),
                "--wait".as_ref(),
                "--pgdata".as_ref(),
                self.data_dir().as_os_str(),
            ],
        )?;
        Ok(true)
    }

    pub fn is_running(&self) -> Result<bool, PgError> {
        let output = self
            .command("pg_ctl")
            .args([
                "status".as_ref(),
                "--pgdata".as_ref(),
                self.data_dir().as_os_str(),
            ])
            .output()
            .map_err(PgError::io("running", self.binaries.program("pg_ctl")))?;
        // pg_ctl status: 0 running, 3 not running, 4 no valid data directory.
        Ok(output.status.code() == Some(0))
    }

    fn initialize(&self) -> Result<(), PgError> {
        tracing::info!(dir = %self.root.display(), "creating the embedded PostgreSQL cluster");
        let data = self.data_dir();
        if data.exists() {
            // A previous initdb died half-way; it left no PG_VERSION, so nothing
            // of value is in there.
            fs::remove_dir_all(&data).map_err(PgError::io("removing", &data))?;
        }
        for dir in [self.root.clone(), self.socket_dir()] {
            fs::create_dir_all(&dir).map_err(PgError::io("creating", &dir))?;
            self.hand_over(&dir)?;
        }
        let password = random_secret(24);
        let password_file = self.password_file();
        write_private(&password_file, &password)?;
        // initdb reads the password from a file it must be able to open as the
        // cluster's user; that copy lives only for the duration of initdb.
        let initdb_password = self.root.join(".initdb-password");
        write_private(&initdb_password, &password)?;
        self.hand_over(&initdb_password)?;
        let result = self.run(
            "initdb",
            &[
                "--pgdata".as_ref(),
                data.as_os_str(),
                "--username".as_ref(),
                SUPERUSER.as_ref(),
                "--pwfile".as_ref(),
                initdb_password.as_os_str(),
                "--auth=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
            ],
        );
        let _ = fs::remove_file(&initdb_password);
        result?;
        let settings = format!(
            "\n# slipway: socket only, in our own directory\nlisten_addresses = ''\nport = {PORT}\n\
             unix_socket_directories = '{}'\nmax_connections = 300\nshared_buffers = 256MB\n\
             log_min_messages = warning\nlog_line_prefix = '%m [%p] %q%u@%d '\n",
            self.socket_dir().display()
        );
        let conf = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(PgError::io("reading", &conf))?;
        text.push_str(&settings);
        fs::write(&conf, text).map_err(PgError::io("writing", &conf))?;
        Ok(())
    }

    fn check_version(&self) -> Result<(), PgError> {
        let path = self.data_dir().join("PG_VERSION");
        let found = fs::read_to_string(&path)
            .map_err(PgError::io("reading", &path))?
            .trim()
            .to_string();
        if found != self.binaries.major.to_string() {
            return Err(PgError::VersionMismatch {
                dir: self.data_dir(),
                found,
                wanted: self.binaries.major,
            });
        }
        Ok(())
    }

    fn hand_over(&self, path: &Path) -> Result<(), PgError> {
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(PgError::io("chown", path))?;
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(self.binaries.program(program));
        command
            .env_clear()
            .env("LANG", "C.UTF-8")
            .env("PATH", "/usr/bin:/bin");
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        command
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), PgError> {
        let output = self
            .command(program)
            .args(args)
            // pg_ctl start leaves the server running with its own session; it must
            // not hold our stdout open.
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(PgError::io("running", self.binaries.program(program)))?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
            if text.is_empty() {
                text = String::from_utf8_lossy(&output.stdout).trim().to_string();
            }
            if program == "pg_ctl" {
                text.push_str(&format!(" (server log: {})", self.log_file().display()));
            }
            return Err(PgError::Command {
                program: program.to_string(),
                status: output.status.to_string(),
                output: text,
            });
        }
        Ok(())
    }
}

fn write_private(path: &Path, content: &str) -> Result<(), PgError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(PgError::io("writing", path))?;
    file.write_all(content.as_bytes())
        .map_err(PgError::io("writing", path))
}
