//! Builds: queueing one for a commit, asking for a rebuild, listing them.

use std::time::Duration;

use slipway_report::StoredReport;
use time::OffsetDateTime;
use tokio_postgres::{Client, Row};

use crate::{
    parse_column, parse_optional_column, BuildSource, BuildState, BuildStatus, ControlError, Stage,
};

/// A build, with its branch's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    pub id: i64,
    pub project_id: i64,
    pub branch_id: i64,
    pub branch: String,
    pub commit: String,
    pub stage: Stage,
    /// A test duplicate of production (stage staging, on the production branch).
    pub duplicate: bool,
    pub state: BuildState,
    pub status: Option<BuildStatus>,
    /// How many times a worker took it (a retry after a lost worker counts).
    pub attempts: i32,
    pub max_attempts: i32,
    /// The worker running or serving it (or the last one that did).
    pub worker: Option<String>,
    /// It is not started before this time (the quiet period after a push).
    pub not_before: OffsetDateTime,
    pub lease_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub stopped_at: Option<OffsetDateTime>,
    /// When a stopped build's database and files were dropped.
    pub collected_at: Option<OffsetDateTime>,
    pub url: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub log_path: Option<String>,
    pub report: Option<StoredReport>,
    /// Why it is in its state, in words (a retry, a failure, a stop).
    pub reason: Option<String>,
    /// The repositories of Odoo at the exact commits it runs (resolved when
    /// it was queued); empty for Debian's packaged Odoo.
    pub sources: Vec<BuildSource>,
    /// The disk its database and files use, as its worker last measured.
    pub disk: Option<slipway_api::DiskUse>,
    /// The backup its database is restored from (a restore, a test instance).
    pub restore_backup: Option<i64>,
    /// The test instance it serves, and its name.
    pub test_instance_id: Option<i64>,
    pub test_instance: Option<String>,
}

impl Build {
    /// Where its Odoo answers while it serves: its own network's address (or
    /// the host's loopback when builds run unconfined), from the URL its
    /// worker recorded.
    pub fn serving_address(&self) -> Option<std::net::SocketAddr> {
        if self.state != BuildState::Serving {
            return None;
        }
        let url = self.url.as_deref()?;
        url.strip_prefix("http://")?
            .trim_end_matches('/')
            .parse()
            .ok()
    }

    /// Its database, while it exists: none when it was never kept, or was
    /// collected after the build stopped.
    pub fn live_database(&self) -> Option<&str> {
        self.database
            .as_deref()
            .filter(|_| self.collected_at.is_none())
    }

    /// The disk its database and files use, as last measured, while they
    /// exist (nothing once collected).
    pub fn disk_use(&self) -> Option<slipway_api::DiskUse> {
        self.disk.filter(|_| self.collected_at.is_none())
    }

    /// Why it cannot serve again, `None` when it can: only a stopped
    /// development, staging or duplicate build whose database is still there
    /// (a replaced production build is production's snapshot, not something
    /// to serve beside production).
    pub fn why_not_restartable(&self) -> Option<&'static str> {
        if self.state != BuildState::Stopped {
            return Some("only a stopped build can be started again");
        }
        if self.live_database().is_none() {
            return Some("its database was dropped after it stopped; rebuild the branch instead");
        }
        if self.stage == Stage::Production {
            return Some(
                "it is an earlier production build, kept as the snapshot before an update; \
                 production is served by the newest production build",
            );
        }
        None
    }
}

/// The SELECT list of a [`Build`], over `builds b` joined with `branches br`.
macro_rules! build_columns {
    () => {
        concat!(
            "b.id, b.project_id, b.branch_id, br.name AS branch, b.commit, b.stage, b.duplicate, b.state, ",
            "b.status, b.attempts, b.max_attempts, b.worker, ",
            "b.not_before, b.lease_until, b.created_at, b.started_at, b.finished_at, ",
            "b.stopped_at, b.collected_at, ",
            "b.url, b.port, b.database, b.log_path, b.report::text AS report, b.reason, ",
            "b.sources::text AS sources, b.database_bytes, b.files_bytes, b.disk_measured_at, ",
            "b.restore_backup, b.test_instance_id, ",
            "(SELECT t.name FROM test_instances t WHERE t.id = b.test_instance_id) AS test_instance"
        )
    };
}
pub(crate) use build_columns;

pub(crate) fn build_from_row(row: &Row) -> Result<Build, ControlError> {
    let port: Option<i32> = row.try_get("port")?;
    let report: Option<&str> = row.try_get("report")?;
    let id = row.try_get("id")?;
    Ok(Build {
        id,
        project_id: row.try_get("project_id")?,
        branch_id: row.try_get("branch_id")?,
        branch: row.try_get("branch")?,
        commit: row.try_get("commit")?,
        stage: parse_column(row, "stage")?,
        duplicate: row.try_get("duplicate")?,
        state: parse_column(row, "state")?,
        status: parse_optional_column(row, "status")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        worker: row.try_get("worker")?,
        not_before: row.try_get("not_before")?,
        lease_until: row.try_get("lease_until")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        stopped_at: row.try_get("stopped_at")?,
        collected_at: row.try_get("collected_at")?,
        url: row.try_get("url")?,
        // The column's check keeps it within 1..=65535.
        port: port.and_then(|port| u16::try_from(port).ok()),
        database: row.try_get("database")?,
        log_path: row.try_get("log_path")?,
        report: report.map(|json| {
            let report = StoredReport::from_json(json);
            if let StoredReport::Unreadable(error) = &report {
                tracing::warn!(build = id, %error, "a build's stored report is unreadable");
            }
            report
        }),
        // Rows written before reasons were redacted at the source may hold
        // a repository's credentials.
        reason: row
            .try_get::<_, Option<&str>>("reason")?
            .map(|reason| slipway_redact::redact(reason).into_owned()),
        sources: crate::json_column(row, "sources")?,
        disk: disk_use_from_row(row)?,
        restore_backup: row.try_get("restore_backup")?,
        test_instance_id: row.try_get("test_instance_id")?,
        test_instance: row.try_get("test_instance")?,
    })
}

fn disk_use_from_row(row: &Row) -> Result<Option<slipway_api::DiskUse>, ControlError> {
    let measured_at: Option<OffsetDateTime> = row.try_get("disk_measured_at")?;
    let (database, files): (Option<i64>, Option<i64>) =
        (row.try_get("database_bytes")?, row.try_get("files_bytes")?);
    // The columns' check keeps the three together and not negative.
    Ok(match (measured_at, database, files) {
        (Some(measured_at), Some(database), Some(files)) => Some(slipway_api::DiskUse {
            database_bytes: database.unsigned_abs(),
            files_bytes: files.unsigned_abs(),
            measured_at,
        }),
        _ => None,
    })
}

/// Records what `build`'s database and files use now (its worker measured).
pub async fn record_disk_use(
    client: &Client,
    build: i64,
    database_bytes: u64,
    files_bytes: u64,
) -> Result<(), ControlError> {
    let to_column = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
    client
        .execute(
            "UPDATE builds SET database_bytes = $2, files_bytes = $3, disk_measured_at = now() \
             WHERE id = $1",
            &[&build, &to_column(database_bytes), &to_column(files_bytes)],
        )
        .await?;
    Ok(())
}

/// The builds `worker` serves whose disk use was not measured in the last
/// `every` (or never).
pub async fn builds_to_measure(
    client: &Client,
    worker: &str,
    every: Duration,
) -> Result<Vec<Build>, ControlError> {
    client
        .query(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id ",
                "WHERE b.worker = $1 AND b.state = 'serving' AND (b.disk_measured_at IS NULL ",
                "OR b.disk_measured_at < now() - $2 * interval '1 second') ORDER BY b.id"
            ),
            &[&worker, &seconds(every)],
        )
        .await?
        .iter()
        .map(build_from_row)
        .collect()
}

/// Seconds, for `now() + $n * interval '1 second'`.
pub(crate) fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Queues a build of `commit` on the branch, to start no sooner than `delay`
/// from now (the database's clock, shared by every host).
///
/// A newer commit supersedes the branch's queued build: if the branch already has
/// a pending build, that build takes the new commit, stage and start time (so a
/// burst of pushes yields one build, of the last commit) and is returned; else a
/// new build is inserted. One statement: an upsert on the "one pending build per
/// branch" index, atomic under concurrent pushes. Refused with
/// [`ControlError::UnknownBranchId`] if the branch is not a live branch of the
/// project.
/// A queued build waits at most this many quiet periods after its first push,
/// however often the branch is pushed to meanwhile.
pub const MAX_QUIET_PERIODS: f64 = 6.0;

pub async fn enqueue(
    client: &Client,
    project_id: i64,
    branch_id: i64,
    commit: &str,
    stage: Stage,
    delay: Duration,
    sources: &[BuildSource],
) -> Result<Build, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "WITH queued AS (",
                " INSERT INTO builds AS b (project_id, branch_id, commit, stage, state, not_before, sources)",
                " SELECT br.project_id, br.id, $3, $4, 'pending', now() + $5::float8 * interval '1 second',",
                "  $7::text::jsonb",
                " FROM branches br",
                " WHERE br.id = $2 AND br.project_id = $1 AND br.deleted_at IS NULL",
                // Waits for (or holds off) a sync deleting the branch: a build is
                // never queued behind its back on a branch it just deleted.
                " FOR SHARE",
                " ON CONFLICT (branch_id) WHERE state = 'pending' DO UPDATE SET",
                // A push supersedes a queued request for a test duplicate too.
                "  commit = excluded.commit, stage = excluded.stage, duplicate = false,",
                "  sources = excluded.sources,",
                // Each push restarts the quiet period, but a branch pushed to
                // without pause still builds: at most MAX_QUIET_PERIODS quiet
                // periods after the first push.
                "  not_before = LEAST(excluded.not_before, b.created_at + $5::float8 * $6::float8 * interval '1 second'),",
                // A retry of the same commit keeps its count; a new commit starts afresh.
                "  attempts = CASE WHEN b.commit = excluded.commit THEN b.attempts ELSE 0 END,",
                "  reason = CASE WHEN b.commit = excluded.commit THEN b.reason ELSE NULL END",
                " RETURNING b.*",
                ") SELECT ",
                build_columns!(),
                " FROM queued b JOIN branches br ON br.id = b.branch_id"
            ),
            &[
                &project_id,
                &branch_id,
                &commit,
                &stage.as_str(),
                &seconds(delay),
                &MAX_QUIET_PERIODS,
                &crate::json_text(&sources),
            ],
        )
        .await?
        .ok_or(ControlError::UnknownBranchId {
            project_id,
            branch_id,
        })?;
    build_from_row(&row)
}

/// Queues a build of the branch's head, to start now, on `sources`, or
/// (`None`) on the Odoo commits of the branch's newest build. Refused while
/// the branch has a build queued or running.
pub async fn rebuild(
    client: &Client,
    project: &str,
    branch: &str,
    sources: Option<&[BuildSource]>,
) -> Result<Build, ControlError> {
    let row = client
        .query_opt(
            "SELECT p.id AS project_id, br.id AS branch_id, br.stage, br.head, \
                    (SELECT b.id FROM builds b \
                      WHERE b.branch_id = br.id AND b.state IN ('pending', 'running') \
                      ORDER BY b.id DESC LIMIT 1) AS busy, \
                    coalesce((SELECT b.sources FROM builds b WHERE b.branch_id = br.id \
                               ORDER BY b.id DESC LIMIT 1), '[]')::text AS last_sources \
               FROM projects p \
               LEFT JOIN branches br \
                 ON br.project_id = p.id AND br.name = $2 AND br.deleted_at IS NULL \
              WHERE p.name = $1",
            &[&project, &branch],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownProject(project.to_string()))?;
    let project_id: i64 = row.try_get("project_id")?;
    let Some(branch_id) = row.try_get::<_, Option<i64>>("branch_id")? else {
        return Err(ControlError::UnknownBranch {
            project: project.to_string(),
            branch: branch.to_string(),
        });
    };
    if let Some(build_id) = row.try_get::<_, Option<i64>>("busy")? {
        return Err(ControlError::BuildInProgress {
            branch: branch.to_string(),
            build_id,
        });
    }
    let Some(head) = row.try_get::<_, Option<&str>>("head")? else {
        return Err(ControlError::NothingToBuild {
            project: project.to_string(),
            branch: branch.to_string(),
        });
    };
    let stage: Stage = parse_column(&row, "stage")?;
    let last: Vec<BuildSource> = crate::json_column(&row, "last_sources")?;
    let sources = sources.unwrap_or(&last);
    enqueue(
        client,
        project_id,
        branch_id,
        head,
        stage,
        Duration::ZERO,
        sources,
    )
    .await
}

/// Sets the branch's own revision of Odoo's source (`None`: the project's).
pub async fn set_branch_odoo_rev(
    client: &Client,
    project: &str,
    branch: &str,
    rev: Option<&str>,
) -> Result<(), ControlError> {
    let updated = client
        .execute(
            "UPDATE branches br SET odoo_rev = $3 FROM projects p \
              WHERE p.id = br.project_id AND p.name = $1 AND br.name = $2 \
                AND br.deleted_at IS NULL",
            &[&project, &branch, &rev],
        )
        .await?;
    if updated == 0 {
        crate::get_project(client, project).await?;
        return Err(ControlError::UnknownBranch {
            project: project.to_string(),
            branch: branch.to_string(),
        });
    }
    Ok(())
}

pub async fn get_build(client: &Client, id: i64) -> Result<Build, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id WHERE b.id = $1"
            ),
            &[&id],
        )
        .await?
        .ok_or(ControlError::UnknownBuild(id))?;
    build_from_row(&row)
}

/// The project's builds, newest first (by creation, then id), at most `limit`;
/// only those of `branch` (deleted or not) when given, the serving production
/// build first.
pub async fn list_builds(
    client: &Client,
    project_id: i64,
    branch: Option<&str>,
    limit: u32,
) -> Result<Vec<Build>, ControlError> {
    let limit = i64::from(limit);
    // Two statements rather than one with `$2 IS NULL OR ...`: each has a plan
    // that reads `limit` entries of one index (builds_by_project, builds_by_branch)
    // in order and stops.
    let rows = match branch {
        None => {
            client
                .query(
                    concat!(
                        "SELECT ",
                        build_columns!(),
                        " FROM builds b JOIN branches br ON br.id = b.branch_id",
                        " WHERE b.project_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT $2"
                    ),
                    &[&project_id, &limit],
                )
                .await?
        }
        Some(branch) => {
            let found = client
                .query_opt(
                    "SELECT p.name, br.id FROM projects p \
                     LEFT JOIN branches br ON br.project_id = p.id AND br.name = $2 \
                     WHERE p.id = $1",
                    &[&project_id, &branch],
                )
                .await?
                .ok_or(ControlError::UnknownProjectId(project_id))?;
            let Some(branch_id) = found.try_get::<_, Option<i64>>(1)? else {
                return Err(ControlError::UnknownBranch {
                    project: found.try_get(0)?,
                    branch: branch.to_string(),
                });
            };
            client
                .query(
                    concat!(
                        "SELECT ",
                        build_columns!(),
                        " FROM builds b JOIN branches br ON br.id = b.branch_id",
                        // Odoo.sh's order: the serving production build first,
                        // then newest first (a failed update after it).
                        " WHERE b.branch_id = $1",
                        " ORDER BY (b.state = 'serving' AND b.stage = 'production' AND NOT b.duplicate) DESC,",
                        " b.id DESC LIMIT $2"
                    ),
                    &[&branch_id, &limit],
                )
                .await?
        }
    };
    rows.iter().map(build_from_row).collect()
}
