//! The shared machinery every build runs on, and a build before it runs.

use std::time::Instant;

use slipway_image::{Image, ImageStore};
use slipway_postgres::{random_secret, Cluster};
use slipway_sandbox::Sandbox;

use crate::host::HostAccount;
use crate::odoo::OdooHost;
use crate::odoo_install::OdooInstall;
use crate::serving::ServedBuild;
use crate::{BuildError, BuildReport, Layout, Tracker};

/// Prefix of every build's database and role; the rest is its engine id.
const BUILD_DATABASE_PREFIX: &str = "slipway_b_";

/// The database (and the login role owning it) of build `id`.
pub fn build_database(id: &str) -> String {
    format!("{BUILD_DATABASE_PREFIX}{id}")
}

/// The engine id of the build owning `database`, if it is a build's.
pub fn build_of_database(database: &str) -> Option<&str> {
    database
        .strip_prefix(BUILD_DATABASE_PREFIX)
        .filter(|id| !id.is_empty())
}

/// The shared machinery builds run on: the data dir, the images, the
/// PostgreSQL cluster and the sandbox.
pub struct Engine {
    layout: Layout,
    images: ImageStore,
    cluster: Cluster,
    sandbox: Box<dyn Sandbox>,
    /// Host account for sandboxes and build files (when slipway runs as root).
    account: Option<HostAccount>,
}

impl Engine {
    pub fn new(
        layout: Layout,
        images: ImageStore,
        cluster: Cluster,
        sandbox: Box<dyn Sandbox>,
        account: Option<HostAccount>,
    ) -> Engine {
        Engine {
            layout,
            images,
            cluster,
            sandbox,
            account,
        }
    }

    /// Where everything is on disk.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The Odoo images builds run on.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The cluster that holds the builds' databases.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The sandbox Odoo runs in.
    pub fn sandbox(&self) -> &dyn Sandbox {
        self.sandbox.as_ref()
    }

    /// Removes what dead runs left behind (sandboxes, databases, roles,
    /// directories): the number of runs reaped.
    pub async fn reap_orphans(&self) -> Result<usize, BuildError> {
        crate::resources::reap_orphans(&self.layout, &self.cluster).await
    }

    /// What time makes useless: logs of builds older than
    /// [`crate::LOG_RETENTION`], source trees no build used for
    /// [`crate::TREE_RETENTION`].
    pub fn collect_old(&self) {
        let logs = crate::resources::prune_logs(&self.layout, crate::LOG_RETENTION);
        let trees = self.collect_trees();
        if logs + trees > 0 {
            tracing::info!(
                logs,
                trees,
                "old build logs and unused source trees removed"
            );
        }
    }

    /// Gives the build an id and starts its resource record.
    pub fn prepare(&self) -> Result<PreparedBuild, BuildError> {
        self.prepare_with_id(&random_secret(5))
    }

    /// Like [`Engine::prepare`] with a given id (lowercase letters and digits):
    /// the server names its builds after their queue id. A retried build must
    /// first remove what its previous attempt left ([`Engine::drop_kept`]).
    pub fn prepare_with_id(&self, id: &str) -> Result<PreparedBuild, BuildError> {
        if id.is_empty()
            || id.len() > 40
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(BuildError::Host(format!("invalid build id '{id}'")));
        }
        let tracker = Tracker::new(&self.layout, id)?;
        Ok(PreparedBuild {
            id: id.to_string(),
            tracker,
        })
    }

    /// Removes everything `build` created (after a cancelled run).
    pub async fn discard(&self, build: &PreparedBuild) -> Result<(), BuildError> {
        build.tracker.clean_up(&self.cluster).await
    }

    /// [`Engine::discard`] where an error can only be logged: the next run's
    /// reaper retries.
    pub(crate) async fn discard_quietly(&self, build: &PreparedBuild) {
        if let Err(error) = self.discard(build).await {
            tracing::error!(build = %build.id, %error, "cleaning up the build failed; the next run's reaper retries");
        }
    }

    /// Ends a run: the build is kept when its report passes `keep` (it serves
    /// later), else everything it made is removed; the report gets the run's
    /// duration.
    pub(crate) async fn conclude(
        &self,
        build: &PreparedBuild,
        result: Result<BuildReport, BuildError>,
        keep: impl FnOnce(&BuildReport) -> bool,
        started: Instant,
    ) -> Result<BuildReport, BuildError> {
        match &result {
            Ok(report) if keep(report) => build.tracker.keep(),
            _ => self.discard_quietly(build).await,
        }
        result.map(|mut report| {
            report.duration_s = started.elapsed().as_secs_f64();
            report
        })
    }

    /// Drops a kept build's database, role and files.
    pub async fn drop_kept(&self, build_id: &str) -> Result<(), BuildError> {
        let database = build_database(build_id);
        self.cluster.drop_database(&database).await?;
        self.cluster.drop_role(&database).await?;
        let dir = self.layout.build(build_id);
        match std::fs::remove_dir_all(dir.root()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(BuildError::io("removing", dir.root())(error)),
        }
    }

    pub(crate) fn account(&self) -> Option<HostAccount> {
        self.account
    }

    pub(crate) fn odoo_host<'a>(&'a self, odoo: &'a OdooInstall) -> OdooHost<'a> {
        OdooHost {
            sandbox: self.sandbox.as_ref(),
            odoo,
            account: self.account,
            endpoint: &self.cluster.endpoint,
        }
    }

    /// The Odoo a kept build runs (its runtime must still be there).
    pub(crate) fn odoo_of(&self, served: &ServedBuild) -> Result<OdooInstall, BuildError> {
        Ok(OdooInstall {
            runtime: self.image_named(&served.image)?,
            sources: served.sources.clone(),
        })
    }

    fn image_named(&self, name: &str) -> Result<Image, BuildError> {
        for image in self.images.list()?.into_iter().flatten() {
            if image.meta.name == name {
                return Ok(image);
            }
        }
        Err(BuildError::Host(format!(
            "image {name} of this build is gone; rebuild the branch"
        )))
    }
}

/// A build that has an id and a resource record, before it runs. Keep it to
/// clean up after a cancelled run ([`Engine::discard`]).
pub struct PreparedBuild {
    pub id: String,
    pub(crate) tracker: Tracker,
}

impl PreparedBuild {
    /// The build's database, and the login role that owns it.
    pub fn database(&self) -> String {
        build_database(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_s_database_names_its_build() {
        assert_eq!(build_database("s12a1"), "slipway_b_s12a1");
        assert_eq!(build_of_database("slipway_b_s12a1"), Some("s12a1"));
        assert_eq!(build_of_database("slipway_b_"), None);
        assert_eq!(build_of_database("shop_production"), None);
    }
}
