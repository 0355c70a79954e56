//! `slipway branches NAME`, `slipway branch stage NAME BRANCH STAGE`,
//! `slipway branch promote NAME BRANCH`, `slipway branch odoo NAME BRANCH --rev REV`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_api::{Branch, BranchOdooRev, BranchRequest, Promotion, SetOdooRev, SetStage};

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
    /// Pin the branch's Odoo at a commit of the project's Odoo repository,
    /// or follow the project's revision again with `latest`.
    Odoo {
        project: String,
        branch: String,
        /// `latest`, or a full commit id (40 hex digits).
        #[arg(long, value_name = "latest|COMMIT")]
        rev: String,
    },
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
        BranchCommand::Odoo {
            project,
            branch,
            rev,
        } => {
            let path = format!(
                "/api/v1/projects/{}/branches/{}/odoo",
                encode(&project),
                encode(&branch)
            );
            let set: BranchOdooRev = client.put_json(&path, &SetOdooRev { rev })?;
            match set.odoo_rev {
                Some(commit) => println!("{project}/{branch} builds on Odoo commit {commit}"),
                None => println!("{project}/{branch} builds on the project's revision of Odoo"),
            }
            // A rebuild reuses its last build's Odoo; a branch's next build
            // that resolves its sources takes the change.
            println!("build on it now: slipway rebuild {project} {branch} --newest-odoo");
        }
    }
    Ok(ExitCode::SUCCESS)
}
