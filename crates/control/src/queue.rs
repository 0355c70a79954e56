//! The build queue shared by every worker, and the workers themselves.
//!
//! A worker [`claim`]s a pending build in one short transaction (`FOR UPDATE
//! SKIP LOCKED`: concurrent workers never wait on, nor take, the same build) and
//! commits before returning: the build then runs outside of any transaction,
//! under a lease the worker renews with [`heartbeat`]. If the worker stops
//! answering, [`reclaim_expired`] (run periodically by any worker) takes the
//! build back. Every state change is announced on [`NOTIFY_CHANNEL`] (a trigger
//! in the schema), which [`listen`] turns into a channel of build ids.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::{Client, Config, Connection, NoTls};

use crate::builds::{build_columns, build_from_row, seconds};
use crate::error::is_unique_violation;
use crate::{Build, BuildStatus, ControlError};

/// The channel builds' state changes are announced on; the payload is the id.
pub const NOTIFY_CHANNEL: &str = "slipway_builds";

const LISTEN: &str = "LISTEN slipway_builds";

/// Wake-ups a slow listener may have outstanding before further ones are dropped
/// (they are hints: whoever wakes up scans the queue anyway).
const LISTEN_BUFFER: usize = 256;

/// Times [`reclaim_expired`] and [`release`] retry when a push queues a build of
/// the same branch at the very moment they put one back in the queue.
const REQUEUE_RETRIES: u32 = 5;

/// Takes the next build that may start: pending, due, and of a branch with no
/// build running; oldest `not_before` first. It becomes `running`, owned by
/// `worker` until `lease` from now (renew it with [`heartbeat`]). The
/// transaction is committed before this returns. `None`: nothing to do now.
pub async fn claim(
    client: &Client,
    worker: &str,
    lease: Duration,
) -> Result<Option<Build>, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "WITH next AS (",
                " SELECT q.id FROM builds q",
                " WHERE q.state = 'pending' AND q.not_before <= now()",
                "  AND NOT EXISTS (SELECT 1 FROM builds r",
                "                  WHERE r.branch_id = q.branch_id AND r.state = 'running')",
                // Production, staging and duplicates copy production's database
                // and filestore: they run where production is served.
                "  AND (q.stage = 'development' OR NOT EXISTS (",
                "       SELECT 1 FROM builds p WHERE p.project_id = q.project_id",
                "       AND p.stage = 'production' AND p.state = 'serving' AND NOT p.duplicate",
                "       AND p.worker <> $1))",
                // Staging copies production: without a serving production, it
                // waits for the production build to come (a new project's first).
                "  AND (q.stage <> 'staging' OR EXISTS (",
                "       SELECT 1 FROM builds p WHERE p.project_id = q.project_id",
                "       AND p.stage = 'production' AND p.state = 'serving' AND NOT p.duplicate)",
                "   OR NOT EXISTS (",
                "       SELECT 1 FROM builds p WHERE p.project_id = q.project_id",
                "       AND p.stage = 'production' AND p.state IN ('pending', 'running')))",
                " ORDER BY q.not_before, q.id",
                " LIMIT 1 FOR UPDATE SKIP LOCKED",
                ") UPDATE builds b SET state = 'running', worker = $1,",
                " lease_until = now() + $2::float8 * interval '1 second',",
                " attempts = b.attempts + 1, started_at = now()",
                " FROM next, branches br",
                " WHERE b.id = next.id AND br.id = b.branch_id",
                " RETURNING ",
                build_columns!()
            ),
            &[&worker, &seconds(lease)],
        )
        .await?;
    row.as_ref().map(build_from_row).transpose()
}

/// Renews the lease of a build `worker` is running. `false`: the lease was lost
/// (the build was taken back, finished, or removed): the worker must stop
/// working on it.
pub async fn heartbeat(
    client: &Client,
    build_id: i64,
    worker: &str,
    lease: Duration,
) -> Result<bool, ControlError> {
    let updated = client
        .execute(
            "UPDATE builds SET lease_until = now() + $3::float8 * interval '1 second' \
             WHERE id = $1 AND worker = $2 AND state = 'running'",
            &[&build_id, &worker, &seconds(lease)],
        )
        .await?;
    Ok(updated == 1)
}

/// What [`reclaim_expired`] did with a build whose worker stopped answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome")]
pub enum Reclaimed {
    /// Back in the queue; `attempt` (of `max_attempts`) is the next one.
    Retrying { attempt: i32, max_attempts: i32 },
    /// Done, failed: its workers stopped answering `attempts` times.
    Failed { attempts: i32 },
    /// Done, killed: the branch has a newer build queued (`by`).
    Superseded { by: i64 },
}

/// Takes back running builds whose lease expired: back to the queue while
/// attempts remain, else done and failed (each with a reason saying so). A build
/// whose branch meanwhile got a newer queued build is not retried. One statement;
/// builds another reclaimer holds are skipped.
pub async fn reclaim_expired(client: &Client) -> Result<Vec<(i64, Reclaimed)>, ControlError> {
    let rows = requeue(
        client,
        concat!(
            "WITH expired AS (",
            " SELECT x.id, x.worker AS old_worker, x.attempts AS old_attempts, x.max_attempts,",
            "  (SELECT p.id FROM builds p WHERE p.branch_id = x.branch_id AND p.state = 'pending') AS newer",
            " FROM builds x WHERE x.state = 'running' AND x.lease_until < now()",
            " ORDER BY x.id FOR UPDATE OF x SKIP LOCKED",
            "), decided AS (",
            " SELECT e.*, CASE WHEN e.old_attempts >= e.max_attempts THEN 'failed'",
            "                  WHEN e.newer IS NOT NULL THEN 'superseded'",
            "                  ELSE 'retrying' END AS outcome",
            " FROM expired e",
            ") UPDATE builds b SET",
            " state = CASE WHEN d.outcome = 'retrying' THEN 'pending' ELSE 'done' END,",
            " status = CASE d.outcome WHEN 'failed' THEN 'failed' WHEN 'superseded' THEN 'killed' END,",
            " worker = CASE WHEN d.outcome = 'retrying' THEN NULL ELSE b.worker END,",
            " lease_until = NULL,",
            " not_before = CASE WHEN d.outcome = 'retrying' THEN now() ELSE b.not_before END,",
            " started_at = CASE WHEN d.outcome = 'retrying' THEN NULL ELSE b.started_at END,",
            " finished_at = CASE WHEN d.outcome = 'retrying' THEN NULL ELSE now() END,",
            " reason = CASE d.outcome",
            "  WHEN 'retrying' THEN format('worker %s stopped answering; retrying (attempt %s of %s)',",
            "                              d.old_worker, d.old_attempts + 1, d.max_attempts)",
            "  WHEN 'failed' THEN format('worker %s stopped answering %s times', d.old_worker, d.max_attempts)",
            "  ELSE format('worker %s stopped answering; not retried: build #%s is of a newer commit',",
            "              d.old_worker, d.newer) END",
            " FROM decided d WHERE b.id = d.id",
            " RETURNING b.id, d.outcome, d.old_attempts, d.max_attempts, d.newer"
        ),
        &[],
    )
    .await?;
    let mut reclaimed = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let attempts: i32 = row.try_get("old_attempts")?;
        let max_attempts: i32 = row.try_get("max_attempts")?;
        let outcome = match row.try_get::<_, &str>("outcome")? {
            "retrying" => Reclaimed::Retrying {
                attempt: attempts + 1,
                max_attempts,
            },
            "failed" => Reclaimed::Failed { attempts },
            _ => Reclaimed::Superseded {
                by: row.try_get("newer")?,
            },
        };
        tracing::warn!(
            build = id,
            ?outcome,
            "took back a build whose worker stopped answering"
        );
        reclaimed.push((id, outcome));
    }
    reclaimed.sort_by_key(|(id, _)| *id);
    Ok(reclaimed)
}

/// Runs a statement that puts running builds back in the queue. Its check for a
/// newer queued build of the branch and the write are not atomic against a push
/// queueing one in between; the "one pending build per branch" index then
/// refuses the write (nothing is half done) and the statement is run again, now
/// seeing the newer build.
async fn requeue(
    client: &Client,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, ControlError> {
    let mut attempt = 0;
    loop {
        match client.query(statement, params).await {
            Ok(rows) => return Ok(rows),
            Err(error)
                if attempt < REQUEUE_RETRIES
                    && is_unique_violation(&error, "builds_one_pending_per_branch") =>
            {
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Where a finished build's instance answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serving {
    pub url: String,
    pub port: u16,
    pub database: String,
}

/// How a build ended, for [`finish`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub status: BuildStatus,
    /// `Some`: the build keeps an instance running (state `serving`); `None`:
    /// it is `done`.
    pub serving: Option<Serving>,
    pub report: Option<slipway_report::Report>,
    pub log_path: Option<String>,
    pub reason: Option<String>,
}

/// Records how a build `worker` ran ended: `serving` or `done`, with its status,
/// report and log. Refused with [`ControlError::LeaseLost`] if the build is no
/// longer that worker's running build.
pub async fn finish(
    client: &Client,
    build_id: i64,
    worker: &str,
    outcome: &Outcome,
) -> Result<Build, ControlError> {
    let serving = outcome.serving.as_ref();
    let report = outcome
        .report
        .as_ref()
        .map(|report| serde_json::to_string(report).expect("a report serializes"));
    let reason = outcome
        .reason
        .as_deref()
        .map(|reason| slipway_redact::redact(reason).into_owned());
    let row = client
        .query_opt(
            concat!(
                "WITH finished AS (",
                " UPDATE builds SET state = CASE WHEN $3 THEN 'serving' ELSE 'done' END,",
                "  status = $4, url = $5, port = $6, database = $7,",
                "  report = $8::text::jsonb, log_path = $9, reason = $10,",
                "  lease_until = NULL, finished_at = now()",
                " WHERE id = $1 AND worker = $2 AND state = 'running'",
                " RETURNING *",
                ") SELECT ",
                build_columns!(),
                " FROM finished b JOIN branches br ON br.id = b.branch_id"
            ),
            &[
                &build_id,
                &worker,
                &serving.is_some(),
                &outcome.status.as_str(),
                &serving.map(|s| s.url.as_str()),
                &serving.map(|s| i32::from(s.port)),
                &serving.map(|s| s.database.as_str()),
                &report,
                &outcome.log_path,
                &reason,
            ],
        )
        .await?;
    match row {
        Some(row) => build_from_row(&row),
        None => Err(lost_or_unknown(client, build_id, worker).await),
    }
}

async fn lost_or_unknown(client: &Client, build_id: i64, worker: &str) -> ControlError {
    match client
        .query_opt("SELECT 1 FROM builds WHERE id = $1", &[&build_id])
        .await
    {
        Ok(Some(_)) => ControlError::LeaseLost {
            build_id,
            worker: worker.to_string(),
        },
        Ok(None) => ControlError::UnknownBuild(build_id),
        Err(error) => error.into(),
    }
}

/// Records that a serving build's instance is gone (`reason` says why: replaced,
/// idle, removed branch...).
pub async fn mark_stopped(
    client: &Client,
    build_id: i64,
    reason: &str,
) -> Result<Build, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "WITH stopped AS (",
                " UPDATE builds SET state = 'stopped', stopped_at = now(), reason = $2, resumable = false",
                " WHERE id = $1 AND state = 'serving' RETURNING *",
                ") SELECT ",
                build_columns!(),
                " FROM stopped b JOIN branches br ON br.id = b.branch_id"
            ),
            &[&build_id, &reason],
        )
        .await?;
    if let Some(row) = row {
        return build_from_row(&row);
    }
    match client
        .query_opt("SELECT state FROM builds WHERE id = $1", &[&build_id])
        .await?
    {
        Some(row) => Err(ControlError::NotServing {
            build_id,
            state: row.try_get(0)?,
        }),
        None => Err(ControlError::UnknownBuild(build_id)),
    }
}

/// What [`release`] did with a worker's builds, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Released {
    /// Were running: back in the queue, the attempt not counted.
    pub requeued: Vec<i64>,
    /// Were running, but their branch has a newer build queued: done, killed.
    pub superseded: Vec<i64>,
    /// Were serving: stopped.
    pub stopped: Vec<i64>,
}

/// On a clean shutdown of `worker`: its running builds go back to the queue
/// (the interrupted attempt is not counted) and its serving builds are stopped,
/// to be served again when the worker comes back ([`crate::builds_to_resume`]).
pub async fn release(client: &Client, worker: &str) -> Result<Released, ControlError> {
    let rows = requeue(
        client,
        concat!(
            "WITH mine AS (",
            " SELECT x.id, x.state AS old_state,",
            "  (SELECT p.id FROM builds p WHERE p.branch_id = x.branch_id AND p.state = 'pending') AS newer",
            " FROM builds x WHERE x.worker = $1 AND x.state IN ('running', 'serving')",
            " ORDER BY x.id FOR UPDATE OF x",
            "), decided AS (",
            " SELECT m.*, CASE WHEN m.old_state = 'serving' THEN 'stopped'",
            "                  WHEN m.newer IS NOT NULL THEN 'superseded'",
            "                  ELSE 'requeued' END AS outcome",
            " FROM mine m",
            ") UPDATE builds b SET",
            " state = CASE d.outcome WHEN 'requeued' THEN 'pending' WHEN 'stopped' THEN 'stopped' ELSE 'done' END,",
            " status = CASE d.outcome WHEN 'requeued' THEN NULL WHEN 'stopped' THEN b.status ELSE 'killed' END,",
            " worker = CASE WHEN d.outcome = 'requeued' THEN NULL ELSE b.worker END,",
            " lease_until = NULL,",
            " attempts = CASE WHEN d.outcome = 'requeued' THEN greatest(b.attempts - 1, 0) ELSE b.attempts END,",
            " not_before = CASE WHEN d.outcome = 'requeued' THEN now() ELSE b.not_before END,",
            " started_at = CASE WHEN d.outcome = 'requeued' THEN NULL ELSE b.started_at END,",
            " finished_at = CASE WHEN d.outcome = 'superseded' THEN now() ELSE b.finished_at END,",
            " stopped_at = CASE WHEN d.outcome = 'stopped' THEN now() ELSE b.stopped_at END,",
            " resumable = d.outcome = 'stopped',",
            " reason = CASE d.outcome",
            "  WHEN 'requeued' THEN format('worker %s shut down during the build; queued again', $1::text)",
            "  WHEN 'stopped' THEN format('worker %s shut down', $1::text)",
            "  ELSE format('worker %s shut down during the build; not queued again: build #%s is of a newer commit',",
            "              $1::text, d.newer) END",
            " FROM decided d WHERE b.id = d.id",
            " RETURNING b.id, d.outcome"
        ),
        &[&worker],
    )
    .await?;
    let mut released = Released::default();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        match row.try_get::<_, &str>("outcome")? {
            "requeued" => released.requeued.push(id),
            "stopped" => released.stopped.push(id),
            _ => released.superseded.push(id),
        }
    }
    for ids in [
        &mut released.requeued,
        &mut released.superseded,
        &mut released.stopped,
    ] {
        ids.sort_unstable();
    }
    Ok(released)
}

/// How long until the earliest queued build is due (zero: one is due now);
/// `None` when nothing is queued. For an idle worker's sleep between wake-ups.
pub async fn next_due(client: &Client) -> Result<Option<Duration>, ControlError> {
    let seconds: Option<f64> = client
        .query_one(
            "SELECT extract(epoch FROM min(not_before) - now())::float8 \
             FROM builds WHERE state = 'pending'",
            &[],
        )
        .await?
        .try_get(0)?;
    Ok(seconds.map(|seconds| Duration::from_secs_f64(seconds.max(0.0))))
}

/// A dedicated session LISTENing on [`NOTIFY_CHANNEL`]: the receiver yields the
/// id of every build that was queued or changed state. Wake-ups are hints (a
/// slow receiver may miss some, never all); the receiver closes when the session
/// ends: listen again, then scan the queue, since changes in between were not
/// announced. Dropping the receiver ends the session.
pub async fn listen(config: &Config) -> Result<mpsc::Receiver<i64>, ControlError> {
    let (client, connection) = config.connect(NoTls).await?;
    listen_on(client, connection).await
}

/// [`listen`] on a session the caller opened (e.g. with TLS).
pub async fn listen_on<S, T>(
    client: Client,
    connection: Connection<S, T>,
) -> Result<mpsc::Receiver<i64>, ControlError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(LISTEN_BUFFER);
    let watch = sender.clone();
    let receiver_gone = async move { watch.closed().await };
    crate::notifications::subscribe(
        client,
        connection,
        LISTEN,
        receiver_gone,
        move |channel, payload| {
            if channel != NOTIFY_CHANNEL {
                return true;
            }
            let Ok(build_id) = payload.parse::<i64>() else {
                tracing::debug!(payload, "ignored a notification that names no build");
                return true;
            };
            match sender.try_send(build_id) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        },
    )
    .await?;
    Ok(receiver)
}

/// A worker process, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub name: String,
    pub host: String,
    pub max_builds: i32,
    pub started_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// Each build in a network of its own (false: `--unconfined`).
    pub confined: bool,
}

macro_rules! worker_columns {
    () => {
        "name, host, max_builds, started_at, last_seen, confined"
    };
}

fn worker_from_row(row: &tokio_postgres::Row) -> Result<Worker, ControlError> {
    Ok(Worker {
        name: row.try_get("name")?,
        host: row.try_get("host")?,
        max_builds: row.try_get("max_builds")?,
        started_at: row.try_get("started_at")?,
        last_seen: row.try_get("last_seen")?,
        confined: row.try_get("confined")?,
    })
}

/// Registers a worker starting (again) under `name`; `confined`: its builds
/// run in networks of their own.
pub async fn register_worker(
    client: &Client,
    name: &str,
    host: &str,
    max_builds: i32,
    confined: bool,
) -> Result<Worker, ControlError> {
    let row = client
        .query_one(
            concat!(
                "INSERT INTO workers (name, host, max_builds, confined) VALUES ($1, $2, $3, $4) ",
                "ON CONFLICT (name) DO UPDATE SET host = excluded.host, ",
                "max_builds = excluded.max_builds, confined = excluded.confined, ",
                "started_at = now(), last_seen = now() ",
                "RETURNING ",
                worker_columns!()
            ),
            &[&name, &host, &max_builds, &confined],
        )
        .await
        .map_err(|error| {
            if crate::error::violated_constraint(
                &error,
                &tokio_postgres::error::SqlState::CHECK_VIOLATION,
            ) == Some("workers_max_builds_positive")
            {
                ControlError::InvalidSetting("a worker runs at least 1 build at a time")
            } else {
                error.into()
            }
        })?;
    worker_from_row(&row)
}

/// Records that the worker is alive. `false`: it is not registered.
pub async fn touch_worker(client: &Client, name: &str) -> Result<bool, ControlError> {
    let updated = client
        .execute(
            "UPDATE workers SET last_seen = now() WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(updated == 1)
}

/// Every registered worker, by name.
pub async fn list_workers(client: &Client) -> Result<Vec<Worker>, ControlError> {
    client
        .query(
            concat!("SELECT ", worker_columns!(), " FROM workers ORDER BY name"),
            &[],
        )
        .await?
        .iter()
        .map(worker_from_row)
        .collect()
}

/// Ends a queued build before any worker took it, failed, with `reason`
/// (what it needed could not be had when it was queued: an Odoo source that
/// does not answer, say). `false` when it was no longer pending.
pub async fn fail_pending(client: &Client, build: i64, reason: &str) -> Result<bool, ControlError> {
    let reason = slipway_redact::redact(reason);
    let updated = client
        .execute(
            "UPDATE builds SET state = 'done', status = 'failed', finished_at = now(), \
                    reason = $2 \
              WHERE id = $1 AND state = 'pending'",
            &[&build, &reason.as_ref()],
        )
        .await?;
    Ok(updated == 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn listens_on_the_channel_notified() {
        assert_eq!(super::LISTEN, format!("LISTEN {}", super::NOTIFY_CHANNEL));
        let schema = include_str!("../migrations/0001_initial.sql");
        assert!(schema.contains(&format!("pg_notify('{}'", super::NOTIFY_CHANNEL)));
    }
}
