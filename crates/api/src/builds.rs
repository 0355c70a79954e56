//! Builds: `GET /projects/{name}/builds`, `GET /builds/{id}`, and the build
//! that a rebuild, an Odoo update, a start or a duplicate answers.

use serde::{Deserialize, Serialize};
use slipway_report::Report;
use time::OffsetDateTime;

use crate::{timestamp, BuildSource, BuildState, BuildStatus, DiskUse, Stage};

/// A build (`slipway builds --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    pub id: i64,
    pub branch: String,
    pub stage: Stage,
    /// Only shown (true) for test duplicates of production.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    pub commit: String,
    pub state: BuildState,
    pub status: Option<BuildStatus>,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The build's address through slipway's proxy, which applies the roles;
    /// never the address its Odoo listens on. Only a serving build has one.
    pub url: Option<String>,
    /// The Odoo repositories at the exact commits it runs; absent for
    /// Debian's packaged Odoo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<BuildSource>,
    /// The disk its database and files use, as last measured (while it
    /// serves, and as it stopped); absent before it was kept and once its
    /// database is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskUse>,
}

/// One build, `GET /builds/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildDetail {
    #[serde(flatten)]
    pub build: Build,
    /// Why it is in its state, in words (a retry, a failure, a stop).
    pub reason: Option<String>,
    /// The report of its run; null before it ran, or when it is unreadable.
    pub report: Option<Report>,
    /// A report was kept but cannot be read (not shown as null silently).
    pub report_unreadable: bool,
    /// Its database, while it has one (for `slipway psql` and dumps).
    pub database: Option<String>,
}

/// A request about one branch of a project: `POST /projects/{name}/promote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRequest {
    pub branch: String,
}

/// `POST /projects/{name}/rebuild`: the branch's head again, on the Odoo
/// commits of its newest build or (`newest_odoo`) on its sources' newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildRequest {
    pub branch: String,
    #[serde(default)]
    pub newest_odoo: bool,
}
