//! `slipway odoo update NAME [--json]`: production onto the newest commits of
//! the project's Odoo sources, and how a build's Odoo is printed.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_api::{Build, BuildDetail, BuildState};

use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

#[derive(Subcommand)]
pub enum OdooCommand {
    /// Build production's head on the newest commits of the project's Odoo
    /// sources (production never changes its Odoo by itself). It runs as any
    /// update of production: a copy of its database is updated, and the
    /// serving build serves again if anything fails.
    Update {
        project: String,
        /// Print the queued build as JSON (`slipway builds --json`'s shape).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: OdooCommand, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    match command {
        OdooCommand::Update { project, json } => {
            let build: Build = client.post_empty(&format!(
                "/api/v1/projects/{}/odoo-update",
                encode(&project)
            ))?;
            // A source that could not be resolved fails the build at once.
            let failed = build.state == BuildState::Done;
            if json {
                print_json(&build);
                return Ok(if failed {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                });
            }
            if failed {
                let detail: BuildDetail =
                    client.get_json(&format!("/api/v1/builds/{}", build.id))?;
                println!(
                    "build #{} failed: {}",
                    build.id,
                    table::optional(detail.reason.as_deref())
                );
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "build #{} queued: an update of {project}'s production ({} at {}) onto the newest Odoo:",
                build.id,
                build.branch,
                table::short_commit(&build.commit)
            );
            print_sources(&build);
            println!(
                "as any update of production: a copy of its database is updated, and the serving build serves again if anything fails"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The Odoo repositories a build runs, at their commits.
pub fn print_sources(build: &Build) {
    let rows: Vec<Vec<String>> = build
        .sources
        .iter()
        .map(|source| {
            vec![
                source.name.clone(),
                table::short_commit(&source.commit).to_string(),
                table::optional(source.branch.as_deref()),
                source.url.clone(),
            ]
        })
        .collect();
    table::print(&["source", "commit", "branch", "repository"], &rows);
}
