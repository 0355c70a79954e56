//! `slipway branches NAME`, `slipway branch stage NAME BRANCH STAGE`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use super::table;
use crate::client::{encode, Client, ServerArgs};

pub fn list(project: &str, json: bool, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let branches = client.get(&format!("/api/v1/projects/{}/branches", encode(project)))?;
    if json {
        println!("{branches}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = branches
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let last = &b["last_build"];
            let build = if last.is_null() {
                "-".to_string()
            } else {
                format!(
                    "#{} {} {}",
                    last["id"],
                    table::cell(&last["state"]),
                    table::cell(&last["status"])
                )
            };
            let head = b["head"]
                .as_str()
                .map(|h| h[..h.len().min(12)].to_string())
                .unwrap_or_else(|| "-".into());
            vec![
                table::cell(&b["name"]),
                table::cell(&b["stage"]),
                head,
                build,
            ]
        })
        .collect();
    table::print(&["branch", "stage", "head", "last build"], &rows);
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum BranchCommand {
    /// Set a branch's stage: production, staging or development.
    Stage {
        project: String,
        branch: String,
        stage: String,
    },
    /// Make a staging branch the production branch (the current one becomes staging).
    Promote { project: String, branch: String },
}

pub fn run(command: BranchCommand, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    match command {
        BranchCommand::Stage {
            project,
            branch,
            stage,
        } => {
            client.put(
                &format!("/api/v1/projects/{}/stage", encode(&project)),
                json!({"branch": branch, "stage": stage}),
            )?;
            println!("{project}/{branch} is now {stage}");
        }
        BranchCommand::Promote { project, branch } => {
            let path = format!("/api/v1/projects/{}/promote", encode(&project));
            let promotion = client.post(&path, json!({"branch": branch}))?;
            println!("{project}/{branch} is now production");
            if let Some(demoted) = promotion["demoted"].as_str() {
                println!("{project}/{demoted} is now staging");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
