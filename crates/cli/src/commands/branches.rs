//! `slipway branches NAME`, `slipway branch stage NAME BRANCH STAGE`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_api::{Branch, BranchRequest, Promotion, SetStage};

use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

pub fn list(project: &str, json: bool, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let branches: Vec<Branch> =
        client.get_json(&format!("/api/v1/projects/{}/branches", encode(project)))?;
    if json {
        print_json(&branches);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = branches
        .iter()
        .map(|b| {
            let build = table::optional(b.last_build.as_ref().map(|last| {
                format!(
                    "#{} {} {}",
                    last.id,
                    last.state,
                    table::optional(last.status)
                )
            }));
            vec![
                b.name.clone(),
                b.stage.to_string(),
                table::optional(b.head.as_deref().map(table::short_commit)),
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
                &SetStage {
                    branch: branch.clone(),
                    stage: stage.clone(),
                },
            )?;
            println!("{project}/{branch} is now {stage}");
        }
        BranchCommand::Promote { project, branch } => {
            let path = format!("/api/v1/projects/{}/promote", encode(&project));
            let promotion: Promotion = client.post_json(
                &path,
                &BranchRequest {
                    branch: branch.clone(),
                },
            )?;
            println!("{project}/{branch} is now production");
            if let Some(demoted) = promotion.demoted {
                println!("{project}/{demoted} is now staging");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
