//! Projects: `GET /projects`, `POST /projects` (also what a project of
//! `slipway.toml` declares), and production, `GET /projects/{name}/production`.

use serde::{Deserialize, Serialize};

use crate::{BuildStatus, EgressTarget, OdooFollow, OdooSource, ProjectLimits};

/// A project as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub name: String,
    /// The repository's URL, its credentials redacted.
    pub repo: String,
    pub odoo: String,
    pub production_branch: String,
    /// The repositories Odoo is built from, their credentials redacted;
    /// absent: Debian's packaged Odoo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub odoo_sources: Vec<OdooSource>,
    /// How development and staging follow those sources; absent for a
    /// project without sources, which has nothing to follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odoo_follow: Option<OdooFollow>,
    /// Its own memory limits and egress allow-list; absent: the defaults.
    #[serde(flatten)]
    pub limits: ProjectLimits,
}

/// `POST /projects`, and a `[[project]]` of `slipway.toml`. Text fields that
/// name a choice (Odoo version, staging source, Odoo follow policy) are checked by the server,
/// which says what it accepts. Absent or null settings take the defaults. (No
/// `Debug`: a repository URL may hold credentials.)
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    pub repo: String,
    pub odoo: String,
    pub production_branch: String,
    pub poll_interval_s: Option<i32>,
    pub quiet_period_s: Option<i32>,
    pub dev_builds_kept: Option<i32>,
    pub modules: Option<Vec<String>>,
    pub test_tags: Option<String>,
    pub ignore_rules: Option<Vec<String>>,
    /// Production and staging updates run `-u all`.
    pub update_all: Option<bool>,
    /// `production` (a fresh copy per staging build) or `previous`.
    pub staging_source: Option<String>,
    /// Where a commit's changes are shown, `{commit}` standing for its hash.
    pub commit_url: Option<String>,
    /// The repositories Odoo is built from, Odoo's own first; absent or
    /// empty: Debian's packaged Odoo of the series. URLs may hold credentials.
    pub odoo_sources: Option<Vec<OdooSource>>,
    /// `on-change`, `daily` or `never`: what development and staging
    /// branches do when a followed source moves.
    pub odoo_follow: Option<String>,
    /// Memory of each stage's builds, in MiB; absent: the worker's default.
    pub development_memory_mib: Option<u32>,
    pub staging_memory_mib: Option<u32>,
    pub production_memory_mib: Option<u32>,
    /// Addresses (`203.0.113.7:443`) development and staging builds may
    /// reach; absent: none.
    pub egress_allow: Option<Vec<EgressTarget>>,
}

impl NewProject {
    /// The limits it asks for.
    pub fn limits(&self) -> ProjectLimits {
        ProjectLimits {
            development_memory_mib: self.development_memory_mib,
            staging_memory_mib: self.staging_memory_mib,
            production_memory_mib: self.production_memory_mib,
            egress_allow: self.egress_allow.clone().unwrap_or_default(),
        }
    }
}

/// The answer to `POST /projects`. (No `Debug`: it holds the webhook secret.)
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedProject {
    #[serde(flatten)]
    pub project: Project,
    /// How many branches the repository has.
    pub branches: usize,
    /// For the push webhooks of GitHub and GitLab.
    pub webhook_secret: String,
}

/// The build serving production (`slipway production NAME --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Production {
    pub build: i64,
    pub commit: String,
    pub status: Option<BuildStatus>,
    /// The stable address of production (through the proxy).
    pub url: String,
}
