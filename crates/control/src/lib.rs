//! The control-plane database of `slipway serve`: projects, branches, builds,
//! workers and the build queue.
//!
//! PostgreSQL is the only state store. Several worker processes on several hosts
//! share it: they take builds from the queue with `FOR UPDATE SKIP LOCKED` in one
//! short transaction, hold them under a lease they renew with heartbeats, and run
//! them outside of any transaction. A build whose worker stops answering is put
//! back in the queue by whoever calls [`reclaim_expired`].
//!
//! Every statement is a constant string with parameters: no value ever becomes
//! SQL text. Timestamps are exposed as RFC 3339 strings in UTC
//! (`2024-05-01T12:00:00Z`).

mod accounts;
mod attempt;
mod board;
mod branches;
mod builds;
mod deployments;
mod error;
mod mails;
mod migrations;
mod notifications;
mod pool;
mod projects;
mod queue;
mod serving;
mod sessions;

pub use accounts::{
    add_user, get_user, list_users, memberships, project_role, remove_user, set_password, set_role,
    user_credentials, Membership, Role, User,
};
pub use attempt::{BuildAttempt, NotAnAttempt};
pub use board::{branch_board, BoardBranch, BuildCell};
pub use branches::{
    list_branches, promote_to_production, set_stage, sync_branches, unbuilt_heads, Branch,
    BranchChanges, BranchSummary, Promotion,
};
pub use builds::{enqueue, get_build, list_builds, rebuild, Build, MAX_QUIET_PERIODS};
pub use deployments::{
    enqueue_duplicate, mail_secret_matches, previous_staging_build, production_build,
    production_databases, production_snapshots, set_mail_secret,
};
pub use error::ControlError;
pub use mails::{get_mail, list_mails, store_mail, MailSummary, NewMail};
pub use migrations::{migrate, LATEST_VERSION};
pub use notifications::{listen_all, Notification, ACCESS_CHANNEL, BRANCHES_CHANNEL};
pub use pool::{ControlDb, Session, CONTROL_DATABASE};
pub use projects::{
    add_project, get_project, get_project_by_id, list_projects, remove_project, update_project,
    NewProject, Project, ProjectSettings, ProjectUpdate, RemovedProject, StagingSource,
};
pub use queue::{
    claim, finish, heartbeat, list_workers, listen, listen_on, mark_stopped, next_due,
    reclaim_expired, register_worker, release, touch_worker, Outcome, Reclaimed, Released, Serving,
    Worker, NOTIFY_CHANNEL,
};
pub use serving::{
    builds_to_restart, builds_to_resume, mark_collected, request_restart, restart_failed,
    resume_serving, serving_builds_of_branch, stopped_builds_to_collect,
};
pub use sessions::{
    build_access, create_api_token, create_session, create_ticket, delete_session,
    grant_build_access, list_api_tokens, live_session_user, purge_expired, redeem_ticket,
    revoke_api_token, session_by_token, user_by_api_token, ApiToken, BuildTicket, SecretHash,
    SessionLifetime, WebSession,
};

use serde::Serialize;

/// A branch's stage, as on Odoo.sh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Production,
    Staging,
    Development,
}

/// Where a build is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildState {
    /// Queued, waiting for `not_before` and a free worker.
    Pending,
    /// Owned by a worker under a lease.
    Running,
    /// Built; its instance answers at `url`.
    Serving,
    /// Was serving; its instance is gone.
    Stopped,
    /// Finished without an instance (failed, killed, or not kept).
    Done,
}

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    Success,
    Warning,
    Failed,
    Killed,
}

macro_rules! text_enum {
    ($type:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $type {
            type Err = ControlError;

            fn from_str(text: &str) -> Result<$type, ControlError> {
                match text {
                    $($text => Ok($type::$variant),)+
                    other => Err(ControlError::Invalid {
                        what: $what,
                        value: other.to_string(),
                        expected: concat!($("'", $text, "' "),+),
                    }),
                }
            }
        }
    };
}

text_enum!(Stage, "stage", {
    Production => "production",
    Staging => "staging",
    Development => "development",
});

text_enum!(BuildState, "build state", {
    Pending => "pending",
    Running => "running",
    Serving => "serving",
    Stopped => "stopped",
    Done => "done",
});

text_enum!(BuildStatus, "build status", {
    Success => "success",
    Warning => "warning",
    Failed => "failed",
    Killed => "killed",
});

pub(crate) use text_enum;

/// `column` (a `timestamptz`) as RFC 3339 text in UTC, for a SELECT list.
macro_rules! utc {
    ($column:literal) => {
        concat!(
            "to_char(",
            $column,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        )
    };
}
pub(crate) use utc;

/// Reads a text column into one of the enums above.
pub(crate) fn parse_column<T>(row: &tokio_postgres::Row, column: &str) -> Result<T, ControlError>
where
    T: std::str::FromStr<Err = ControlError>,
{
    row.try_get::<_, &str>(column)?.parse()
}

/// Like [`parse_column`], for a nullable column.
pub(crate) fn parse_optional_column<T>(
    row: &tokio_postgres::Row,
    column: &str,
) -> Result<Option<T>, ControlError>
where
    T: std::str::FromStr<Err = ControlError>,
{
    row.try_get::<_, Option<&str>>(column)?
        .map(str::parse)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_database_text() {
        for stage in [Stage::Production, Stage::Staging, Stage::Development] {
            assert_eq!(stage.as_str().parse::<Stage>().unwrap(), stage);
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::Value::String(stage.as_str().into())
            );
        }
        for state in [
            BuildState::Pending,
            BuildState::Running,
            BuildState::Serving,
            BuildState::Stopped,
            BuildState::Done,
        ] {
            assert_eq!(state.as_str().parse::<BuildState>().unwrap(), state);
        }
        for status in [
            BuildStatus::Success,
            BuildStatus::Warning,
            BuildStatus::Failed,
            BuildStatus::Killed,
        ] {
            assert_eq!(status.as_str().parse::<BuildStatus>().unwrap(), status);
        }
        let error = "prod".parse::<Stage>().unwrap_err().to_string();
        assert!(error.contains("'production'"), "{error}");
    }
}
