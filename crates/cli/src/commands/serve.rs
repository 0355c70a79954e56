//! `slipway serve`: everything on one machine (embedded PostgreSQL, control
//! database, API, watcher, one worker); `slipway worker`: one more worker
//! against the same control database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use slipway_control::{ControlDb, CONTROL_DATABASE};
use slipway_server::{AppState, ServerParts};
use slipway_worker::{Confinement, Worker, WorkerConfig};
use tokio::sync::watch;

use crate::client::ServerFile;
use crate::setup;
use slipway_engine::Layout;

const DEFAULT_LISTEN: &str = "127.0.0.1:8800";
/// A worker's builds wait this long for a shutdown to finish before the process
/// gives up on them (they are cleaned up by the reaper then).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct ServeArgs {
    /// Address of the HTTP API and webhooks.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Builds answer at `http://<build id>.<domain>:<port>` and each project's
    /// production at `http://<project>.<domain>:<port>`, through this server.
    /// `localhost` works in browsers without any DNS setup.
    #[arg(long, value_name = "DOMAIN", default_value = "localhost")]
    base_domain: String,
    /// The address browsers reach this server at, when it is not
    /// `http://<base domain>:<listen port>`: e.g. https://ci.example.com behind
    /// a TLS-terminating proxy (builds are then https://<id>.ci.example.com,
    /// and cookies are marked Secure).
    #[arg(long, value_name = "URL", conflicts_with = "base_domain")]
    public_url: Option<String>,
    /// Projects to declare at start (default: slipway.toml in the data dir, if any).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run no worker here: builds are left to `slipway worker` processes.
    #[arg(long)]
    no_worker: bool,
    #[command(flatten)]
    worker: WorkerArgs,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// Builds run at once by this worker (default: half the cores, at least
    /// 1; never more than the host's memory holds at the development limit).
    #[arg(long)]
    max_builds: Option<usize>,
    /// Name of the worker, unique among those sharing the control database
    /// (default: the host name, plus the process id for `slipway worker`).
    #[arg(long)]
    name: Option<String>,
    /// Seconds a build's lease lasts without a heartbeat.
    #[arg(long, env = "SLIPWAY_LEASE_SECONDS", default_value_t = slipway_worker::LEASE.as_secs())]
    lease_seconds: u64,
    /// Seconds a stopped build keeps its database (default: 3 days).
    #[arg(long, env = "SLIPWAY_STOPPED_RETENTION_SECONDS", default_value_t = slipway_worker::STOPPED_RETENTION.as_secs())]
    stopped_retention_seconds: u64,
    /// Run builds on the host's network, without limits, instead of a
    /// network and limits of their own each: any branch pushed then reaches
    /// whatever the host reaches (slipway's API, other builds, the internet)
    /// and may take all its memory. For hosts without nftables, cgroups or
    /// root; the web UI shows it.
    #[arg(long)]
    unconfined: bool,
    /// Memory of a development build, in MiB (default: a quarter of the
    /// host's, between 1 and 4 GiB).
    #[arg(long, env = "SLIPWAY_DEVELOPMENT_MEMORY_MIB")]
    development_memory_mib: Option<u64>,
}

#[derive(Args)]
pub struct StandaloneWorkerArgs {
    /// The control database of a `slipway serve`, e.g.
    /// postgresql://slipway:PASSWORD@db-host/slipway_control (or key=value form).
    #[arg(long, env = "SLIPWAY_CONTROL_URL", hide_env_values = true)]
    database: String,
    #[command(flatten)]
    worker: WorkerArgs,
}

/// Projects declared in `slipway.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default, rename = "project")]
    projects: Vec<slipway_api::NewProject>,
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let engine = Arc::new(setup::engine().await?);
    let control = ControlDb::prepare(engine.cluster().clone(), CONTROL_DATABASE)
        .await
        .context("preparing the control database")?;
    let token = slipway_postgres::random_secret(24);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (another slipway serve? pass --listen)",
                args.listen
            )
        })?;
    let address = listener.local_addr()?;
    let pg_binaries = crate::setup::pg_binaries()?;
    let addresses = match &args.public_url {
        Some(url) => slipway_server::Addresses::from_public_url(url).map_err(anyhow::Error::msg)?,
        None => slipway_server::Addresses::new(&args.base_domain, address.port()),
    };
    let ui_origin = addresses.ui_origin();
    let worker_config = worker_config(&args.worker, false, (!args.no_worker).then_some(&*engine))?;
    let (state, watcher) = AppState::start(ServerParts {
        control: control.clone(),
        engine: engine.clone(),
        token: token.clone(),
        addresses,
        worker: (!args.no_worker).then(|| worker_config.name.clone()),
        pg_binaries,
        proxy_cache: slipway_server::proxy::CacheLife::DEFAULT,
    });

    let config = args
        .config
        .clone()
        .or_else(|| Some(engine.layout().projects_file()).filter(|p| p.exists()));
    if let Some(path) = config {
        declare_projects(&state, &path).await?;
    }

    let server_file = write_server_file(engine.layout(), &format!("http://{address}"), &token)?;

    let (stop, stopped) = watch::channel(false);
    let worker_task = if args.no_worker {
        tokio::spawn(async { Ok(()) })
    } else {
        let worker = Worker::new(worker_config, engine.clone(), control.clone());
        tokio::spawn(worker.run(stopped.clone()))
    };
    let watcher_task = tokio::spawn(watcher.run(stopped.clone()));
    let mut http_stopped = stopped.clone();
    let http =
        axum::serve(listener, slipway_server::router(state)).with_graceful_shutdown(async move {
            let _ = http_stopped.changed().await;
        });
    let http_task = tokio::spawn(async move { http.await });
    eprintln!(
        "slipway serving on http://{address}: web UI at {ui} (data dir {})",
        engine.layout().home.display(),
        ui = ui_origin,
    );

    let mut worker_task = worker_task;
    // The worker waits out database errors itself; if it still ends, serving
    // without it would queue builds nobody runs.
    let signal = tokio::select! {
        signal = wait_for_signal() => signal,
        ended = &mut worker_task, if !args.no_worker => {
            let _ = stop.send(true);
            let _ = std::fs::remove_file(&server_file);
            match ended {
                Ok(Ok(())) => anyhow::bail!("the worker stopped unexpectedly"),
                Ok(Err(error)) => return Err(error).context("the worker stopped"),
                Err(panic) => anyhow::bail!("the worker crashed: {panic}"),
            }
        }
    };
    eprintln!("{signal}: stopping builds and Odoo servers, releasing leases…");
    let _ = stop.send(true);
    let outcome = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let worker = worker_task.await;
        let _ = watcher_task.await;
        let _ = http_task.await;
        worker
    })
    .await;
    let _ = std::fs::remove_file(&server_file);
    match outcome {
        Ok(Ok(Ok(()))) => Ok(ExitCode::SUCCESS),
        Ok(Ok(Err(error))) => Err(error).context("the worker stopped with an error"),
        Ok(Err(panic)) => anyhow::bail!("the worker crashed: {panic}"),
        Err(_) => anyhow::bail!("shutdown took longer than {} s", SHUTDOWN_GRACE.as_secs()),
    }
}

pub async fn worker(args: StandaloneWorkerArgs) -> Result<ExitCode> {
    let engine = Arc::new(setup::engine().await?);
    let url = args.database.clone();
    let cluster = slipway_postgres::Cluster::external(&url)?;
    let database = cluster_database(&url).unwrap_or_else(|| CONTROL_DATABASE.to_string());
    let control = ControlDb::prepare(cluster, &database)
        .await
        .context("connecting to the control database")?;
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(
        worker_config(&args.worker, true, Some(&*engine))?,
        engine,
        control,
    );
    let task = tokio::spawn(worker.run(stopped));
    let signal = wait_for_signal().await;
    eprintln!("{signal}: stopping builds and Odoo servers, releasing leases…");
    let _ = stop.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, task).await {
        Ok(Ok(Ok(()))) => Ok(ExitCode::SUCCESS),
        Ok(Ok(Err(error))) => Err(error).context("the worker stopped with an error"),
        Ok(Err(panic)) => anyhow::bail!("the worker crashed: {panic}"),
        Err(_) => anyhow::bail!("shutdown took longer than {} s", SHUTDOWN_GRACE.as_secs()),
    }
}

/// The database named in the URL, if any.
fn cluster_database(url: &str) -> Option<String> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    config.get_dbname().map(str::to_string)
}

/// The worker's settings; `runs_builds`: the engine it runs builds with (none
/// for `serve --no-worker`, whose builds need no network made here).
fn worker_config(
    args: &WorkerArgs,
    standalone: bool,
    runs_builds: Option<&slipway_engine::Engine>,
) -> Result<WorkerConfig> {
    let host = hostname();
    let name = args.name.clone().unwrap_or_else(|| {
        if standalone {
            format!("{host}-{}", std::process::id())
        } else {
            host.clone()
        }
    });
    let lease = Duration::from_secs(args.lease_seconds.max(3));
    let confinement = match runs_builds {
        None => Confinement::Unconfined,
        Some(_) if args.unconfined => {
            tracing::warn!("builds run unconfined: on the host's network");
            Confinement::Unconfined
        }
        Some(engine) => {
            if let slipway_postgres::Endpoint::Tcp { host, port } = &engine.cluster().endpoint {
                anyhow::bail!(
                    "builds reach PostgreSQL at {host}:{port} over TCP (SLIPWAY_DATABASE_URL), \
                     which a build in a network of its own cannot: use a cluster on this host \
                     through its Unix socket (SLIPWAY_DATABASE_URL=postgresql://USER@/DB?host=/run/postgresql, \
                     or the embedded one), or pass --unconfined to run builds on the host's network"
                );
            }
            let plumbing = slipway_network::Plumbing::start()
                .context("a network of its own for each build")?;
            let cgroups = slipway_limits::Cgroups::detect().context(
                "limits for each build (or pass --unconfined to run builds without limits)",
            )?;
            let mut limits = slipway_worker::StageLimits::for_host(
                slipway_limits::host_memory(),
                slipway_limits::available_cores(),
            );
            if let Some(mib) = args.development_memory_mib {
                limits.development = limits.development.with_memory(mib.saturating_mul(1 << 20));
                limits
                    .development
                    .validate()
                    .with_context(|| format!("--development-memory-mib {mib}"))?;
            }
            Confinement::Confined(Box::new(slipway_worker::Confined {
                plumbing,
                cgroups,
                limits,
            }))
        }
    };
    let wanted = args
        .max_builds
        .unwrap_or_else(WorkerConfig::default_max_builds)
        .max(1);
    let max_builds = match &confinement {
        Confinement::Confined(confined) => {
            let fit = confined.limits.capacity(wanted);
            if fit < wanted {
                tracing::warn!(
                    wanted,
                    fit,
                    "fewer builds at once: the host's memory holds no more"
                );
            }
            fit
        }
        Confinement::Unconfined => wanted,
    };
    Ok(WorkerConfig {
        name,
        host,
        max_builds,
        lease,
        stopped_retention: Duration::from_secs(args.stopped_retention_seconds),
        confinement,
        pg_binaries: crate::setup::pg_binaries()?,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Adds the projects of a `slipway.toml` that are not there yet.
async fn declare_projects(state: &Arc<AppState>, path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config: ConfigFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid slipway.toml", path.display()))?;
    let existing: Vec<String> = {
        let session = state.control.session().await?;
        slipway_control::list_projects(&session)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    for project in config.projects {
        if existing.contains(&project.name) {
            continue;
        }
        let name = project.name.clone();
        slipway_server::add_project(state, project)
            .await
            .map_err(|error| {
                anyhow::anyhow!("{}: project '{name}': {}", path.display(), error.message)
            })?;
        eprintln!("project {name} declared in {}", path.display());
    }
    Ok(())
}

fn write_server_file(layout: &Layout, url: &str, token: &str) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = layout.server_file();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    let contents = ServerFile {
        url: url.to_string(),
        token: token.to_string(),
    };
    file.write_all(&serde_json::to_vec(&contents).expect("the server file serializes"))?;
    Ok(path)
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = terminate.recv() => "terminated",
    }
}
