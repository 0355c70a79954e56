//! The JSON API, one file per resource. Its answers and request bodies are
//! the types of `slipway_api`.

pub mod backups;
pub mod branches;
pub mod builds;
pub mod deployments;
pub mod dumps;
pub mod logs;
pub mod mails;
pub mod projects;
pub mod status;
pub mod users;

use slipway_control::{Build, BuildState};

use crate::addresses::Addresses;

/// A build as the API shows it.
pub fn build_answer(build: &Build, addresses: &Addresses) -> slipway_api::Build {
    slipway_api::Build {
        id: build.id,
        branch: build.branch.clone(),
        stage: build.stage,
        duplicate: build.duplicate,
        commit: build.commit.clone(),
        state: build.state,
        status: build.status,
        created_at: build.created_at,
        finished_at: build.finished_at,
        // Only a serving build has an address worth following; never the
        // address its Odoo listens on.
        url: (build.state == BuildState::Serving).then(|| addresses.build_url(build.id)),
        sources: build.sources.clone(),
        disk: build.disk_use(),
    }
}

/// A request body, or a 400 saying what is wrong with it.
pub fn body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, crate::ApiError> {
    body.map(|axum::Json(body)| body)
        .map_err(|rejection| crate::ApiError::bad_request(rejection.body_text()))
}
