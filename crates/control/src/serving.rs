//! The instances builds leave behind: serving ones, serving again after a
//! worker's restart, and the cleanup of stopped ones.

use std::time::Duration;

use tokio_postgres::Client;

use tokio_postgres::types::ToSql;

use crate::builds::{build_columns, build_from_row, seconds};
use crate::{Build, ControlError};

/// The builds a `SELECT build_columns!() ...` statement returns.
async fn query_builds(
    client: &Client,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Build>, ControlError> {
    client
        .query(statement, params)
        .await?
        .iter()
        .map(build_from_row)
        .collect()
}

/// The branch's serving builds, newest first (e.g. to stop all but the
/// project's `dev_builds_kept` newest).
pub async fn serving_builds_of_branch(
    client: &Client,
    branch_id: i64,
) -> Result<Vec<Build>, ControlError> {
    query_builds(
        client,
        concat!(
            "SELECT ",
            build_columns!(),
            " FROM builds b JOIN branches br ON br.id = b.branch_id",
            " WHERE b.branch_id = $1 AND b.state = 'serving' ORDER BY b.id DESC"
        ),
        &[&branch_id],
    )
    .await
}

/// What `worker` served when it last stopped, for it to serve again after a
/// restart: builds it stopped on a clean shutdown ([`crate::release`]) and,
/// after a crash, builds still recorded as serving on it. Builds of deleted
/// branches, and those whose database was collected, are left out. Oldest first.
pub async fn builds_to_resume(client: &Client, worker: &str) -> Result<Vec<Build>, ControlError> {
    query_builds(
        client,
        concat!(
            "SELECT ",
            build_columns!(),
            " FROM builds b JOIN branches br ON br.id = b.branch_id",
            " WHERE b.worker = $1 AND br.deleted_at IS NULL",
            " AND (b.state = 'serving'",
            "      OR (b.state = 'stopped' AND b.resumable AND b.collected_at IS NULL))",
            " ORDER BY b.id"
        ),
        &[&worker],
    )
    .await
}

/// Records that `worker` serves the build again, now at `url`/`port`. Refused
/// with [`ControlError::NotResumable`] unless the build is one of
/// [`builds_to_resume`]'s for that worker.
pub async fn resume_serving(
    client: &Client,
    build_id: i64,
    worker: &str,
    url: &str,
    port: u16,
) -> Result<(), ControlError> {
    let updated = client
        .execute(
            "UPDATE builds SET state = 'serving', url = $3, port = $4, stopped_at = NULL, \
                    resumable = false, reason = NULL, restart_requested_at = NULL \
              WHERE id = $1 AND worker = $2 AND collected_at IS NULL \
                AND (state = 'serving' OR (state = 'stopped' AND resumable))",
            &[&build_id, &worker, &url, &i32::from(port)],
        )
        .await?;
    if updated == 1 {
        return Ok(());
    }
    match client
        .query_opt("SELECT state FROM builds WHERE id = $1", &[&build_id])
        .await?
    {
        Some(row) => Err(ControlError::NotResumable {
            build_id,
            worker: worker.to_string(),
            state: row.try_get(0)?,
        }),
        None => Err(ControlError::UnknownBuild(build_id)),
    }
}

/// `worker`'s stopped builds stopped more than `retention` ago whose database
/// and files are still there, oldest first.
pub async fn stopped_builds_to_collect(
    client: &Client,
    worker: &str,
    retention: Duration,
) -> Result<Vec<Build>, ControlError> {
    query_builds(
        client,
        concat!(
            "SELECT ",
            build_columns!(),
            " FROM builds b JOIN branches br ON br.id = b.branch_id",
            " WHERE b.worker = $1 AND b.state = 'stopped' AND b.collected_at IS NULL",
            " AND b.stopped_at < now() - $2::float8 * interval '1 second'",
            " ORDER BY b.stopped_at, b.id"
        ),
        &[&worker, &seconds(retention)],
    )
    .await
}

/// Records that a stopped build's database and files were dropped: it is no
/// longer offered for collection, nor served again.
pub async fn mark_collected(client: &Client, build_id: i64) -> Result<(), ControlError> {
    let updated = client
        .execute(
            "UPDATE builds SET collected_at = coalesce(collected_at, now()), resumable = false, \
                    restart_requested_at = NULL \
             WHERE id = $1 AND state = 'stopped'",
            &[&build_id],
        )
        .await?;
    if updated == 1 {
        return Ok(());
    }
    match client
        .query_opt("SELECT state FROM builds WHERE id = $1", &[&build_id])
        .await?
    {
        Some(row) => Err(ControlError::NotStopped {
            build_id,
            state: row.try_get(0)?,
        }),
        None => Err(ControlError::UnknownBuild(build_id)),
    }
}

/// Asks the build's worker to serve a stopped build again (from its page, or
/// `slipway start`), when [`Build::why_not_restartable`] has nothing against it.
pub async fn request_restart(client: &Client, build_id: i64) -> Result<Build, ControlError> {
    let build = crate::get_build(client, build_id).await?;
    let refuse = |why| Err(ControlError::NotRestartable { build_id, why });
    if let Some(why) = build.why_not_restartable() {
        return refuse(why);
    }
    let updated = client
        .execute(
            "UPDATE builds b SET restart_requested_at = now(), resumable = true, \
                    reason = 'start requested; waiting for worker ' || coalesce(b.worker, '?') \
               FROM branches br \
              WHERE b.id = $1 AND br.id = b.branch_id AND br.deleted_at IS NULL \
                AND b.state = 'stopped' AND b.collected_at IS NULL",
            &[&build_id],
        )
        .await?;
    if updated == 0 {
        return refuse("its branch was deleted from the repository, or it changed meanwhile");
    }
    // Wakes the worker at once (the trigger only fires on state changes).
    client
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&crate::NOTIFY_CHANNEL, &build_id.to_string()],
        )
        .await?;
    crate::get_build(client, build_id).await
}

/// `worker`'s stopped builds someone asked to serve again, oldest request first.
pub async fn builds_to_restart(client: &Client, worker: &str) -> Result<Vec<Build>, ControlError> {
    query_builds(
        client,
        concat!(
            "SELECT ",
            build_columns!(),
            " FROM builds b JOIN branches br ON br.id = b.branch_id",
            " WHERE b.worker = $1 AND b.restart_requested_at IS NOT NULL",
            " ORDER BY b.restart_requested_at, b.id"
        ),
        &[&worker],
    )
    .await
}

/// Records that a requested start did not happen, and why; the request is
/// dropped (the page offers it again).
pub async fn restart_failed(
    client: &Client,
    build_id: i64,
    reason: &str,
) -> Result<(), ControlError> {
    client
        .execute(
            "UPDATE builds SET restart_requested_at = NULL, resumable = false, reason = $2 \
             WHERE id = $1",
            &[&build_id, &reason],
        )
        .await?;
    Ok(())
}
