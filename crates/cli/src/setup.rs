//! Turning the environment into an [`Engine`]: data dir, host account, PostgreSQL,
//! sandbox.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use slipway_engine::{host, Engine, Layout};
use slipway_image::ImageStore;
use slipway_postgres::{Cluster, ClusterUser, EmbeddedCluster, PgBinaries};
use slipway_sandbox::Bubblewrap;

/// The data dir, created and traversable by the build account.
pub fn layout() -> Result<Layout> {
    let layout = Layout::from_env();
    for dir in [&layout.home, &layout.images] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data dir {}", dir.display()))?;
    }
    // The sandboxes and PostgreSQL run as another account when we are root;
    // they must be able to reach their own subdirectories.
    if host::is_root() {
        let mode = std::fs::metadata(&layout.home)?.permissions().mode();
        if mode & 0o005 != 0o005 {
            std::fs::set_permissions(&layout.home, std::fs::Permissions::from_mode(mode | 0o755))?;
        }
        if let Some(account) = host::build_account()? {
            host::check_reachable(&layout.home, account)?;
        }
    }
    Ok(layout)
}

/// PostgreSQL's programs: `SLIPWAY_PG_BINDIR`, else the host's newest.
pub fn pg_binaries() -> Result<PgBinaries> {
    let configured = std::env::var_os("SLIPWAY_PG_BINDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    Ok(PgBinaries::find(configured.as_deref())?)
}

pub fn embedded_cluster(layout: &Layout) -> Result<EmbeddedCluster> {
    let binaries = pg_binaries()?;
    let account = host::build_account()?;
    Ok(EmbeddedCluster::new(
        layout.postgres(),
        binaries,
        account.map(|a| ClusterUser {
            uid: a.uid,
            gid: a.gid,
        }),
    ))
}

/// `SLIPWAY_DATABASE_URL` (external cluster), else the embedded one, started.
pub async fn cluster(layout: &Layout) -> Result<Cluster> {
    if let Some(url) = std::env::var("SLIPWAY_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let cluster = Cluster::external(&url)?;
        cluster
            .ping()
            .await
            .context("connecting to SLIPWAY_DATABASE_URL")?;
        return Ok(cluster);
    }
    let embedded = embedded_cluster(layout)?;
    embedded
        .ensure_running()
        .await
        .context("starting the embedded PostgreSQL")
}

pub async fn engine() -> Result<Engine> {
    let layout = layout()?;
    let account = host::build_account()?;
    let sandbox = Bubblewrap::locate()?;
    let cluster = cluster(&layout).await?;
    let images = ImageStore::new(&layout.images);
    Ok(Engine::new(
        layout,
        images,
        cluster,
        Box::new(sandbox),
        account,
    ))
}
