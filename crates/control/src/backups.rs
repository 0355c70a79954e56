//! Backups of production and what is restored from them: the rows that say
//! what a backup is (its files are the backup directory's), test instances,
//! and the builds that restore a backup.

use slipway_api::{BackupKind, BackupSettings, BackupState, Verification};
use time::OffsetDateTime;
use tokio_postgres::{Client, Row};

use crate::builds::{build_columns, build_from_row};
use crate::deployments::production_build;
use crate::error::is_unique_violation;
use crate::{json_text, parse_column, Build, ControlError, Stage};

/// What is known of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub id: i64,
    pub project_id: i64,
    pub kind: BackupKind,
    pub state: BackupState,
    pub verification: Verification,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub verified_at: Option<OffsetDateTime>,
    pub size_bytes: Option<u64>,
    pub stored_bytes: Option<u64>,
    pub source_build: Option<i64>,
    /// The worker that made it (and verifies it).
    pub worker: Option<String>,
    pub reason: Option<String>,
    /// An import's uploaded zip, and the name its user gave it.
    pub upload_path: Option<String>,
    pub upload_name: Option<String>,
}

impl BackupRecord {
    /// The name of its directory in the project's backups.
    pub fn dir_name(&self) -> String {
        self.id.to_string()
    }

    pub fn to_api(&self) -> slipway_api::Backup {
        slipway_api::Backup {
            id: self.id,
            kind: self.kind,
            created_at: self.created_at,
            size_bytes: self.size_bytes,
            verified: self.verification,
            state: self.state,
            stored_bytes: self.stored_bytes,
            reason: self.reason.clone(),
            build: self.source_build,
        }
    }

    /// Why it cannot be restored, if it cannot.
    pub fn unrestorable(&self) -> Option<String> {
        match (self.state, self.verification) {
            (BackupState::Done, Verification::Ok | Verification::Pending) => None,
            (BackupState::Done, Verification::Failed) => Some(format!(
                "its verification failed ({}); choose another backup",
                self.reason.as_deref().unwrap_or("no reason recorded")
            )),
            (state, _) => Some(format!("it is {state}, not complete")),
        }
    }
}

/// Every statement names the table `k` (`backups AS k`, `backups k`).
const BACKUP_COLUMNS: &str = "k.id, k.project_id, k.kind, k.state, k.verification, k.created_at, \
     k.finished_at, k.verified_at, k.size_bytes, k.stored_bytes, k.source_build, k.worker, k.reason, \
     k.upload_path, k.upload_name";

fn backup_from_row(row: &Row) -> Result<BackupRecord, ControlError> {
    let bytes = |column: &str| -> Result<Option<u64>, ControlError> {
        Ok(row
            .try_get::<_, Option<i64>>(column)?
            .and_then(|value| u64::try_from(value).ok()))
    };
    Ok(BackupRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        kind: parse_column(row, "kind")?,
        state: parse_column(row, "state")?,
        verification: parse_column(row, "verification")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        verified_at: row.try_get("verified_at")?,
        size_bytes: bytes("size_bytes")?,
        stored_bytes: bytes("stored_bytes")?,
        source_build: row.try_get("source_build")?,
        worker: row.try_get("worker")?,
        reason: row.try_get("reason")?,
        upload_path: row.try_get("upload_path")?,
        upload_name: row.try_get("upload_name")?,
    })
}

async fn one_backup(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<BackupRecord, ControlError> {
    backup_from_row(&client.query_one(sql, params).await?)
}

/// Asks for a backup (manual, or an import of an uploaded zip); the worker
/// serving the project's production takes it.
pub async fn request_backup(
    client: &Client,
    project_id: i64,
    kind: BackupKind,
    upload: Option<(&str, &str)>,
) -> Result<BackupRecord, ControlError> {
    let (path, name) = upload.unzip();
    one_backup(
        client,
        &format!(
            "INSERT INTO backups AS k (project_id, kind, upload_path, upload_name) VALUES ($1, $2, $3, $4) RETURNING {BACKUP_COLUMNS}"
        ),
        &[&project_id, &kind.as_str(), &path, &name],
    )
    .await
}

/// A backup a worker takes on its own (scheduled, before an update): running
/// at once, on `worker`.
pub async fn start_backup(
    client: &Client,
    project_id: i64,
    kind: BackupKind,
    worker: &str,
    source_build: Option<i64>,
) -> Result<BackupRecord, ControlError> {
    one_backup(
        client,
        &format!(
            "INSERT INTO backups AS k (project_id, kind, state, worker, source_build) VALUES ($1, $2, 'running', $3, $4) RETURNING {BACKUP_COLUMNS}"
        ),
        &[&project_id, &kind.as_str(), &worker, &source_build],
    )
    .await
}

/// The oldest requested backup `worker` may make: of a project whose
/// production it serves, or an import of a project without production.
pub async fn claim_requested_backup(
    client: &Client,
    worker: &str,
) -> Result<Option<BackupRecord>, ControlError> {
    let row = client
        .query_opt(
            &format!(
                "WITH next AS (
                   SELECT q.id FROM backups q
                   WHERE q.state = 'requested'
                     AND (EXISTS (SELECT 1 FROM builds p WHERE p.project_id = q.project_id
                                  AND p.stage = 'production' AND p.state = 'serving'
                                  AND NOT p.duplicate AND p.worker = $1)
                          OR (q.kind = 'import' AND NOT EXISTS (
                                  SELECT 1 FROM builds p WHERE p.project_id = q.project_id
                                  AND p.stage = 'production' AND p.state = 'serving' AND NOT p.duplicate)))
                   ORDER BY q.id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 UPDATE backups k SET state = 'running', worker = $1
                 FROM next WHERE k.id = next.id RETURNING {BACKUP_COLUMNS}"
            ),
            &[&worker],
        )
        .await?;
    row.as_ref().map(backup_from_row).transpose()
}

/// A backup complete on disk; its verification is pending.
pub async fn finish_backup(
    client: &Client,
    id: i64,
    size_bytes: u64,
    stored_bytes: u64,
    source_build: Option<i64>,
) -> Result<(), ControlError> {
    let (size, stored) = (size_bytes as i64, stored_bytes as i64);
    client
        .execute(
            "UPDATE backups SET state = 'done', finished_at = now(), size_bytes = $2, stored_bytes = $3,
                    source_build = coalesce($4, source_build), reason = NULL
             WHERE id = $1",
            &[&id, &size, &stored, &source_build],
        )
        .await?;
    Ok(())
}

/// A backup that was not made (nothing of it is on disk).
pub async fn fail_backup(client: &Client, id: i64, reason: &str) -> Result<(), ControlError> {
    let reason = slipway_redact::redact(reason);
    client
        .execute(
            "UPDATE backups SET state = 'failed', finished_at = now(), verification = 'failed', reason = $2 WHERE id = $1",
            &[&id, &reason.as_ref()],
        )
        .await?;
    Ok(())
}

/// Complete backups `worker` made whose verification is pending, oldest first.
pub async fn backups_to_verify(
    client: &Client,
    worker: &str,
) -> Result<Vec<BackupRecord>, ControlError> {
    client
        .query(
            &format!(
                "SELECT {BACKUP_COLUMNS} FROM backups k WHERE k.state = 'done' AND k.verification = 'pending' AND k.worker = $1 ORDER BY k.id"
            ),
            &[&worker],
        )
        .await?
        .iter()
        .map(backup_from_row)
        .collect()
}

/// What the restore test found.
pub async fn record_verification(
    client: &Client,
    id: i64,
    verification: Verification,
    reason: Option<&str>,
) -> Result<(), ControlError> {
    client
        .execute(
            "UPDATE backups SET verification = $2, verified_at = now(), reason = $3 WHERE id = $1",
            &[&id, &verification.as_str(), &reason],
        )
        .await?;
    Ok(())
}

/// Verifies a complete backup again.
pub async fn request_verification(
    client: &Client,
    project: &str,
    id: i64,
) -> Result<BackupRecord, ControlError> {
    let backup = get_backup(client, project, id).await?;
    if backup.state != BackupState::Done {
        return Err(ControlError::BackupNotRestorable {
            id,
            why: format!("it is {}, there is nothing to verify", backup.state),
        });
    }
    one_backup(
        client,
        &format!(
            "UPDATE backups k SET verification = 'pending', verified_at = NULL, reason = NULL WHERE k.id = $1 RETURNING {BACKUP_COLUMNS}"
        ),
        &[&id],
    )
    .await
}

/// The project's backups that exist (not deleted), newest first.
pub async fn list_backups(
    client: &Client,
    project_id: i64,
) -> Result<Vec<BackupRecord>, ControlError> {
    client
        .query(
            &format!(
                "SELECT {BACKUP_COLUMNS} FROM backups k WHERE k.project_id = $1 AND k.state <> 'deleted' ORDER BY k.created_at DESC, k.id DESC"
            ),
            &[&project_id],
        )
        .await?
        .iter()
        .map(backup_from_row)
        .collect()
}

/// Backup `id` of `project`.
pub async fn get_backup(
    client: &Client,
    project: &str,
    id: i64,
) -> Result<BackupRecord, ControlError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {BACKUP_COLUMNS} FROM backups k JOIN projects p ON p.id = k.project_id WHERE p.name = $1 AND k.id = $2 AND k.state <> 'deleted'"
            ),
            &[&project, &id],
        )
        .await?;
    match row {
        Some(row) => backup_from_row(&row),
        None => Err(ControlError::UnknownBackup {
            project: project.to_string(),
            id,
        }),
    }
}

/// Backups `worker` was making when it stopped: failed now (their partial
/// directories are its to remove). Project name and id of each.
pub async fn fail_interrupted_backups(
    client: &Client,
    worker: &str,
) -> Result<Vec<(String, i64)>, ControlError> {
    Ok(client
        .query(
            "UPDATE backups k SET state = 'failed', verification = 'failed', finished_at = now(),
                    reason = 'interrupted: slipway stopped while it was being made'
             FROM projects p WHERE p.id = k.project_id AND k.worker = $1 AND k.state = 'running'
             RETURNING p.name, k.id",
            &[&worker],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Backups that exist and whose verification failed, of every project:
/// project name and id, newest first.
pub async fn failed_verifications(client: &Client) -> Result<Vec<(String, i64)>, ControlError> {
    Ok(client
        .query(
            "SELECT p.name, k.id FROM backups k JOIN projects p ON p.id = k.project_id
             WHERE k.verification = 'failed' AND k.state = 'done' ORDER BY k.id DESC",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Its files are gone (retention, or by hand).
pub async fn mark_backup_deleted(client: &Client, id: i64) -> Result<(), ControlError> {
    client
        .execute("UPDATE backups SET state = 'deleted' WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// When the project's newest scheduled backup was taken (made or failed).
pub async fn last_scheduled_backup(
    client: &Client,
    project_id: i64,
) -> Result<Option<OffsetDateTime>, ControlError> {
    Ok(client
        .query_one(
            "SELECT max(created_at) FROM backups WHERE project_id = $1 AND kind IN ('daily', 'weekly', 'monthly')",
            &[&project_id],
        )
        .await?
        .get(0))
}

/// The project's backup schedule and retention.
pub async fn backup_settings(
    client: &Client,
    project_id: i64,
) -> Result<BackupSettings, ControlError> {
    let row = client
        .query_opt(
            "SELECT backups::text FROM projects WHERE id = $1",
            &[&project_id],
        )
        .await?
        .ok_or(ControlError::UnknownProjectId(project_id))?;
    let text: &str = row.get(0);
    Ok(parse_backup_settings(text))
}

/// Stored settings over the defaults (a field not stored keeps its default).
fn parse_backup_settings(text: &str) -> BackupSettings {
    let mut value = serde_json::to_value(BackupSettings::default()).expect("settings serialize");
    if let (Some(all), Ok(serde_json::Value::Object(stored))) = (
        value.as_object_mut(),
        serde_json::from_str::<serde_json::Value>(text),
    ) {
        all.extend(stored);
    }
    serde_json::from_value(value).unwrap_or_default()
}

pub async fn set_backup_settings(
    client: &Client,
    project: &str,
    settings: &BackupSettings,
) -> Result<(), ControlError> {
    let changed = client
        .execute(
            "UPDATE projects SET backups = $2::text::jsonb WHERE name = $1",
            &[&project, &json_text(settings)],
        )
        .await?;
    if changed == 0 {
        return Err(ControlError::UnknownProject(project.to_string()));
    }
    Ok(())
}

/// A project's test instance, with its newest build.
#[derive(Debug, Clone, PartialEq)]
pub struct TestInstanceRecord {
    pub id: i64,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub build: Option<Build>,
}

/// Test instance names: they appear in messages and the board.
fn valid_test_instance_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

async fn project_id(client: &Client, project: &str) -> Result<i64, ControlError> {
    Ok(client
        .query_opt("SELECT id FROM projects WHERE name = $1", &[&project])
        .await?
        .ok_or_else(|| ControlError::UnknownProject(project.to_string()))?
        .get(0))
}

/// Backup `id`, or the newest verified one, if it can be restored.
pub async fn restorable_backup(
    client: &Client,
    project: &str,
    id: Option<i64>,
) -> Result<BackupRecord, ControlError> {
    let backup = match id {
        Some(id) => get_backup(client, project, id).await?,
        None => {
            let project_id = project_id(client, project).await?;
            list_backups(client, project_id)
                .await?
                .into_iter()
                .find(|backup| {
                    backup.state == BackupState::Done && backup.verification == Verification::Ok
                })
                .ok_or_else(|| ControlError::NoVerifiedBackup(project.to_string()))?
        }
    };
    if let Some(why) = backup.unrestorable() {
        return Err(ControlError::BackupNotRestorable { id: backup.id, why });
    }
    Ok(backup)
}

/// Where a restore goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreInto<'a> {
    Production,
    Branch(&'a str),
    TestInstance { name: &'a str, mode: InstanceMode },
}

/// Whether a restore into a test instance makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceMode {
    /// A new one (refused if the name is taken).
    New,
    /// One that exists (a refresh).
    Existing,
    /// Made if it does not exist (a restore or an import into it).
    Either,
}

/// Queues the build that restores `backup` into `target`: production at its
/// serving commit, a staging branch at its head, a test instance at
/// production's commit (neutralized), on the Odoo commits `sources` (the
/// caller resolves them as for any build of the branch). Refused while a
/// build of that branch is queued or running (a restore never races a
/// production update).
pub async fn enqueue_restore(
    client: &Client,
    project: &str,
    backup: &BackupRecord,
    target: RestoreInto<'_>,
    sources: &[crate::BuildSource],
) -> Result<Build, ControlError> {
    let project_id = project_id(client, project).await?;
    if let Some(why) = backup.unrestorable() {
        return Err(ControlError::BackupNotRestorable { id: backup.id, why });
    }
    let production = production_build(client, project_id).await?;
    // The branch and commit the build runs, and whether it is a test copy
    // (neutralized).
    let (branch_id, branch, commit, stage, duplicate, instance) = match target {
        RestoreInto::Production | RestoreInto::TestInstance { .. } => {
            let row = client
                .query_one(
                    "SELECT id, name, head FROM branches WHERE project_id = $1 AND stage = 'production' AND deleted_at IS NULL",
                    &[&project_id],
                )
                .await?;
            let (branch_id, branch, head): (i64, String, Option<String>) =
                (row.get(0), row.get(1), row.get(2));
            // Production keeps its code: the serving build's commit.
            let commit = match &production {
                Some(serving) => serving.commit.clone(),
                None => head.ok_or_else(|| ControlError::NothingToBuild {
                    project: project.to_string(),
                    branch: branch.clone(),
                })?,
            };
            match target {
                RestoreInto::TestInstance { name, mode } => (
                    branch_id,
                    branch,
                    commit,
                    Stage::Staging,
                    true,
                    Some((name, mode)),
                ),
                _ => (branch_id, branch, commit, Stage::Production, false, None),
            }
        }
        RestoreInto::Branch(name) => {
            let row = client
                .query_opt(
                    "SELECT id, head, stage FROM branches WHERE project_id = $1 AND name = $2 AND deleted_at IS NULL",
                    &[&project_id, &name],
                )
                .await?
                .ok_or_else(|| ControlError::UnknownBranch {
                    project: project.to_string(),
                    branch: name.to_string(),
                })?;
            let stage: Stage = row.get::<_, &str>(2).parse()?;
            if stage != Stage::Staging {
                return Err(ControlError::BackupNotRestorable {
                    id: backup.id,
                    why: format!(
                        "branch '{name}' is a {stage} branch; a backup restores into production, a staging branch or a test instance"
                    ),
                });
            }
            let head: Option<String> = row.get(1);
            let commit = head.ok_or_else(|| ControlError::NothingToBuild {
                project: project.to_string(),
                branch: name.to_string(),
            })?;
            (
                row.get(0),
                name.to_string(),
                commit,
                Stage::Staging,
                false,
                None,
            )
        }
    };
    let running: Option<i64> = client
        .query_opt(
            "SELECT id FROM builds WHERE branch_id = $1 AND state IN ('pending', 'running') ORDER BY id LIMIT 1",
            &[&branch_id],
        )
        .await?
        .map(|row| row.get(0));
    if let Some(build_id) = running {
        return Err(ControlError::BuildInProgress { branch, build_id });
    }
    // Made once nothing stands in the way: a refusal leaves no instance.
    let instance = match instance {
        Some((name, mode)) => {
            Some(test_instance_for(client, project, project_id, name, mode).await?)
        }
        None => None,
    };
    let row = client
        .query_one(
            concat!(
                "WITH queued AS (",
                " INSERT INTO builds (project_id, branch_id, commit, stage, duplicate, state, sources, restore_backup, test_instance_id)",
                " VALUES ($1, $2, $3, $4, $5, 'pending', $6::text::jsonb, $7, $8) RETURNING *",
                ") SELECT ",
                build_columns!(),
                " FROM queued b JOIN branches br ON br.id = b.branch_id"
            ),
            &[
                &project_id,
                &branch_id,
                &commit,
                &stage.as_str(),
                &duplicate,
                &json_text(&sources),
                &backup.id,
                &instance,
            ],
        )
        .await
        .map_err(|error| {
            if is_unique_violation(&error, "builds_one_pending_per_branch") {
                ControlError::BuildInProgress {
                    branch: branch.clone(),
                    build_id: 0,
                }
            } else {
                error.into()
            }
        })?;
    build_from_row(&row)
}

/// The id of test instance `name`, made as `mode` says.
async fn test_instance_for(
    client: &Client,
    project: &str,
    project_id: i64,
    name: &str,
    mode: InstanceMode,
) -> Result<i64, ControlError> {
    if !valid_test_instance_name(name) {
        return Err(ControlError::InvalidTestInstanceName(name.to_string()));
    }
    let made = match mode {
        InstanceMode::Existing => None,
        InstanceMode::New => {
            Some("INSERT INTO test_instances (project_id, name) VALUES ($1, $2) RETURNING id")
        }
        InstanceMode::Either => Some(
            "INSERT INTO test_instances (project_id, name) VALUES ($1, $2)
             ON CONFLICT ON CONSTRAINT test_instances_name_unique DO UPDATE SET name = excluded.name
             RETURNING id",
        ),
    };
    if let Some(statement) = made {
        return client
            .query_one(statement, &[&project_id, &name])
            .await
            .map(|row| row.get(0))
            .map_err(|error| {
                if is_unique_violation(&error, "test_instances_name_unique") {
                    ControlError::TestInstanceExists {
                        project: project.to_string(),
                        name: name.to_string(),
                    }
                } else {
                    error.into()
                }
            });
    }
    client
        .query_opt(
            "SELECT id FROM test_instances WHERE project_id = $1 AND name = $2",
            &[&project_id, &name],
        )
        .await?
        .map(|row| row.get(0))
        .ok_or_else(|| ControlError::UnknownTestInstance {
            project: project.to_string(),
            name: name.to_string(),
        })
}

/// The project's test instances, with their newest builds, by name.
pub async fn list_test_instances(
    client: &Client,
    project_id: i64,
) -> Result<Vec<TestInstanceRecord>, ControlError> {
    let rows = client
        .query(
            "SELECT id, name, created_at FROM test_instances WHERE project_id = $1 ORDER BY name",
            &[&project_id],
        )
        .await?;
    let mut instances = vec![];
    for row in rows {
        let id: i64 = row.get(0);
        let build = client
            .query_opt(
                concat!(
                    "SELECT ",
                    build_columns!(),
                    " FROM builds b JOIN branches br ON br.id = b.branch_id",
                    " WHERE b.test_instance_id = $1 ORDER BY b.id DESC LIMIT 1"
                ),
                &[&id],
            )
            .await?
            .as_ref()
            .map(build_from_row)
            .transpose()?;
        instances.push(TestInstanceRecord {
            id,
            name: row.get(1),
            created_at: row.get(2),
            build,
        });
    }
    Ok(instances)
}

/// Removes test instance `name`: its builds stop (their worker stops their
/// servers; their databases go with the stopped builds' retention). Refused
/// while one of its builds is queued or running.
pub async fn remove_test_instance(
    client: &Client,
    project: &str,
    name: &str,
) -> Result<(), ControlError> {
    let project_id = project_id(client, project).await?;
    let id = test_instance_for(client, project, project_id, name, InstanceMode::Existing).await?;
    let busy: Option<(i64, String)> = client
        .query_opt(
            "SELECT b.id, br.name FROM builds b JOIN branches br ON br.id = b.branch_id
             WHERE b.test_instance_id = $1 AND b.state IN ('pending', 'running') LIMIT 1",
            &[&id],
        )
        .await?
        .map(|row| (row.get(0), row.get(1)));
    if let Some((build_id, branch)) = busy {
        return Err(ControlError::BuildInProgress { branch, build_id });
    }
    client
        .execute(
            "UPDATE builds SET state = 'stopped', stopped_at = now(), reason = $2
             WHERE test_instance_id = $1 AND state = 'serving'",
            &[&id, &format!("test instance '{name}' removed")],
        )
        .await?;
    client
        .execute("DELETE FROM test_instances WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Older serving builds of the test instance `build` serves (after a refresh).
pub async fn older_test_instance_builds(
    client: &Client,
    build: &Build,
) -> Result<Vec<Build>, ControlError> {
    let Some(instance) = build.test_instance_id else {
        return Ok(vec![]);
    };
    client
        .query(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id",
                " WHERE b.test_instance_id = $1 AND b.state = 'serving' AND b.id < $2 ORDER BY b.id"
            ),
            &[&instance, &build.id],
        )
        .await?
        .iter()
        .map(build_from_row)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_backup_settings_fill_in_the_defaults() {
        let settings = parse_backup_settings(r#"{"daily": 3, "daily_at_minute": 90}"#);
        assert_eq!(settings.daily, 3);
        assert_eq!(settings.daily_at(), "01:30");
        assert_eq!(settings.weekly, 4);
        assert_eq!(parse_backup_settings("{}"), BackupSettings::default());
    }

    #[test]
    fn test_instance_names_are_plain() {
        assert!(valid_test_instance_name("demo-2"));
        for bad in ["", "Demo", "-x", "a b", "a/b", &"x".repeat(41)] {
            assert!(!valid_test_instance_name(bad), "{bad}");
        }
    }
}
