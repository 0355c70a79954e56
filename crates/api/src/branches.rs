//! Branches and their stages: `GET /projects/{name}/branches`,
//! `PUT /projects/{name}/stage`, `POST /projects/{name}/promote`, and a
//! branch's own revision of Odoo, `PUT /projects/{name}/branches/{branch}/odoo`.

use serde::{Deserialize, Serialize};

use crate::{Build, Stage};

/// A branch with its last build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub name: String,
    pub stage: Stage,
    /// The last commit seen on it.
    pub head: Option<String>,
    pub last_build: Option<Build>,
    /// The commit of the project's Odoo repository it builds on instead of
    /// the project's revision; absent: the project's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odoo_rev: Option<String>,
}

/// `PUT /projects/{name}/stage`. The stage is the caller's text, checked by
/// the server (which names the stages when it is wrong).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetStage {
    pub branch: String,
    pub stage: String,
}

/// A branch's stage after it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchStage {
    pub name: String,
    pub stage: Stage,
}

/// The answer to a promotion: the new production branch, and the former
/// one, now staging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub production: String,
    pub demoted: Option<String>,
}

/// `PUT /projects/{name}/branches/{branch}/odoo`: `latest` (the project's
/// revision of Odoo) or a full commit id of its Odoo repository, checked by
/// the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetOdooRev {
    pub rev: String,
}

/// A branch's own revision of Odoo after it changed; `None`: the project's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchOdooRev {
    pub name: String,
    pub odoo_rev: Option<String>,
}
