//! One claimed build, from the repository mirror to a serving Odoo.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use slipway_control::{Build, BuildState, BuildStatus, ControlError, Outcome, Project, Stage};
use slipway_engine::{BuildReport, DevelopmentRequest, PreparedBuild, Silent};
use slipway_engine::{OdooInstall, OdooRequest};
use slipway_image::BuildOptions;
use slipway_odoo_log::Status;
use slipway_sources::{Mirrors, Remote, SourceSpec};
use tokio::sync::watch;

use crate::deploy::{Deployed, DeploymentState};
use crate::{RunError, Worker};

/// Wall-clock limit of one Odoo run in a worker.
pub(crate) const ODOO_TIME_LIMIT: Duration = Duration::from_secs(60 * 60);
/// A freshly started server must answer `/web/login` within this.
const SERVER_READY_LIMIT: Duration = Duration::from_secs(120);

/// What a claimed build's work ended with, before it is concluded.
enum Ran {
    Development(Result<BuildReport, RunError>),
    Deployment(Result<Deployed, RunError>),
}

/// Why a claimed build stopped before its end.
enum Interrupted {
    Shutdown,
    LeaseLost,
}

impl Worker {
    /// Runs a claimed build to its outcome in the control database. Never
    /// panics the worker: every failure ends as a failed build with its reason.
    pub(crate) async fn execute(
        self: Arc<Self>,
        build: Build,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let attempt = build.attempt();
        let (lease_lost_tx, mut lease_lost) = watch::channel(false);
        // Renewed until the outcome is recorded, and stopped with this task even
        // if it panics: a lease must never outlive its build.
        let heartbeat = AbortOnDrop(tokio::spawn(
            self.clone().heartbeat(build.id, lease_lost_tx),
        ));
        // Earlier attempts of this build (their worker died) may have left their
        // database and files on this host.
        for earlier in attempt.earlier() {
            if let Err(error) = self.drop_build(&earlier.to_string()).await {
                tracing::warn!(build = build.id, %error, "removing an earlier attempt failed");
            }
        }
        let prepared = match self.engine.prepare_with_id(&attempt.to_string()) {
            Ok(prepared) => prepared,
            Err(error) => {
                self.finish_failed(&build, format!("cannot start the build: {error}"))
                    .await;
                return;
            }
        };
        let deployment = DeploymentState::default();
        let work = async {
            if build.stage == Stage::Development {
                Ran::Development(self.run_build(&build, &prepared).await)
            } else {
                Ran::Deployment(self.run_deployment(&build, &prepared, &deployment).await)
            }
        };
        let interrupted = tokio::select! {
            ran = work => {
                // Not raced with the shutdown: a started server is recorded, a
                // rollback finishes.
                match ran {
                    Ran::Development(result) => self.conclude(&build, &prepared, result).await,
                    Ran::Deployment(result) => {
                        self.conclude_deployment(&build, &prepared, result, &deployment).await
                    }
                }
                drop(heartbeat);
                return;
            }
            _ = shutdown.changed() => Interrupted::Shutdown,
            _ = lease_lost.changed() => Interrupted::LeaseLost,
        };
        drop(heartbeat);
        // The build's future is gone, and its sandbox with it; remove what it made.
        if let Err(error) = self.engine.discard(&prepared).await {
            tracing::warn!(build = build.id, %error, "cleaning up an interrupted build failed; the reaper retries");
        }
        self.drop_confinement(&prepared.id).await;
        // A production update interrupted after production's server stopped:
        // on shutdown the worker's restart serves it again (it is still
        // recorded as serving); a lost lease must not leave it down.
        if matches!(interrupted, Interrupted::LeaseLost) {
            self.roll_back(deployment.take_stopped_production()).await;
        }
        match interrupted {
            Interrupted::Shutdown => tracing::info!(
                build = build.id,
                "build interrupted by shutdown; it goes back to the queue"
            ),
            Interrupted::LeaseLost => tracing::warn!(
                build = build.id,
                "lease lost (another worker took the build back); stopped"
            ),
        }
    }

    async fn heartbeat(self: Arc<Self>, build_id: i64, lease_lost: watch::Sender<bool>) {
        loop {
            // A third of the lease: two heartbeats may be lost.
            tokio::time::sleep(self.config.lease / 3).await;
            let renewed = match self.control.session().await {
                Ok(session) => {
                    slipway_control::heartbeat(
                        &session,
                        build_id,
                        &self.config.name,
                        self.config.lease,
                    )
                    .await
                }
                Err(error) => Err(error),
            };
            match renewed {
                Ok(true) => {}
                Ok(false) => {
                    let _ = lease_lost.send(true);
                    return;
                }
                // A passing database hiccup: the lease has room for two misses.
                Err(error) => tracing::warn!(build = build_id, %error, "heartbeat failed"),
            }
        }
    }

    /// Mirror, image, engine: the report, or why the build could not run.
    async fn run_build(
        &self,
        build: &Build,
        prepared: &PreparedBuild,
    ) -> Result<BuildReport, RunError> {
        let (project, mirror, odoo) = self.code_inputs(build).await?;
        let net = self
            .build_net(build, &prepared.id, &project.settings.limits)
            .await?;
        let session = self.control.session().await?;
        let mail = self.mail_route(&session, build, &net.mail_host).await?;
        drop(session);
        let request = DevelopmentRequest {
            repo: mirror,
            commit: build.commit.clone(),
            subdir: PathBuf::new(),
            submodules: slipway_checkout::SubmoduleSources::RemoteOnly,
            odoo,
            modules: project.settings.modules.clone(),
            test_tags: project.settings.test_tags.clone(),
            use_template: true,
            keep: true,
            ignore_rules: project.settings.ignore_rules.clone(),
            time_limit: ODOO_TIME_LIMIT,
            service: slipway_engine::ServiceOptions {
                mail: Some(mail),
                cron_threads: 0,
                network: net.network,
                requirements_network: net.requirements,
                cgroups: net.cgroups,
                memory_limit: net.memory_limit,
            },
        };
        Ok(self
            .engine
            .run_development(prepared, &request, &Silent)
            .await?)
    }

    /// The build's project, its fetched mirror and its Odoo.
    pub(crate) async fn code_inputs(
        &self,
        build: &Build,
    ) -> Result<(Project, PathBuf, OdooInstall), RunError> {
        let session = self.control.session().await?;
        let project = slipway_control::get_project_by_id(&session, build.project_id).await?;
        drop(session);
        let mirror = self.update_mirror(&project, &build.commit).await?;
        let request = OdooRequest {
            series: project.odoo.parse()?,
            sources: recorded_sources(&project, build)?,
            image_options: BuildOptions::default(),
        };
        let odoo = self.engine.prepare_odoo(&request, &Silent).await?;
        Ok((project, mirror, odoo))
    }

    /// The project's bare mirror, holding `commit` (fetched only when it
    /// lacks it). Shared by every project on the same repository; its
    /// credentials reach git through its environment, never its config.
    async fn update_mirror(&self, project: &Project, commit: &str) -> Result<PathBuf, RunError> {
        let mirrors = Mirrors::new(self.engine.layout().repos());
        let fetch_failed = |error: &dyn std::fmt::Display| {
            RunError::Fetch(
                slipway_redact::redact(&format!("fetching {}: {error}", project.repo_url))
                    .into_owned(),
            )
        };
        let remote = Remote::parse(&project.repo_url).map_err(|error| fetch_failed(&error))?;
        let (resolving, commit) = (mirrors.clone(), commit.to_string());
        let remote_for_fetch = remote.clone();
        tokio::task::spawn_blocking(move || resolving.resolve(&remote_for_fetch, &commit))
            .await?
            .map_err(|error| fetch_failed(&error))?;
        Ok(mirrors.path_of(&remote))
    }

    /// Records the outcome: a good build starts serving, a bad one is cleaned up.
    async fn conclude(
        &self,
        build: &Build,
        prepared: &PreparedBuild,
        result: Result<BuildReport, RunError>,
    ) {
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                let limited = self.limit_reason(&prepared.id);
                let _ = self.engine.discard(prepared).await;
                self.drop_confinement(&prepared.id).await;
                let reason = crate::deploy::join_reasons(limited, Some(error.to_string()));
                self.finish_failed(build, reason.unwrap_or_default()).await;
                return;
            }
        };
        if report.status == Status::Failed || report.kept.is_none() {
            // Read before the group goes with the build.
            let limited = self.limit_reason(&prepared.id);
            if let Err(error) = self.drop_build(&prepared.id).await {
                tracing::warn!(build = build.id, %error, "dropping the failed build's database failed");
            }
            let reason = crate::deploy::join_reasons(
                limited,
                report.errors.first().map(|problem| problem.message.clone()),
            );
            self.record(build, failed_outcome(Some(&report), reason))
                .await;
            return;
        }
        match self.start_server(build, &prepared.id).await {
            Ok(server) => {
                let outcome = serving_outcome(&report, server.address, prepared.database());
                if !self.record(build, outcome).await {
                    server.stop().await;
                    let _ = self.drop_build(&prepared.id).await;
                    return;
                }
                self.servers.lock().await.insert(build.id, server);
                if let Err(error) = self.keep_only_newest_serving(build).await {
                    tracing::warn!(build = build.id, %error, "stopping older builds of the branch failed");
                }
            }
            Err(error) => {
                let _ = self.drop_build(&prepared.id).await;
                let reason =
                    format!("the build passed but its Odoo did not start serving: {error}");
                self.record(build, failed_outcome(Some(&report), Some(reason)))
                    .await;
            }
        }
    }

    /// Starts Odoo on a kept build and waits until it answers.
    pub(crate) async fn start_server(
        &self,
        build: &Build,
        engine_id: &str,
    ) -> Result<slipway_engine::OdooServer, slipway_engine::BuildError> {
        if let Some(mail_port) = self.mail_port() {
            // The catcher listens on a new port after each restart.
            self.engine.route_mail(engine_id, mail_port)?;
        }
        let (at, cgroups) = self.serve_at(build, engine_id).await?;
        let server = self.engine.serve(engine_id, at, cgroups).await?;
        match server.wait_until_ready(SERVER_READY_LIMIT).await {
            Ok(()) => Ok(server),
            Err(error) => {
                server.stop().await;
                Err(error)
            }
        }
    }

    async fn finish_failed(&self, build: &Build, reason: String) {
        tracing::warn!(build = build.id, %reason, "build failed");
        self.record(build, failed_outcome(None, Some(reason))).await;
    }

    /// Records the outcome; false when that failed (e.g. the lease was lost).
    /// A control database that does not answer is waited for, up to a lease:
    /// the heartbeat keeps the lease meanwhile, and after a lease without an
    /// answer the build is another worker's to retry anyway.
    pub(crate) async fn record(&self, build: &Build, outcome: Outcome) -> bool {
        let give_up = tokio::time::Instant::now() + self.config.lease;
        let mut deferred = false;
        loop {
            let result = match self.control.session().await {
                Ok(session) => {
                    slipway_control::finish(&session, build.id, &self.config.name, &outcome).await
                }
                Err(error) => Err(error),
            };
            let error = match result {
                Ok(_) => return true,
                // An earlier try may have committed before its answer was lost.
                Err(ControlError::LeaseLost { .. }) if deferred && self.recorded(build).await => {
                    return true
                }
                Err(error) => error,
            };
            if !matches!(error, ControlError::Database(_))
                || tokio::time::Instant::now() + crate::ERROR_PAUSE >= give_up
            {
                tracing::error!(build = build.id, %error, "recording the build's outcome failed");
                return false;
            }
            tracing::warn!(build = build.id, %error, "recording the build's outcome failed; retrying");
            deferred = true;
            self.tell(crate::Event::RecordDeferred { build: build.id });
            tokio::time::sleep(crate::ERROR_PAUSE).await;
        }
    }

    /// Whether `build` ended under this worker (its outcome is recorded).
    async fn recorded(&self, build: &Build) -> bool {
        let Ok(session) = self.control.session().await else {
            return false;
        };
        matches!(
            slipway_control::get_build(&session, build.id).await,
            Ok(now) if now.worker.as_deref() == Some(self.config.name.as_str())
                && now.attempts == build.attempts
                && matches!(now.state, BuildState::Done | BuildState::Serving)
        )
    }
}

/// The project's sources at the exact commits recorded when `build` was
/// queued, with the project's credentials (the record has none).
fn recorded_sources(project: &Project, build: &Build) -> Result<Vec<SourceSpec>, RunError> {
    build
        .sources
        .iter()
        .map(|recorded| {
            project
                .settings
                .odoo_sources
                .iter()
                .filter(|source| source.kind == recorded.kind)
                .filter_map(|source| {
                    SourceSpec::new(
                        source.kind,
                        &source.url,
                        Some(&recorded.commit),
                        &project.odoo,
                    )
                    .ok()
                })
                .find(|spec| spec.name == recorded.name)
                .ok_or_else(|| RunError::SourceGone(recorded.name.clone()))
        })
        .collect()
}

/// A failed build's outcome, with its report and log when it got that far.
pub(crate) fn failed_outcome(report: Option<&BuildReport>, reason: Option<String>) -> Outcome {
    Outcome {
        status: BuildStatus::Failed,
        serving: None,
        report: report.map(BuildReport::stored),
        log_path: report.map(|report| report.log.display().to_string()),
        reason,
    }
}

/// A passing build's outcome: its Odoo answers at `address`.
pub(crate) fn serving_outcome(
    report: &BuildReport,
    address: std::net::SocketAddr,
    database: String,
) -> Outcome {
    Outcome {
        status: if report.status == Status::Warning {
            BuildStatus::Warning
        } else {
            BuildStatus::Success
        },
        serving: Some(slipway_control::Serving {
            url: format!("http://{address}"),
            port: address.port(),
            database,
        }),
        report: Some(report.stored()),
        log_path: Some(report.log.display().to_string()),
        reason: None,
    }
}

/// Aborts the task when dropped (also when the owner unwinds from a panic).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
