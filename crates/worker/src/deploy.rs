//! Production, staging and test duplicates: builds that carry production's
//! database forward.
//!
//! Production: the update runs on a copy taken after the old server stopped
//! (so nothing committed is lost); the old database is never written, so a
//! failed update — an error, a server that does not answer, slipway killed
//! half-way — rolls back by serving the old build again.

use std::sync::Mutex as SyncMutex;

use sha2::{Digest, Sha256};
use slipway_control::{Build, Stage, StagingSource};
use slipway_engine::{
    BuildReport, DeploymentRequest, MailRoute, Neutralize, Origin, PreparedBuild, ServiceOptions,
    Silent, Staged,
};
use slipway_odoo_log::Status;

use crate::execute::{failed_outcome, serving_outcome, ODOO_TIME_LIMIT};
use crate::{RunError, Worker};

/// Cron threads of a served production or staging Odoo: scheduled actions run
/// (on copies, neutralization has switched them off).
const CRON_THREADS: u8 = 1;
/// Earlier production databases kept after an update (the newest ones).
const PRODUCTION_SNAPSHOTS_KEPT: usize = 1;

/// What an interrupted deployment must undo: the production build whose
/// server it stopped.
#[derive(Default)]
pub(crate) struct DeploymentState {
    stopped_production: SyncMutex<Option<Build>>,
}

impl DeploymentState {
    pub(crate) fn take_stopped_production(&self) -> Option<Build> {
        self.stopped_production
            .lock()
            .expect("deployment state")
            .take()
    }
}

/// A deployment that ran (passing or not).
pub(crate) struct Deployed {
    report: BuildReport,
}

impl Worker {
    /// Stages the code, stops production's server if this is a production
    /// update, prepares the database and updates it.
    pub(crate) async fn run_deployment(
        &self,
        build: &Build,
        prepared: &PreparedBuild,
        state: &DeploymentState,
    ) -> Result<Deployed, RunError> {
        let (project, mirror, odoo) = self.code_inputs(build).await?;
        let net = self
            .build_net(build, &prepared.id, &project.settings.limits)
            .await?;
        let session = self.control.session().await?;
        let production = slipway_control::production_build(&session, project.id).await?;
        let is_production = build.stage == Stage::Production && !build.duplicate;
        let origin_build =
            if is_production {
                production.clone()
            } else if build.duplicate && build.restore_backup.is_none() {
                Some(production.clone().ok_or_else(|| {
                    slipway_control::ControlError::NoProduction(project.name.clone())
                })?)
            } else if build.duplicate {
                // A test instance: its data is the backup's.
                None
            } else {
                let previous = match project.settings.staging_source {
                    StagingSource::Previous => {
                        slipway_control::previous_staging_build(&session, build.branch_id).await?
                    }
                    StagingSource::Production => None,
                };
                previous.or_else(|| production.clone())
            };
        let origin = match (build.restore_backup, &origin_build) {
            // A restore (of production, into staging, a test instance):
            // production's own database is only the one to back up and stop.
            (Some(backup), _) => {
                let backup = slipway_backup::BackupStore::new(&self.engine.layout().backups)
                    .project(&project.name)
                    .open(&backup.to_string())?;
                // Before production is stopped for it.
                slipway_backup::refuse_other_series(&backup, &project.odoo)?;
                Origin::Restore {
                    backup: Box::new(backup),
                    pg_restore: self.config.pg_binaries.program("pg_restore"),
                }
            }
            (None, Some(source)) => Origin::CopyOf {
                build_id: source.attempt().to_string(),
            },
            (None, None) => Origin::New,
        };
        let (neutralize, service) = if is_production {
            (
                None,
                ServiceOptions {
                    mail: None,
                    cron_threads: CRON_THREADS,
                    network: net.network,
                    requirements_network: net.requirements,
                    cgroups: net.cgroups,
                    memory_limit: net.memory_limit,
                },
            )
        } else {
            let production_databases = slipway_control::production_databases(&session).await?;
            let route = self.mail_route(&session, build, &net.mail_host).await?;
            (
                Some(Neutralize {
                    production_databases,
                }),
                ServiceOptions {
                    mail: Some(route),
                    cron_threads: CRON_THREADS,
                    network: net.network,
                    requirements_network: net.requirements,
                    cgroups: net.cgroups,
                    memory_limit: net.memory_limit,
                },
            )
        };
        drop(session);
        let request = DeploymentRequest {
            repo: mirror,
            commit: build.commit.clone(),
            submodules: slipway_checkout::SubmoduleSources::RemoteOnly,
            odoo,
            modules: project.settings.modules.clone(),
            origin,
            neutralize,
            update_all: project.settings.update_all,
            service,
            ignore_rules: project.settings.ignore_rules.clone(),
            time_limit: ODOO_TIME_LIMIT,
        };
        let staged = match self
            .engine
            .stage_deployment(prepared, &request, &Silent)
            .await?
        {
            Staged::Ready(staged) => staged,
            // Production never stopped: nothing to roll back.
            Staged::Failed(report) => return Ok(Deployed { report: *report }),
        };
        if is_production {
            if let Some(current) = &origin_build {
                // Its state before the update, while it still serves (the
                // dump is one snapshot): no update without it.
                // (Its failure is concluded as any: what the build made is
                // removed, production was never stopped.)
                self.back_up_before_update(&project, current).await?;
                // Maintenance from here: the proxy answers 503 while production's
                // server is down. Stopped before the copy: every commit is in it.
                *state.stopped_production.lock().expect("deployment state") = Some(current.clone());
                if let Some(server) = self.servers.lock().await.remove(&current.id) {
                    server.stop().await;
                }
                if let Some(database) = &current.database {
                    self.engine.cluster().disconnect_all(database).await?;
                }
                tracing::info!(
                    build = build.id,
                    production = current.id,
                    "production stopped for the update"
                );
            }
        }
        let report = self
            .engine
            .deploy(prepared, &request, *staged, &Silent)
            .await?;
        Ok(Deployed { report })
    }

    /// A random secret for the build's mail catcher login, its hash recorded.
    /// `host`: where the build reaches the catcher.
    pub(crate) async fn mail_route(
        &self,
        session: &tokio_postgres::Client,
        build: &Build,
        host: &str,
    ) -> Result<MailRoute, RunError> {
        // Without the catcher, a build's mail would go nowhere (its own
        // network) or to a mail server of the host (unconfined). Refused.
        let Some(port) = self.mail_port() else {
            return Err(RunError::NoMailCatcher);
        };
        let secret = slipway_postgres::random_secret(18);
        let hash = hex::encode(Sha256::digest(secret.as_bytes()));
        slipway_control::set_mail_secret(session, build.id, &hash).await?;
        Ok(MailRoute {
            host: host.to_string(),
            port,
            login: crate::mail::login(build.id),
            secret,
        })
    }

    /// Serves the new build, or rolls production back; records the outcome.
    pub(crate) async fn conclude_deployment(
        &self,
        build: &Build,
        prepared: &PreparedBuild,
        result: Result<Deployed, RunError>,
        state: &DeploymentState,
    ) {
        let stopped_production = state.take_stopped_production();
        let report = match result {
            Ok(Deployed { report }) if report.status != Status::Failed && report.kept.is_some() => {
                report
            }
            Ok(Deployed { report }) => {
                let reason = join_reasons(
                    self.limit_reason(&prepared.id),
                    report.errors.first().map(|problem| problem.message.clone()),
                );
                self.drop_confinement(&prepared.id).await;
                let rolled_back = self.roll_back(stopped_production).await;
                let outcome = failed_outcome(Some(&report), join_reasons(reason, rolled_back));
                self.record(build, outcome).await;
                return;
            }
            Err(error) => {
                let limited = self.limit_reason(&prepared.id);
                let _ = self.engine.discard(prepared).await;
                self.drop_confinement(&prepared.id).await;
                let rolled_back = self.roll_back(stopped_production).await;
                let reason = join_reasons(limited, Some(error.to_string()));
                let outcome = failed_outcome(None, join_reasons(reason, rolled_back));
                tracing::warn!(build = build.id, reason = ?outcome.reason, "deployment failed");
                self.record(build, outcome).await;
                return;
            }
        };
        let server = match self.start_server(build, &prepared.id).await {
            Ok(server) => server,
            Err(error) => {
                let _ = self.drop_build(&prepared.id).await;
                let rolled_back = self.roll_back(stopped_production).await;
                let reason = format!("the updated Odoo did not start serving: {error}");
                let outcome =
                    failed_outcome(Some(&report), join_reasons(Some(reason), rolled_back));
                self.record(build, outcome).await;
                return;
            }
        };
        let outcome = serving_outcome(&report, server.address, prepared.database());
        if !self.record(build, outcome).await {
            server.stop().await;
            let _ = self.drop_build(&prepared.id).await;
            self.roll_back(stopped_production).await;
            return;
        }
        self.servers.lock().await.insert(build.id, server);
        if let Some(previous) = stopped_production {
            // Its database stays until the stopped builds' retention: the
            // snapshot from before this update.
            let reason = format!("replaced by production build #{}", build.id);
            match self.control.session().await {
                Ok(session) => {
                    if let Err(error) =
                        slipway_control::mark_stopped(&session, previous.id, &reason).await
                    {
                        tracing::warn!(build = previous.id, %error, "recording the replaced production build failed");
                    }
                }
                Err(error) => {
                    tracing::warn!(build = previous.id, %error, "recording the replaced production build failed")
                }
            }
            tracing::info!(
                build = build.id,
                previous = previous.id,
                "production updated"
            );
            self.drop_old_snapshots(build).await;
        } else if build.stage == Stage::Staging && !build.duplicate {
            if let Err(error) = self.keep_only_newest_serving(build).await {
                tracing::warn!(build = build.id, %error, "stopping older builds of the branch failed");
            }
        } else if build.test_instance_id.is_some() {
            self.replace_test_instance_builds(build).await;
        }
    }

    /// A refreshed test instance serves from its new build: the older ones
    /// stop (their databases go with the stopped builds' retention).
    async fn replace_test_instance_builds(&self, build: &Build) {
        let stopped = async {
            let session = self.control.session().await?;
            for old in slipway_control::older_test_instance_builds(&session, build).await? {
                if let Some(server) = self.servers.lock().await.remove(&old.id) {
                    server.stop().await;
                }
                let reason = format!("test instance refreshed by build #{}", build.id);
                slipway_control::mark_stopped(&session, old.id, &reason).await?;
            }
            Ok::<_, slipway_control::ControlError>(())
        };
        if let Err(error) = stopped.await {
            tracing::warn!(build = build.id, %error, "stopping the test instance's older builds failed");
        }
    }

    /// Production databases replaced by earlier updates: the newest stays (the
    /// snapshot before this update) until the stopped-build retention, older
    /// ones go now — each is a full copy of production.
    async fn drop_old_snapshots(&self, build: &Build) {
        let snapshots = match self.control.session().await {
            Ok(session) => slipway_control::production_snapshots(&session, build.project_id).await,
            Err(error) => Err(error),
        };
        let snapshots = match snapshots {
            Ok(snapshots) => snapshots,
            Err(error) => {
                tracing::warn!(%error, "cannot list production snapshots");
                return;
            }
        };
        for old in snapshots.iter().skip(PRODUCTION_SNAPSHOTS_KEPT) {
            if let Err(error) = self.drop_build(&old.attempt().to_string()).await {
                tracing::warn!(build = old.id, %error, "dropping an old production snapshot failed");
                continue;
            }
            let recorded = match self.control.session().await {
                Ok(session) => slipway_control::mark_collected(&session, old.id).await,
                Err(error) => Err(error),
            };
            match recorded {
                Ok(()) => tracing::info!(build = old.id, "old production snapshot dropped"),
                Err(error) => {
                    tracing::warn!(build = old.id, %error, "recording a dropped snapshot failed")
                }
            }
        }
    }

    /// Serves the stopped production build again. Returns what to add to the
    /// failed build's reason.
    pub(crate) async fn roll_back(&self, stopped_production: Option<Build>) -> Option<String> {
        let previous = stopped_production?;
        if let Some(database) = &previous.database {
            // Nothing to serve: say so now rather than after a server that
            // cannot start has had its time to answer.
            if let Ok(false) = self.engine.cluster().database_exists(database).await {
                tracing::error!(build = previous.id, %database, "production's database is gone");
                return Some(format!(
                    "production cannot be served again: build #{}'s database '{database}' does not exist any more",
                    previous.id
                ));
            }
        }
        match self.serve_again(&previous).await {
            Ok(()) => {
                tracing::warn!(build = previous.id, "production rolled back");
                Some(format!(
                    "production rolled back: build #{} serves again, its database untouched",
                    previous.id
                ))
            }
            Err(error) => {
                tracing::error!(build = previous.id, %error, "production could not be served again");
                Some(format!(
                    "production's database is untouched, but build #{} could not be served again: {error}",
                    previous.id
                ))
            }
        }
    }
}

/// Two reasons in one, either possibly absent: "first; second".
pub(crate) fn join_reasons(reason: Option<String>, rolled_back: Option<String>) -> Option<String> {
    match (reason, rolled_back) {
        (Some(reason), Some(rolled_back)) => Some(format!("{reason}; {rolled_back}")),
        (reason, rolled_back) => reason.or(rolled_back),
    }
}
