//! `slipway status`: exit 0 when the server answers.

use std::process::ExitCode;

use anyhow::Result;
use slipway_api::ServerStatus;

use crate::client::{Client, ServerArgs};

pub fn run(server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let status: ServerStatus = client.get_json("/api/v1/status")?;
    println!(
        "slipway {} at {} · {} worker(s) · {} project(s)",
        status.version,
        client.base(),
        status.workers,
        status.projects
    );
    if !status.failed_backups.is_empty() {
        eprintln!(
            "WARNING: backups whose verification failed, which cannot be restored: {}",
            status.failed_backups.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
