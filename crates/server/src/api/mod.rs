//! The JSON API, one file per resource.

pub mod branches;
pub mod builds;
pub mod deployments;
pub mod dumps;
pub mod logs;
pub mod mails;
pub mod projects;
pub mod status;
pub mod users;

use serde::Serialize;
use slipway_control::Build;

use crate::addresses::Addresses;

/// A build as the API shows it (the `slipway builds --json` contract).
#[derive(Serialize)]
pub struct BuildView {
    pub id: i64,
    pub branch: String,
    pub stage: &'static str,
    /// Only shown (true) for test duplicates of production.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    pub commit: String,
    pub state: &'static str,
    pub status: Option<&'static str>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The build's address through slipway's proxy, which applies the roles;
    /// never the loopback port its Odoo listens on.
    pub url: Option<String>,
}

impl BuildView {
    pub fn new(build: &Build, addresses: &Addresses) -> BuildView {
        let serving = build.state == slipway_control::BuildState::Serving;
        BuildView {
            id: build.id,
            branch: build.branch.clone(),
            stage: build.stage.as_str(),
            duplicate: build.duplicate,
            commit: build.commit.clone(),
            state: build.state.as_str(),
            status: build.status.map(|status| status.as_str()),
            created_at: build.created_at.clone(),
            finished_at: build.finished_at.clone(),
            // Only a serving build has an address worth following.
            url: serving.then(|| addresses.build_url(build.id)),
        }
    }
}
