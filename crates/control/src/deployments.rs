//! What production and staging builds need from the control plane: the
//! serving production build, the databases that must never be neutralized,
//! test duplicates, and the credentials of the mail catcher.

use tokio_postgres::Client;

use crate::builds::{build_columns, build_from_row};
use crate::error::is_unique_violation;
use crate::{Build, ControlError};

/// The build serving the project's production database, if any (newest first:
/// during the instant a new production build is recorded and the old one is
/// not yet stopped, the new one wins).
pub async fn production_build(
    client: &Client,
    project_id: i64,
) -> Result<Option<Build>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id",
                " WHERE b.project_id = $1 AND b.stage = 'production' AND b.state = 'serving'",
                " AND NOT b.duplicate ORDER BY b.id DESC LIMIT 1"
            ),
            &[&project_id],
        )
        .await?;
    row.as_ref().map(build_from_row).transpose()
}

/// Databases of production builds still present (serving, or stopped and
/// kept as the snapshot before the next update), of every project: slipway
/// refuses to neutralize them.
pub async fn production_databases(client: &Client) -> Result<Vec<String>, ControlError> {
    Ok(client
        .query(
            "SELECT database FROM builds WHERE stage = 'production' AND NOT duplicate \
             AND database IS NOT NULL AND collected_at IS NULL \
             AND state IN ('serving', 'stopped')",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The project's earlier production databases still on disk (stopped
/// production builds not collected), newest first: the snapshots taken by
/// updates.
pub async fn production_snapshots(
    client: &Client,
    project_id: i64,
) -> Result<Vec<Build>, ControlError> {
    client
        .query(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id",
                " WHERE b.project_id = $1 AND b.stage = 'production' AND NOT b.duplicate",
                " AND b.state = 'stopped' AND b.collected_at IS NULL AND b.database IS NOT NULL",
                " ORDER BY b.id DESC"
            ),
            &[&project_id],
        )
        .await?
        .iter()
        .map(build_from_row)
        .collect()
}

/// The branch's newest serving staging build (not a duplicate), the origin of
/// the next one when the project updates the previous staging database.
pub async fn previous_staging_build(
    client: &Client,
    branch_id: i64,
) -> Result<Option<Build>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id",
                " WHERE b.branch_id = $1 AND b.stage = 'staging' AND b.state = 'serving'",
                " AND NOT b.duplicate ORDER BY b.id DESC LIMIT 1"
            ),
            &[&branch_id],
        )
        .await?;
    row.as_ref().map(build_from_row).transpose()
}

/// Queues a test duplicate of the project's production: a neutralized copy at
/// the serving production build's commit, its own build on the production
/// branch. Refused without a serving production build, and while a build of
/// the production branch is queued.
pub async fn enqueue_duplicate(client: &Client, project: &str) -> Result<Build, ControlError> {
    let project_row = client
        .query_opt("SELECT id FROM projects WHERE name = $1", &[&project])
        .await?
        .ok_or_else(|| ControlError::UnknownProject(project.to_string()))?;
    let project_id: i64 = project_row.get(0);
    let production = production_build(client, project_id)
        .await?
        .ok_or_else(|| ControlError::NoProduction(project.to_string()))?;
    let row = client
        .query_one(
            concat!(
                "WITH queued AS (",
                " INSERT INTO builds (project_id, branch_id, commit, stage, duplicate, state, sources)",
                // A duplicate runs production's code on production's Odoo.
                " VALUES ($1, $2, $3, 'staging', true, 'pending', $4::text::jsonb) RETURNING *",
                ") SELECT ",
                build_columns!(),
                " FROM queued b JOIN branches br ON br.id = b.branch_id"
            ),
            &[
                &project_id,
                &production.branch_id,
                &production.commit,
                &crate::json_text(&production.sources),
            ],
        )
        .await
        .map_err(|error| {
            if is_unique_violation(&error, "builds_one_pending_per_branch") {
                ControlError::BuildInProgress {
                    branch: production.branch.clone(),
                    build_id: production.id,
                }
            } else {
                error.into()
            }
        })?;
    build_from_row(&row)
}

/// Records the SHA-256 (hex) of the build's mail catcher secret.
pub async fn set_mail_secret(
    client: &Client,
    build_id: i64,
    secret_sha256: &str,
) -> Result<(), ControlError> {
    let updated = client
        .execute(
            "UPDATE builds SET mail_secret_sha256 = $2 WHERE id = $1",
            &[&build_id, &secret_sha256],
        )
        .await?;
    if updated == 1 {
        Ok(())
    } else {
        Err(ControlError::UnknownBuild(build_id))
    }
}

/// Whether `secret_sha256` is the build's mail catcher credential.
pub async fn mail_secret_matches(
    client: &Client,
    build_id: i64,
    secret_sha256: &str,
) -> Result<bool, ControlError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM builds WHERE id = $1 AND mail_secret_sha256 = $2",
            &[&build_id, &secret_sha256],
        )
        .await?
        .is_some())
}
