//! One throw-away embedded PostgreSQL per test binary, for the tests of the
//! crates that need a real cluster (feature `test-support`): started on first
//! use, stopped and removed when the process exits.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use tokio::sync::OnceCell;

use crate::{Cluster, ClusterUser, EmbeddedCluster, PgBinaries};

/// The shared cluster of a test binary.
pub struct TestCluster {
    pub embedded: EmbeddedCluster,
    pub cluster: Cluster,
    pub binaries: PgBinaries,
    /// Its data dir (`postgres/superuser.password` is there).
    pub dir: PathBuf,
}

static SHARED: OnceCell<TestCluster> = OnceCell::const_new();

extern "C" fn stop_shared() {
    if let Some(shared) = SHARED.get() {
        let _ = shared.embedded.stop();
        let _ = std::fs::remove_dir_all(&shared.dir);
    }
}

/// The test binary's cluster, started on first use. Panics if it cannot start.
pub async fn shared() -> &'static TestCluster {
    SHARED
        .get_or_init(|| async {
            let dir = tempfile::tempdir().expect("a temporary directory").keep();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                .expect("chmod of the temporary directory");
            // PostgreSQL refuses root; `nobody` stands in for slipway's system user.
            let run_as = (unsafe { libc::geteuid() } == 0).then_some(ClusterUser {
                uid: 65534,
                gid: 65534,
            });
            let binaries = PgBinaries::find(None).expect("PostgreSQL binaries");
            let embedded = EmbeddedCluster::new(dir.join("postgres"), binaries.clone(), run_as);
            // Registered before the start, so that a failed start is cleaned too.
            unsafe { libc::atexit(stop_shared) };
            let cluster = match embedded.ensure_running().await {
                Ok(cluster) => cluster,
                Err(error) => {
                    let _ = embedded.stop();
                    panic!("starting the embedded PostgreSQL: {error}");
                }
            };
            TestCluster {
                embedded,
                cluster,
                binaries,
                dir,
            }
        })
        .await
}
