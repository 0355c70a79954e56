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
//! SQL text. Timestamps are [`time::OffsetDateTime`]s.

mod accounts;
mod attempt;
mod backups;
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
    user_credentials, Membership, User,
};
pub use attempt::{BuildAttempt, NotAnAttempt};
pub use backups::{
    backup_settings, backups_to_verify, claim_requested_backup, enqueue_restore, fail_backup,
    fail_interrupted_backups, failed_verifications, finish_backup, get_backup,
    last_scheduled_backup, list_backups, list_test_instances, mark_backup_deleted,
    older_test_instance_builds, record_verification, remove_test_instance, request_backup,
    request_verification, restorable_backup, set_backup_settings, start_backup, BackupRecord,
    InstanceMode, RestoreInto, TestInstanceRecord,
};
pub use board::{branch_board, BoardBranch, BuildCell};
pub use branches::{
    get_branch, list_branches, promote_to_production, set_stage, sync_branches, unbuilt_heads,
    Branch, BranchChanges, BranchSummary, Promotion,
};
pub use builds::{
    builds_to_measure, enqueue, get_build, list_builds, rebuild, record_disk_use,
    set_branch_odoo_rev, Build, MAX_QUIET_PERIODS,
};
pub use deployments::{
    enqueue_duplicate, mail_secret_matches, previous_staging_build, production_build,
    production_databases, production_snapshots, set_mail_secret,
};
pub use error::ControlError;
pub use mails::{get_mail, list_mails, store_mail, NewMail};
pub use migrations::{migrate, LATEST_VERSION};
pub use notifications::{listen_all, Notification, ACCESS_CHANNEL, BRANCHES_CHANNEL};
pub use pool::{ControlDb, Session, CONTROL_DATABASE};
pub use projects::{
    add_project, get_project, get_project_by_id, list_projects, remove_project, update_project,
    NewProject, Project, ProjectSettings, ProjectUpdate, RemovedProject, StagingSource,
};
pub use queue::{
    claim, fail_pending, finish, heartbeat, list_workers, listen, listen_on, mark_stopped,
    next_due, reclaim_expired, register_worker, release, touch_worker, Outcome, Reclaimed,
    Released, Serving, Worker, NOTIFY_CHANNEL,
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
/// The API's words are the ones the database stores.
pub use slipway_api::{
    BuildSource, BuildState, BuildStatus, MailSummary, OdooFollow, OdooSource, Role, SourceKind,
    Stage,
};

/// Reads a text column into one of the API's words (or another text enum).
pub(crate) fn parse_column<T>(row: &tokio_postgres::Row, column: &str) -> Result<T, ControlError>
where
    T: std::str::FromStr,
    ControlError: From<T::Err>,
{
    Ok(row.try_get::<_, &str>(column)?.parse()?)
}

/// A JSON column selected as text (`column::text AS column`), read into `T`.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    row: &tokio_postgres::Row,
    column: &str,
) -> Result<T, ControlError> {
    let text: &str = row.try_get(column)?;
    serde_json::from_str(text)
        .map_err(|error| ControlError::Database(format!("unreadable {column}: {error}")))
}

/// `value` as JSON text, for a `$n::text::jsonb` parameter.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a value of ours serializes")
}

/// Like [`parse_column`], for a nullable column.
pub(crate) fn parse_optional_column<T>(
    row: &tokio_postgres::Row,
    column: &str,
) -> Result<Option<T>, ControlError>
where
    T: std::str::FromStr,
    ControlError: From<T::Err>,
{
    Ok(row
        .try_get::<_, Option<&str>>(column)?
        .map(str::parse)
        .transpose()?)
}
