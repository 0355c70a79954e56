//! Backups of the productions this worker serves: the daily one at the
//! project's hour, the ones people ask for, the one before every update of
//! production; each restore-tested in the background; retention applied.
//! Imports of uploaded zips run here too. A loop of its own: a backup of a
//! large production takes minutes, builds must not wait for it.

use std::sync::Arc;
use std::time::Duration;

use slipway_api::{BackupKind, BackupSettings, Verification};
use slipway_backup::{
    BackupOrigin, BackupSource, ImportSource, ProjectBackups, RetentionPolicy, StoredBackup,
};
use slipway_control::{BackupRecord, Build, Project};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::{RunError, Worker};

/// How often the worker looks for backups to make, verify and delete.
const BACKUP_ROUND_EVERY: Duration = Duration::from_secs(5);
/// Scratch databases of verifications and imports: `<prefix><backup id>`.
const VERIFY_PREFIX: &str = "slipway_verify_";
const IMPORT_PREFIX: &str = "slipway_import_";

impl Worker {
    /// Until shutdown: a round every [`BACKUP_ROUND_EVERY`]. What an earlier
    /// run left half-done is cleared first.
    pub(crate) async fn backup_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Err(error) = self.clear_interrupted_backups().await {
            tracing::warn!(%error, "clearing interrupted backups failed");
        }
        loop {
            if let Err(error) = self.backup_round(OffsetDateTime::now_utc()).await {
                tracing::warn!(%error, "backup round failed; retrying soon");
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(BACKUP_ROUND_EVERY) => {}
            }
        }
    }

    async fn backup_round(&self, now: OffsetDateTime) -> Result<(), RunError> {
        while let Some(record) = {
            let session = self.control.session().await?;
            slipway_control::claim_requested_backup(&session, &self.config.name).await?
        } {
            self.make_requested(record).await?;
        }
        let served = self.served_productions().await?;
        for (project, production) in &served {
            self.scheduled_backup(project, production, now).await?;
        }
        self.verify_pending().await?;
        for (project, _) in &served {
            self.apply_retention(project, now).await?;
        }
        Ok(())
    }

    /// The projects whose production this worker serves, with that build.
    async fn served_productions(&self) -> Result<Vec<(Project, Build)>, RunError> {
        let session = self.control.session().await?;
        let mut served = vec![];
        for project in slipway_control::list_projects(&session).await? {
            if let Some(production) =
                slipway_control::production_build(&session, project.id).await?
            {
                if production.worker.as_deref() == Some(self.config.name.as_str()) {
                    served.push((project, production));
                }
            }
        }
        Ok(served)
    }

    fn project_backups(&self, project: &Project) -> ProjectBackups {
        slipway_backup::BackupStore::new(&self.engine.layout().backups).project(&project.name)
    }

    /// A backup of `production` as `record` (already running on this
    /// worker): made, then recorded done or failed. `Err` only when the
    /// control database could not record it.
    async fn back_up(
        &self,
        project: &Project,
        record: &BackupRecord,
        production: &Build,
    ) -> Result<Result<(), String>, RunError> {
        let made = self.write_backup(project, record, production).await;
        let session = self.control.session().await?;
        match made {
            Ok(backup) => {
                slipway_control::finish_backup(
                    &session,
                    record.id,
                    backup.manifest.size_bytes(),
                    backup.manifest.stored_bytes(),
                    Some(production.id),
                )
                .await?;
                tracing::info!(project = %project.name, backup = record.id, kind = %record.kind, bytes = backup.manifest.size_bytes(), stored = backup.manifest.stored_bytes(), "backup made");
                Ok(Ok(()))
            }
            Err(error) => {
                let reason = error.to_string();
                tracing::error!(project = %project.name, backup = record.id, kind = %record.kind, %reason, "backup failed");
                slipway_control::fail_backup(&session, record.id, &reason).await?;
                Ok(Err(reason))
            }
        }
    }

    async fn write_backup(
        &self,
        project: &Project,
        record: &BackupRecord,
        production: &Build,
    ) -> Result<slipway_backup::Backup, RunError> {
        let database = production.live_database().ok_or_else(|| {
            RunError::Backup(format!(
                "production build #{} has no database",
                production.id
            ))
        })?;
        let engine_id = production.attempt().to_string();
        let data_dir = self.engine.layout().build(&engine_id).data();
        let filestore = std::path::Path::new("filestore").join(database);
        let pg_dump = self.config.pg_binaries.program("pg_dump");
        let source = BackupSource {
            cluster: self.engine.cluster(),
            pg_dump: &pg_dump,
            database,
            data_dir: &data_dir,
            filestore: &filestore,
            origin: BackupOrigin {
                build: Some(production.id),
                commit: Some(production.commit.clone()),
                odoo_sources: production
                    .sources
                    .iter()
                    .map(|source| format!("{} {}", source.name, source.commit))
                    .collect(),
                imported_from: None,
            },
        };
        let _writing = self.backup_lock.lock().await;
        Ok(slipway_backup::create(
            &self.project_backups(project),
            &record.dir_name(),
            record.kind,
            &source,
        )
        .await?)
    }

    /// Before production is updated (or restored): its current state. The
    /// update does not start without it.
    pub(crate) async fn back_up_before_update(
        &self,
        project: &Project,
        production: &Build,
    ) -> Result<(), RunError> {
        let record = {
            let session = self.control.session().await?;
            slipway_control::start_backup(
                &session,
                project.id,
                BackupKind::PreUpdate,
                &self.config.name,
                Some(production.id),
            )
            .await?
        };
        match self.back_up(project, &record, production).await? {
            Ok(()) => Ok(()),
            Err(reason) => Err(RunError::Backup(format!(
                "the backup before the update failed, so production was not touched: {reason}"
            ))),
        }
    }

    /// A manual backup or an import someone asked for.
    async fn make_requested(&self, record: BackupRecord) -> Result<(), RunError> {
        let session = self.control.session().await?;
        let project = slipway_control::get_project_by_id(&session, record.project_id).await?;
        let production = slipway_control::production_build(&session, project.id).await?;
        drop(session);
        if record.kind == BackupKind::Import {
            return self.import(&project, &record).await;
        }
        match production {
            Some(production) => self
                .back_up(&project, &record, &production)
                .await
                .map(|_| ()),
            None => {
                let session = self.control.session().await?;
                slipway_control::fail_backup(
                    &session,
                    record.id,
                    "the project has no production database to back up",
                )
                .await?;
                Ok(())
            }
        }
    }

    /// An uploaded zip: checked, loaded, kept as a backup; the upload removed.
    async fn import(&self, project: &Project, record: &BackupRecord) -> Result<(), RunError> {
        let upload = record.upload_path.clone().unwrap_or_default();
        let name = record
            .upload_name
            .clone()
            .unwrap_or_else(|| "the upload".into());
        let scratch = format!("{IMPORT_PREFIX}{}", record.id);
        let (psql, pg_dump) = (
            self.config.pg_binaries.program("psql"),
            self.config.pg_binaries.program("pg_dump"),
        );
        let source = ImportSource {
            cluster: self.engine.cluster(),
            psql: &psql,
            pg_dump: &pg_dump,
            zip: std::path::Path::new(&upload),
            file_name: &name,
            series: &project.odoo,
            scratch: &scratch,
            limits: Default::default(),
        };
        let imported = {
            let _writing = self.backup_lock.lock().await;
            slipway_backup::import(&self.project_backups(project), &record.dir_name(), &source)
                .await
        };
        if let Err(error) = std::fs::remove_file(&upload) {
            tracing::warn!(%error, path = %upload, "removing an imported upload failed");
        }
        let session = self.control.session().await?;
        match imported {
            Ok(backup) => {
                slipway_control::finish_backup(
                    &session,
                    record.id,
                    backup.manifest.size_bytes(),
                    backup.manifest.stored_bytes(),
                    None,
                )
                .await?;
                tracing::info!(project = %project.name, backup = record.id, zip = %name, "database imported");
            }
            Err(error) => {
                tracing::warn!(project = %project.name, backup = record.id, zip = %name, %error, "import refused");
                slipway_control::fail_backup(&session, record.id, &error.to_string()).await?;
            }
        }
        Ok(())
    }

    /// The daily backup, once the project's hour has come today and no
    /// scheduled backup was taken since.
    async fn scheduled_backup(
        &self,
        project: &Project,
        production: &Build,
        now: OffsetDateTime,
    ) -> Result<(), RunError> {
        let session = self.control.session().await?;
        let settings = slipway_control::backup_settings(&session, project.id).await?;
        let last = slipway_control::last_scheduled_backup(&session, project.id).await?;
        if !scheduled_backup_due(&settings, last, now) {
            return Ok(());
        }
        let existing = stored(&slipway_control::list_backups(&session, project.id).await?);
        let kind = slipway_backup::retention::scheduled_kind(&existing, now);
        let record = slipway_control::start_backup(
            &session,
            project.id,
            kind,
            &self.config.name,
            Some(production.id),
        )
        .await?;
        drop(session);
        self.back_up(project, &record, production).await.map(|_| ())
    }

    /// Restore-tests this worker's backups whose verification is pending.
    async fn verify_pending(&self) -> Result<(), RunError> {
        let pending = {
            let session = self.control.session().await?;
            slipway_control::backups_to_verify(&session, &self.config.name).await?
        };
        for record in pending {
            let project = {
                let session = self.control.session().await?;
                slipway_control::get_project_by_id(&session, record.project_id).await?
            };
            let found = match self.project_backups(&project).open(&record.dir_name()) {
                Ok(backup) => {
                    let pg_restore = self.config.pg_binaries.program("pg_restore");
                    let scratch = format!("{VERIFY_PREFIX}{}", record.id);
                    slipway_backup::verify(&backup, self.engine.cluster(), &pg_restore, &scratch)
                        .await
                        .map(|verified| verified.problems)
                }
                Err(error) => Ok(vec![error.to_string()]),
            };
            let problems = match found {
                Ok(problems) => problems,
                Err(error) => {
                    // Not a verdict on the backup (e.g. the cluster is down).
                    tracing::warn!(backup = record.id, %error, "verifying a backup failed; trying again later");
                    continue;
                }
            };
            let session = self.control.session().await?;
            if problems.is_empty() {
                slipway_control::record_verification(&session, record.id, Verification::Ok, None)
                    .await?;
                tracing::info!(project = %project.name, backup = record.id, "backup verified");
            } else {
                let reason = problems.join("; ");
                tracing::error!(project = %project.name, backup = record.id, %reason, "BACKUP VERIFICATION FAILED: this backup cannot be restored");
                slipway_control::record_verification(
                    &session,
                    record.id,
                    Verification::Failed,
                    Some(&reason),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Deletes what the project's retention no longer keeps, then the pool
    /// files no backup holds.
    async fn apply_retention(
        &self,
        project: &Project,
        now: OffsetDateTime,
    ) -> Result<(), RunError> {
        let session = self.control.session().await?;
        let settings = slipway_control::backup_settings(&session, project.id).await?;
        let backups = slipway_control::list_backups(&session, project.id).await?;
        let policy = retention_policy(&settings);
        let doomed = slipway_backup::retention::to_delete(&stored(&backups), &policy, now);
        if doomed.is_empty() {
            return Ok(());
        }
        let store = self.project_backups(project);
        let _writing = self.backup_lock.lock().await;
        for id in doomed {
            store.remove(&id.to_string())?;
            slipway_control::mark_backup_deleted(&session, id).await?;
            tracing::info!(project = %project.name, backup = id, "backup deleted by retention");
        }
        let (files, bytes) = store.collect_pool()?;
        tracing::debug!(project = %project.name, files, bytes, "unused filestore files removed from the backups");
        Ok(())
    }

    /// After a restart: this worker's backups left running failed, their
    /// directories and scratch databases removed.
    async fn clear_interrupted_backups(&self) -> Result<(), RunError> {
        let session = self.control.session().await?;
        let interrupted =
            slipway_control::fail_interrupted_backups(&session, &self.config.name).await?;
        for (project_name, id) in interrupted {
            let store = slipway_backup::BackupStore::new(&self.engine.layout().backups)
                .project(&project_name);
            store.remove(&id.to_string())?;
            tracing::warn!(project = %project_name, backup = id, "backup interrupted by a stop of slipway: marked failed");
        }
        let cluster = self.engine.cluster();
        for prefix in [VERIFY_PREFIX, IMPORT_PREFIX] {
            for database in cluster.databases_with_prefix(prefix).await? {
                cluster.drop_database(&database).await?;
            }
            for role in cluster.roles_with_prefix(prefix).await? {
                cluster.drop_role(&role).await?;
            }
        }
        Ok(())
    }
}

impl From<slipway_backup::BackupError> for RunError {
    fn from(error: slipway_backup::BackupError) -> RunError {
        RunError::Backup(error.to_string())
    }
}

/// What retention looks at, of the control database's rows.
fn stored(backups: &[BackupRecord]) -> Vec<StoredBackup> {
    backups
        .iter()
        .filter(|backup| {
            backup.state != slipway_api::BackupState::Running
                && backup.state != slipway_api::BackupState::Requested
        })
        .map(|backup| StoredBackup {
            id: backup.id,
            kind: backup.kind,
            created_at: backup.created_at,
            verification: backup.verification,
        })
        .collect()
}

fn retention_policy(settings: &BackupSettings) -> RetentionPolicy {
    RetentionPolicy {
        daily: settings.daily,
        weekly: settings.weekly,
        monthly: settings.monthly,
        manual_days: settings.manual_days,
        pre_update_days: settings.pre_update_days,
        import_days: settings.import_days,
        ..RetentionPolicy::default()
    }
}

/// Whether the daily backup is due at `now`: today's time has come and the
/// last scheduled backup is older than it.
pub(crate) fn scheduled_backup_due(
    settings: &BackupSettings,
    last: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> bool {
    let now = now.to_offset(time::UtcOffset::UTC);
    let minute = time::Duration::minutes(i64::from(settings.daily_at_minute));
    let today = now.replace_time(time::Time::MIDNIGHT) + minute;
    now >= today && last.is_none_or(|last| last < today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_daily_backup_is_due_once_a_day_after_its_time() {
        let settings = BackupSettings::default(); // 03:00 UTC
        assert!(!scheduled_backup_due(
            &settings,
            None,
            datetime!(2026-12-07 02:59 UTC)
        ));
        assert!(scheduled_backup_due(
            &settings,
            None,
            datetime!(2026-12-07 03:00 UTC)
        ));
        let taken = datetime!(2026-12-07 03:00:05 UTC);
        assert!(!scheduled_backup_due(
            &settings,
            Some(taken),
            datetime!(2026-12-07 23:00 UTC)
        ));
        assert!(!scheduled_backup_due(
            &settings,
            Some(taken),
            datetime!(2026-12-08 02:00 UTC)
        ));
        assert!(scheduled_backup_due(
            &settings,
            Some(taken),
            datetime!(2026-12-08 03:01 UTC)
        ));
        // Another time zone's clock: the same instant.
        assert!(scheduled_backup_due(
            &settings,
            Some(taken),
            datetime!(2026-12-08 05:01 +2)
        ));
    }
}
