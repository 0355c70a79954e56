//! What a worker does between builds: take back builds of workers that stopped
//! answering, stop serving builds beyond each branch's quota, drop the databases
//! of builds stopped long ago, and serve again after a restart.

use std::sync::Arc;

use slipway_control::{Build, BuildAttempt, ControlError};

use crate::{RunError, Worker};

/// A serving build's disk use is measured again after this.
const DISK_MEASURED_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

impl Worker {
    pub(crate) async fn housekeeping(&self) -> Result<(), ControlError> {
        let session = self.control.session().await?;
        for (build, reclaimed) in slipway_control::reclaim_expired(&session).await? {
            tracing::warn!(
                build,
                ?reclaimed,
                "build of a worker that stopped answering taken back"
            );
        }
        slipway_control::touch_worker(&session, &self.config.name).await?;
        drop(session);
        self.drop_expired_stopped().await?;
        self.drop_databases_of_removed_builds().await?;
        self.reap_dead_servers().await?;
        self.measure_disk_use().await
    }

    /// Measures the disk of this worker's serving builds: new ones at once,
    /// the others every [`DISK_MEASURED_EVERY`].
    async fn measure_disk_use(&self) -> Result<(), ControlError> {
        let session = self.control.session().await?;
        let due =
            slipway_control::builds_to_measure(&session, &self.config.name, DISK_MEASURED_EVERY)
                .await?;
        for build in due {
            let Some(database) = build.live_database() else {
                continue;
            };
            let engine_id = build.attempt().to_string();
            match self.engine.disk_use(&engine_id, database).await {
                Ok(used) => {
                    slipway_control::record_disk_use(
                        &session,
                        build.id,
                        used.database_bytes,
                        used.files_bytes,
                    )
                    .await?;
                    tracing::debug!(
                        build = build.id,
                        database_bytes = used.database_bytes,
                        files_bytes = used.files_bytes,
                        "build's disk use measured"
                    );
                }
                Err(error) => {
                    tracing::warn!(build = build.id, %error, "measuring a build's disk use failed")
                }
            }
        }
        Ok(())
    }

    /// Keeps the project's `dev_builds_kept` newest serving builds of `build`'s
    /// branch; older ones are stopped (their databases stay for the retention).
    pub(crate) async fn keep_only_newest_serving(&self, build: &Build) -> Result<(), ControlError> {
        let session = self.control.session().await?;
        let project = slipway_control::get_project_by_id(&session, build.project_id).await?;
        let kept = usize::try_from(project.settings.dev_builds_kept.max(1)).unwrap_or(1);
        let serving = slipway_control::serving_builds_of_branch(&session, build.branch_id).await?;
        for old in serving.into_iter().skip(kept) {
            if let Some(server) = self.servers.lock().await.remove(&old.id) {
                server.stop().await;
            }
            slipway_control::mark_stopped(
                &session,
                old.id,
                "replaced by newer builds of the branch",
            )
            .await?;
            tracing::info!(build = old.id, "older build stopped");
        }
        Ok(())
    }

    /// Databases of this worker's builds stopped more than the retention ago.
    async fn drop_expired_stopped(&self) -> Result<(), ControlError> {
        let session = self.control.session().await?;
        let expired = slipway_control::stopped_builds_to_collect(
            &session,
            &self.config.name,
            self.config.stopped_retention,
        )
        .await?;
        for build in expired {
            match self.drop_build(&build.attempt().to_string()).await {
                Ok(()) => {
                    slipway_control::mark_collected(&session, build.id).await?;
                    tracing::info!(build = build.id, "database of a long-stopped build dropped");
                }
                Err(error) => {
                    tracing::warn!(build = build.id, %error, "dropping a stopped build's database failed")
                }
            }
        }
        Ok(())
    }

    /// Databases of server builds whose row is gone (their project was removed).
    async fn drop_databases_of_removed_builds(&self) -> Result<(), ControlError> {
        // Server builds' engine ids start with `s` ([`BuildAttempt`]).
        let server_builds = slipway_engine::build_database("s");
        let databases = match self
            .engine
            .cluster()
            .databases_with_prefix(&server_builds)
            .await
        {
            Ok(databases) => databases,
            Err(error) => {
                tracing::warn!(%error, "cannot list build databases");
                return Ok(());
            }
        };
        let session = self.control.session().await?;
        for database in databases {
            let Some(attempt) = slipway_engine::build_of_database(&database)
                .and_then(|id| id.parse::<BuildAttempt>().ok())
            else {
                continue;
            };
            let id = attempt.build();
            if let Err(ControlError::UnknownBuild(_)) =
                slipway_control::get_build(&session, id).await
            {
                if self.servers.lock().await.contains_key(&id) {
                    continue;
                }
                match self.drop_build(&attempt.to_string()).await {
                    Ok(()) => tracing::info!(build = id, "database of a removed build dropped"),
                    Err(error) => {
                        tracing::warn!(build = id, %error, "dropping a removed build's database failed")
                    }
                }
            }
        }
        Ok(())
    }

    /// Keeps the local Odoo servers and the control database in agreement: a
    /// server that died on its own marks its build stopped (never silently
    /// gone); a build stopped elsewhere (branch deleted, project removed) has its
    /// server stopped.
    async fn reap_dead_servers(&self) -> Result<(), ControlError> {
        let mut servers = self.servers.lock().await;
        if servers.is_empty() {
            return Ok(());
        }
        let session = self.control.session().await?;
        let ids: Vec<i64> = servers.keys().copied().collect();
        for id in ids {
            let alive = servers
                .get_mut(&id)
                .is_some_and(|server| server.is_running());
            match slipway_control::get_build(&session, id).await {
                Err(ControlError::UnknownBuild(_)) => {
                    if let Some(server) = servers.remove(&id) {
                        let engine_id = server.build_id.clone();
                        server.stop().await;
                        if let Err(error) = self.drop_build(&engine_id).await {
                            tracing::warn!(build = id, %error, "dropping a removed build's database failed");
                        }
                    }
                    tracing::info!(
                        build = id,
                        "build removed with its project; server stopped, database dropped"
                    );
                }
                Ok(build) if build.state != slipway_control::BuildState::Serving => {
                    if let Some(server) = servers.remove(&id) {
                        server.stop().await;
                    }
                    tracing::info!(build = id, state = %build.state, "build no longer serving; server stopped");
                }
                Ok(_) if !alive => {
                    let engine_id = servers.remove(&id).map(|server| server.build_id.clone());
                    // Killed by its limits, or exited on its own.
                    let reason = match engine_id.and_then(|engine_id| self.limit_reason(&engine_id))
                    {
                        Some(limit) => format!("its Odoo server was killed: {limit}"),
                        None => "its Odoo server exited".to_string(),
                    };
                    slipway_control::mark_stopped(&session, id, &reason).await?;
                    tracing::warn!(build = id, %reason, "served Odoo exited; build marked stopped");
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// After a restart: the builds this worker served when it stopped (cleanly
    /// or not) serve again, their databases and files still being there; one
    /// that cannot is marked stopped, never left showing a dead URL.
    pub(crate) async fn restart_serving(self: Arc<Self>) {
        let builds = match self.control.session().await {
            Ok(session) => slipway_control::builds_to_resume(&session, &self.config.name).await,
            Err(error) => Err(error),
        };
        let builds = match builds {
            Ok(builds) => builds,
            Err(error) => {
                tracing::warn!(%error, "cannot list the builds to serve again");
                return;
            }
        };
        for build in builds {
            match self.serve_again(&build).await {
                Ok(()) => tracing::info!(build = build.id, "serving again after restart"),
                Err(error) => {
                    // A build left "serving" by a crash must not show a dead URL.
                    if build.state == slipway_control::BuildState::Serving {
                        if let Ok(session) = self.control.session().await {
                            let reason = "its worker restarted and could not serve it again";
                            let _ = slipway_control::mark_stopped(&session, build.id, reason).await;
                        }
                    }
                    tracing::warn!(build = build.id, %error, "cannot serve the build again; it stays stopped")
                }
            }
        }
    }

    /// Stopped builds someone asked (from the build's page) to serve again:
    /// each starts in a task of its own, so that the queue is not held up
    /// while Odoo loads.
    pub(crate) async fn serve_requested(self: &Arc<Self>) -> Result<(), ControlError> {
        let requested = {
            let session = self.control.session().await?;
            slipway_control::builds_to_restart(&session, &self.config.name).await?
        };
        for build in requested {
            if !self.restarting.lock().await.insert(build.id) {
                continue;
            }
            let worker = self.clone();
            tokio::spawn(async move {
                match worker.serve_again(&build).await {
                    Ok(()) => tracing::info!(build = build.id, "serving again on request"),
                    Err(error) => {
                        tracing::warn!(build = build.id, %error, "a requested start failed");
                        if let Ok(session) = worker.control.session().await {
                            let reason = format!("it could not be started again: {error}");
                            let _ =
                                slipway_control::restart_failed(&session, build.id, &reason).await;
                        }
                    }
                }
                worker.restarting.lock().await.remove(&build.id);
            });
        }
        Ok(())
    }

    /// Starts the Odoo of one of this worker's kept builds again and records
    /// where it answers.
    pub(crate) async fn serve_again(&self, build: &Build) -> Result<(), RunError> {
        let server = self
            .start_server(build, &build.attempt().to_string())
            .await?;
        let address = server.address;
        let resumed = match self.control.session().await {
            Ok(session) => {
                slipway_control::resume_serving(
                    &session,
                    build.id,
                    &self.config.name,
                    &format!("http://{address}"),
                    address.port(),
                )
                .await
            }
            Err(error) => Err(error),
        };
        match resumed {
            Ok(()) => {
                self.servers.lock().await.insert(build.id, server);
                tracing::info!(build = build.id, %address, "serving");
                Ok(())
            }
            Err(error) => {
                server.stop().await;
                Err(RunError::RecordRestart(error))
            }
        }
    }
}
