//! Each build of this worker confined: a network of its own
//! (slipway_network) and control groups that limit its memory, CPU and
//! processes (slipway_limits), made when the build starts, kept while it
//! serves, removed with it. Development and staging builds reach only their
//! mail catcher and the addresses their project allows; production reaches
//! the world (its mail and payment providers are real) but never the host's
//! services nor another build, and has the most memory and CPU. A project
//! may give each stage its own memory. `--unconfined` keeps the host's
//! network and no limits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use slipway_api::ProjectLimits;
use slipway_control::{Build, BuildState, Stage};
use slipway_engine::{BuildError, ServeAt};
use slipway_limits::{BuildCgroup, Cgroups, Limits};
use slipway_network::{Egress, Plumbing};
use slipway_sandbox::Network;

use crate::{RunError, Worker};

/// How this worker's builds are confined.
#[derive(Debug, Clone)]
pub enum Confinement {
    /// A network and control groups of its own per build.
    Confined(Box<Confined>),
    /// The host's network and no limits (`serve --unconfined`): builds reach
    /// whatever the host reaches and may take all of it.
    Unconfined,
}

/// The plumbing of confined builds.
#[derive(Debug, Clone)]
pub struct Confined {
    pub plumbing: Plumbing,
    pub cgroups: Cgroups,
    pub limits: StageLimits,
}

/// What one build of each kind may use, unless its project says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct StageLimits {
    pub development: Limits,
    pub staging: Limits,
    pub production: Limits,
    /// The host's memory in bytes (0: unknown).
    pub host_memory: u64,
}

/// Of the host's memory, the part builds may plan on using together: the rest
/// is PostgreSQL's (its buffers and the page cache it relies on), the
/// worker's and the system's.
const BUILD_MEMORY_SHARE: f64 = 0.75;

impl StageLimits {
    /// The defaults for a host of `memory` bytes and `cores` cores
    /// ([`Limits::for_development`] and the others say why).
    pub fn for_host(memory: u64, cores: u32) -> StageLimits {
        StageLimits {
            development: Limits::for_development(memory, cores),
            staging: Limits::for_staging(memory, cores),
            production: Limits::for_production(memory, cores),
            host_memory: memory,
        }
    }

    /// The limits of `build`, whose project asks `asked`: its stage's
    /// (test duplicates of production are staging), with the project's
    /// memory when it gives one, at most the host's memory for builds.
    pub fn for_build(&self, build: &Build, asked: &ProjectLimits) -> Limits {
        self.for_stage(build.stage, build.duplicate, asked)
    }

    fn for_stage(&self, stage: Stage, duplicate: bool, asked: &ProjectLimits) -> Limits {
        let (defaults, stage) = match stage {
            Stage::Production if !duplicate => (&self.production, Stage::Production),
            Stage::Production | Stage::Staging => (&self.staging, Stage::Staging),
            Stage::Development => (&self.development, Stage::Development),
        };
        let Some(mib) = asked.memory_mib(stage) else {
            return defaults.clone();
        };
        let mut bytes = u64::from(mib) << 20;
        let budget = self.build_memory();
        if budget > 0 && bytes > budget {
            tracing::warn!(
                ?stage,
                asked_mib = mib,
                budget_mib = budget >> 20,
                "the project asks more memory than this host has for builds; given what it has"
            );
            bytes = budget;
        }
        defaults.with_memory(bytes)
    }

    /// The part of the host's memory builds may plan on using together.
    fn build_memory(&self) -> u64 {
        (self.host_memory as f64 * BUILD_MEMORY_SHARE) as u64
    }

    /// How many builds may run at once: at most `wanted`, and no more than
    /// the host's memory for builds holds development builds at the
    /// worker's limit (at least one).
    pub fn capacity(&self, wanted: usize) -> usize {
        let fit = (self.build_memory() / self.development.memory_max.max(1)) as usize;
        wanted.min(fit).max(1)
    }
}

/// The network and control groups of one build's runs.
pub(crate) struct BuildNet {
    /// Odoo's runs.
    pub network: Network,
    /// Where its Odoo reaches the mail catcher.
    pub mail_host: String,
    /// pip installing its requirements (it needs the package index).
    pub requirements: Network,
    /// Its limits, one directory per hierarchy.
    pub cgroups: Vec<PathBuf>,
    /// Its memory limit, in bytes.
    pub memory_limit: Option<u64>,
}

/// This worker's builds' confinement: the control groups of its builds by
/// engine id, with their limits.
pub(crate) struct Confinements {
    groups: Mutex<HashMap<String, (BuildCgroup, Limits)>>,
    /// The data dir, recorded where other instances find it
    /// ([`INSTANCES`]): networks and groups of a data dir that is gone are
    /// removed by the next slipway that starts on the host.
    home: PathBuf,
    /// Names this data dir's networks and groups: builds of other slipway
    /// instances of the host (other data dirs) have the same engine ids.
    instance: String,
    /// Held while the pip network is looked for and made.
    pip: tokio::sync::Mutex<()>,
}

impl Confinements {
    /// For the builds of the data dir at `home`.
    pub(crate) fn new(home: &std::path::Path) -> Confinements {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(home.as_os_str().as_encoded_bytes());
        Confinements {
            groups: Mutex::default(),
            home: home.to_path_buf(),
            instance: hex::encode(&digest[..4]),
            pip: tokio::sync::Mutex::default(),
        }
    }

    /// The name of a build's network and groups on this host.
    fn name(&self, engine_id: &str) -> String {
        format!("{}{engine_id}", self.instance)
    }

    /// The engine id of a network or group of this instance.
    fn engine_id<'a>(&self, name: &'a str) -> Option<&'a str> {
        name.strip_prefix(&self.instance)
    }
}

/// The data dir of each slipway instance of the host with networks or
/// control groups, as a file named after the instance (in /run: gone at
/// reboot, with the networks and groups themselves).
const INSTANCES: &str = "/run/slipway/instances";

/// What a build reaches: production the world, the others their catcher.
fn rights(build: &Build) -> (Egress, bool) {
    if build.stage == Stage::Production && !build.duplicate {
        (Egress::Internet, false)
    } else {
        (Egress::None, true)
    }
}

/// The addresses `build` may reach beyond its rights: its project's
/// allow-list for development and staging; production reaches the world.
fn allow_list(build: &Build, asked: &ProjectLimits) -> Vec<std::net::SocketAddrV4> {
    match rights(build) {
        (slipway_network::Egress::Internet, _) => Vec::new(),
        (slipway_network::Egress::None, _) => asked
            .egress_allow
            .iter()
            .map(|target| std::net::SocketAddrV4::new(target.address, target.port))
            .collect(),
    }
}

/// Whether a build's network is made from nothing, or the one that exists
/// (its build serves again after a restart) is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Made {
    Fresh,
    Reused,
}

impl Worker {
    /// `build`'s network with the rights its stage and project give it.
    async fn network_with_rights(
        &self,
        confined: &Confined,
        build: &Build,
        engine_id: &str,
        asked: &ProjectLimits,
        made: Made,
    ) -> Result<slipway_network::BuildNetwork, slipway_network::NetworkError> {
        let (egress, mail) = rights(build);
        let (plumbing, name) = (confined.plumbing.clone(), self.cgroups.name(engine_id));
        let allowed = allow_list(build, asked);
        tokio::task::spawn_blocking(move || {
            let found = match made {
                Made::Fresh => None,
                Made::Reused => plumbing.find(&name)?,
            };
            let network = match found {
                // Found after a crash: a newer slipway may have replaced the
                // table, and every right with it.
                Some(network) => {
                    network.set_egress(&plumbing, egress)?;
                    network
                }
                None => plumbing.create(&name, egress)?,
            };
            network.set_mail(&plumbing, mail)?;
            network.set_allowed(&plumbing, &allowed)?;
            Ok(network)
        })
        .await
        .expect("making a network does not panic")
    }

    /// What `build`'s project asks of its limits now.
    async fn project_limits(&self, build: &Build) -> Result<ProjectLimits, RunError> {
        let session = self.control.session().await?;
        let project = slipway_control::get_project_by_id(&session, build.project_id).await?;
        Ok(project.settings.limits)
    }

    /// The network and control groups of `build` (`engine_id`), made now.
    pub(crate) async fn build_net(
        &self,
        build: &Build,
        engine_id: &str,
        asked: &ProjectLimits,
    ) -> Result<BuildNet, RunError> {
        let Confinement::Confined(confined) = &self.config.confinement else {
            return Ok(BuildNet {
                network: Network::Host,
                mail_host: "127.0.0.1".into(),
                requirements: Network::Host,
                cgroups: Vec::new(),
                memory_limit: None,
            });
        };
        let own = self
            .network_with_rights(confined, build, engine_id, asked, Made::Fresh)
            .await
            .map_err(|error| RunError::Confinement(error.to_string()))?;
        let pip = self.pip_network(confined).await?;
        let limits = confined.limits.for_build(build, asked);
        let memory_limit = Some(limits.memory_max);
        let cgroups = self
            .build_cgroup(engine_id, limits)
            .await
            .map_err(|error| RunError::Confinement(error.to_string()))?;
        Ok(BuildNet {
            network: Network::Namespace(own.namespace),
            mail_host: own.host_address.to_string(),
            requirements: pip,
            cgroups,
            memory_limit,
        })
    }

    /// The control groups of build `engine_id` with `limits`, made afresh
    /// for each run and each start of its server: their counters (OOM kills,
    /// refused forks) are that run's only.
    async fn build_cgroup(
        &self,
        engine_id: &str,
        limits: Limits,
    ) -> Result<Vec<PathBuf>, slipway_limits::LimitsError> {
        let Confinement::Confined(confined) = &self.config.confinement else {
            return Ok(Vec::new());
        };
        let (cgroups, name, wanted) = (
            confined.cgroups.clone(),
            self.cgroups.name(engine_id),
            limits.clone(),
        );
        let group = tokio::task::spawn_blocking(move || cgroups.create(&name, &wanted))
            .await
            .expect("making a control group does not panic")?;
        let dirs = group.dirs().map(PathBuf::from).collect();
        tracing::debug!(build = %engine_id, %limits, "build limits set");
        let replaced = self
            .cgroups
            .groups
            .lock()
            .expect("build groups")
            .insert(engine_id.to_string(), (group, limits));
        if let Some((old, _)) = replaced {
            // Made afresh above under the same name: forget the old handle
            // without removing what is now the new group.
            std::mem::forget(old);
        }
        Ok(dirs)
    }

    /// Why a build's run was stopped by its limits, if it was: "out of
    /// memory: limit 2 GiB", or the process limit reached.
    pub(crate) fn limit_reason(&self, engine_id: &str) -> Option<String> {
        let groups = self.cgroups.groups.lock().expect("build groups");
        let (group, limits) = groups.get(engine_id)?;
        if group.oom_killed() {
            Some(format!("out of memory: limit {}", limits.memory_max_text()))
        } else if group.pids_limited() {
            Some(format!("too many processes: limit {}", limits.pids_max))
        } else {
            None
        }
    }

    /// Where `build`'s Odoo serves and the control groups it runs in: its
    /// own network (made again if the host restarted since), or a free port
    /// of the loopback when unconfined.
    pub(crate) async fn serve_at(
        &self,
        build: &Build,
        engine_id: &str,
    ) -> Result<(ServeAt, Vec<PathBuf>), BuildError> {
        let Confinement::Confined(confined) = &self.config.confinement else {
            return Ok((ServeAt::Loopback(slipway_engine::free_port()?), Vec::new()));
        };
        // Its project's limits as they are now: a changed allow-list or
        // memory applies from the next start.
        let asked = self
            .project_limits(build)
            .await
            .map_err(|error| BuildError::Host(format!("the build's project: {error}")))?;
        let network = self
            .network_with_rights(confined, build, engine_id, &asked, Made::Reused)
            .await
            .map_err(|error| BuildError::Host(format!("the build's network: {error}")))?;
        let cgroups = self
            .build_cgroup(engine_id, confined.limits.for_build(build, &asked))
            .await
            .map_err(|error| BuildError::Host(format!("the build's limits: {error}")))?;
        Ok((
            ServeAt::Namespace {
                namespace: network.namespace,
                address: network.build_address,
            },
            cgroups,
        ))
    }

    /// Removes a build's network, control groups, database and files: the
    /// database last, so that callers record it gone right after.
    pub(crate) async fn drop_build(&self, engine_id: &str) -> Result<(), BuildError> {
        self.drop_confinement(engine_id).await;
        self.engine.drop_kept(engine_id).await
    }

    /// Removes a build's network and control groups (killing what is left
    /// in them), if it has them.
    pub(crate) async fn drop_confinement(&self, engine_id: &str) {
        let Confinement::Confined(confined) = &self.config.confinement else {
            return;
        };
        let group = self
            .cgroups
            .groups
            .lock()
            .expect("build groups")
            .remove(engine_id);
        let (plumbing, cgroups, name) = (
            confined.plumbing.clone(),
            confined.cgroups.clone(),
            self.cgroups.name(engine_id),
        );
        let removed = tokio::task::spawn_blocking(move || {
            let network = plumbing.remove(&name).map_err(|error| error.to_string());
            let limits = match group {
                Some((group, _)) => group.remove(),
                // Left by a worker that died: found by name.
                None => cgroups.remove_orphan(&name),
            }
            .map_err(|error| error.to_string());
            network.and(limits)
        })
        .await;
        if let Ok(Err(error)) = removed {
            tracing::warn!(build = %engine_id, %error, "removing the build's network or limits failed");
        }
    }

    /// Removes the networks and control groups of builds that neither run
    /// nor serve (left by a worker that died), on this host.
    pub(crate) async fn reap_confinement(&self) -> Result<(), RunError> {
        let Confinement::Confined(confined) = &self.config.confinement else {
            return Ok(());
        };
        self.reap_vanished_instances(confined).await;
        let mut names = {
            let plumbing = confined.plumbing.clone();
            tokio::task::spawn_blocking(move || plumbing.names())
                .await?
                .map_err(|error| RunError::Confinement(error.to_string()))?
        };
        names.extend(confined.cgroups.list_orphans());
        names.sort();
        names.dedup();
        let session = self.control.session().await?;
        for name in names {
            // Another instance's (another data dir), or not a build's.
            let Some(engine_id) = self.cgroups.engine_id(&name) else {
                continue;
            };
            let Ok(attempt) = engine_id.parse::<slipway_control::BuildAttempt>() else {
                continue;
            };
            let live = match slipway_control::get_build(&session, attempt.build()).await {
                Ok(build) => {
                    build.attempts == attempt.attempt()
                        && matches!(build.state, BuildState::Running | BuildState::Serving)
                }
                Err(slipway_control::ControlError::UnknownBuild(_)) => false,
                Err(error) => return Err(error.into()),
            };
            if !live {
                tracing::info!(build = %engine_id, "network and limits of a build that no longer runs removed");
                self.drop_confinement(engine_id).await;
            }
        }
        Ok(())
    }

    /// Records this instance's data dir, and removes the networks and
    /// groups of instances whose data dir is gone (a deleted data dir, a
    /// test's): nobody else would.
    async fn reap_vanished_instances(&self, confined: &Confined) {
        let (plumbing, cgroups) = (confined.plumbing.clone(), confined.cgroups.clone());
        let (own, home) = (self.cgroups.instance.clone(), self.cgroups.home.clone());
        let reaped = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let dir = std::path::Path::new(INSTANCES);
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(&own), home.as_os_str().as_encoded_bytes())?;
            let mut gone = Vec::new();
            // Listed once, only if some data dir is gone.
            let mut listed: Option<(Vec<String>, Vec<String>)> = None;
            for entry in std::fs::read_dir(dir)?.flatten() {
                let instance = entry.file_name().to_string_lossy().into_owned();
                let recorded = std::fs::read(entry.path())?;
                let home = PathBuf::from(String::from_utf8_lossy(&recorded).into_owned());
                if instance == own || home.exists() {
                    continue;
                }
                let (networks, groups) = listed.get_or_insert_with(|| {
                    (plumbing.names().unwrap_or_default(), cgroups.list_orphans())
                });
                for name in networks.iter().filter(|name| name.starts_with(&instance)) {
                    if let Err(error) = plumbing.remove(name) {
                        tracing::warn!(network = %name, %error, "removing a network of a vanished data dir failed");
                    }
                }
                for name in groups.iter() {
                    if name.starts_with(&instance) {
                        if let Err(error) = cgroups.remove_orphan(name) {
                            tracing::warn!(group = %name, %error, "removing a control group of a vanished data dir failed");
                        }
                    }
                }
                std::fs::remove_file(entry.path())?;
                gone.push(home.display().to_string());
            }
            Ok(gone)
        })
        .await;
        match reaped {
            Ok(Ok(gone)) if !gone.is_empty() => {
                tracing::info!(data_dirs = ?gone, "networks and limits of vanished data dirs removed");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "reaping the networks of vanished data dirs failed")
            }
            Err(error) => {
                tracing::warn!(%error, "reaping the networks of vanished data dirs failed")
            }
        }
    }

    /// Removes the networks and groups of every build of this worker, and
    /// its pip network, when it stops: they are made again when the builds
    /// serve again.
    pub(crate) async fn release_confinement(&self) {
        let Confinement::Confined(confined) = &self.config.confinement else {
            return;
        };
        let held: Vec<String> = {
            let groups = self.cgroups.groups.lock().expect("build groups");
            groups.keys().cloned().collect()
        };
        for engine_id in held {
            self.drop_confinement(&engine_id).await;
        }
        let (plumbing, pip) = (confined.plumbing.clone(), self.cgroups.name("pip"));
        if let Ok(Err(error)) = tokio::task::spawn_blocking(move || plumbing.remove(&pip)).await {
            tracing::warn!(%error, "removing the pip network failed");
        }
        // Nothing of this instance is left for others to reap.
        let _ = std::fs::remove_file(std::path::Path::new(INSTANCES).join(&self.cgroups.instance));
    }

    /// The network pip installs requirements in, one for every build of
    /// this instance: egress to the package index, no database, no build.
    /// Made when first needed, and again if it went.
    async fn pip_network(&self, confined: &Confined) -> Result<Network, RunError> {
        let plumbing = confined.plumbing.clone();
        let name = self.cgroups.name("pip");
        // Two builds starting at once must not make it twice: making it
        // again removes the one the other build uses.
        let _only_one = self.cgroups.pip.lock().await;
        let pip = tokio::task::spawn_blocking(move || match plumbing.find(&name)? {
            Some(network) => Ok(network),
            None => plumbing.create(&name, Egress::Internet),
        })
        .await?
        .map_err(|error| RunError::Confinement(error.to_string()))?;
        Ok(Network::Namespace(pip.namespace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn a_worker_runs_no_more_builds_than_its_memory_holds() {
        let limits = StageLimits::for_host(24 * GIB, 2);
        // 4 GiB per development build, 18 GiB for builds: 4 fit.
        assert_eq!(limits.capacity(8), 4);
        assert_eq!(limits.capacity(2), 2, "the cores asked less");
        let small = StageLimits::for_host(2 * GIB, 8);
        assert_eq!(small.capacity(8), 1, "one build always runs");
    }

    #[test]
    fn a_project_s_memory_replaces_its_stage_s_default_up_to_the_host_s_budget() {
        let limits = StageLimits::for_host(24 * GIB, 2);
        let asked = ProjectLimits {
            development_memory_mib: Some(2048),
            staging_memory_mib: Some(64 * 1024),
            ..ProjectLimits::default()
        };
        let development = limits.for_stage(Stage::Development, false, &asked);
        assert_eq!(development.memory_max, 2 * GIB);
        assert_eq!(
            development.memory_high,
            Some(((2 * GIB / 10 * 9) >> 20) << 20)
        );
        assert_eq!(development.pids_max, limits.development.pids_max);
        // More than the host holds: what its builds have together, 18 GiB.
        let staging = limits.for_stage(Stage::Staging, false, &asked);
        assert_eq!(staging.memory_max, 18 * GIB);
        // A test duplicate of production is staging; production keeps its default.
        assert_eq!(limits.for_stage(Stage::Production, true, &asked), staging);
        assert_eq!(
            limits.for_stage(Stage::Production, false, &asked),
            limits.production
        );
        assert_eq!(
            limits.for_stage(Stage::Development, false, &ProjectLimits::default()),
            limits.development
        );
    }
}
