//! The shapes of slipway's JSON API under `/api/v1` (docs/api.md), one type
//! per answer and request body: `slipway serve` answers them, the CLI reads
//! them. Times are [`time::OffsetDateTime`], written as [`timestamp`] says.

mod accounts;
mod backups;
mod branches;
mod builds;
mod mails;
mod projects;
mod resources;
mod sources;
pub mod timestamp;
mod vocabulary;

use serde::{Deserialize, Serialize};

pub use accounts::{
    AddedUser, CreatedToken, NewPassword, NewToken, NewUser, ProjectRole, RoleGiven, SetRole, User,
};
pub use backups::{Backup, BackupSettings, RestoreTarget, TestInstance, TestInstanceRequest};
pub use branches::{Branch, BranchOdooRev, BranchStage, Promotion, SetOdooRev, SetStage};
pub use builds::{BranchRequest, Build, BuildDetail, RebuildRequest};
pub use mails::MailSummary;
pub use projects::{AddedProject, NewProject, Production, Project};
pub use resources::{
    ByteSize, DiskUse, EgressTarget, InvalidLimit, LimitsChange, ProjectLimits,
    MAX_BUILD_MEMORY_MIB, MIN_BUILD_MEMORY_MIB,
};
pub use slipway_report::Report;
pub use sources::{BuildSource, OdooSource, SourceKind};
pub use vocabulary::{
    BackupKind, BackupState, BuildState, BuildStatus, InvalidValue, OdooFollow, Role, Stage,
    Verification,
};

/// What a refused or failed call answers, with its status code: what went
/// wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `GET /status`: the server answers, with a few counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub version: String,
    pub workers: usize,
    pub projects: usize,
    /// The token's login, or `(host)` for the host's token.
    pub caller: String,
    /// Backups of production whose verification failed (`project #id`), of
    /// the projects whose production the caller sees: they cannot be
    /// restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_backups: Vec<String>,
}

#[cfg(test)]
mod tests;
