//! `slipway project add|list|remove`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_api::{AddedProject, NewProject, Project};

use super::sources::SourceArgs;
use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Watch a repository of Odoo addons: every branch gets builds.
    Add {
        /// Short name: lowercase letters, digits, '-' and '_'.
        name: String,
        /// Any git URL: a local path, https://, ssh://, git@host:path.
        #[arg(long)]
        repo: String,
        /// Odoo series: 14.0 or 19.0 for Debian's packaged Odoo, any (17.0,
        /// saas-17.2…) with --odoo-repo.
        #[arg(long)]
        odoo: String,
        /// The branch whose builds are production.
        #[arg(long, default_value = "main")]
        production_branch: String,
        /// Seconds between two polls of the repository (default 60).
        #[arg(long, value_name = "SECONDS")]
        poll_interval: Option<i32>,
        /// Seconds a push waits before its build starts; a newer push in that
        /// time replaces it (default 10).
        #[arg(long, value_name = "SECONDS")]
        quiet_period: Option<i32>,
        /// Serving development builds kept per branch (default 2).
        #[arg(long)]
        dev_builds_kept: Option<i32>,
        /// Production and staging updates run `-u all` instead of updating
        /// only the modules whose code changed.
        #[arg(long)]
        update_all: bool,
        /// Where staging databases come from: `production` (a fresh copy for
        /// every build, the default) or `previous` (the branch's previous
        /// staging build, updated).
        #[arg(long, value_name = "SOURCE")]
        staging_source: Option<String>,
        /// Where the UI links a commit to, `{commit}` standing for its hash,
        /// e.g. https://github.com/acme/addons/commit/{commit} (GitHub and
        /// GitLab repository addresses get one without asking).
        #[arg(long, value_name = "URL")]
        commit_url: Option<String>,
        // Boxed: the other commands are small.
        #[command(flatten)]
        sources: Box<SourceArgs>,
        /// When a followed source of Odoo moves, development and staging
        /// branches build again: `on-change` (the default), `daily` or
        /// `never` (at their next push). Production never changes its Odoo by
        /// itself: `slipway odoo update` does.
        #[arg(long, value_name = "POLICY")]
        odoo_follow: Option<String>,
    },
    /// Show the projects.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop watching a project and forget its branches and builds.
    Remove { name: String },
}

pub fn run(command: ProjectCommand, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    match command {
        ProjectCommand::Add {
            name,
            repo,
            odoo,
            production_branch,
            poll_interval,
            quiet_period,
            dev_builds_kept,
            update_all,
            staging_source,
            commit_url,
            sources,
            odoo_follow,
        } => {
            let odoo_sources = sources.odoo_sources();
            let added: AddedProject = client.post_json(
                "/api/v1/projects",
                &NewProject {
                    name: name.clone(),
                    repo,
                    odoo,
                    production_branch,
                    poll_interval_s: poll_interval,
                    quiet_period_s: quiet_period,
                    dev_builds_kept,
                    modules: None,
                    test_tags: None,
                    ignore_rules: None,
                    update_all: Some(update_all),
                    staging_source,
                    commit_url,
                    odoo_sources: (!odoo_sources.is_empty()).then_some(odoo_sources),
                    odoo_follow,
                },
            )?;
            println!(
                "project {} added: {} branch(es) found",
                added.project.name, added.branches
            );
            if let Some(follow) = added.project.odoo_follow {
                println!(
                    "Odoo {} from source ({} repositories), followed by development and staging: --odoo-follow {follow}",
                    added.project.odoo,
                    added.project.odoo_sources.len()
                );
            }
            println!(
                "webhook: POST {}/hooks/github/{name} (or /hooks/gitlab/{name}) with secret {}",
                client.base(),
                added.webhook_secret
            );
        }
        ProjectCommand::List { json } => {
            let projects: Vec<Project> = client.get_json("/api/v1/projects")?;
            if json {
                print_json(&projects);
            } else {
                let rows: Vec<Vec<String>> = projects
                    .into_iter()
                    .map(|p| {
                        let odoo = if p.odoo_sources.is_empty() {
                            p.odoo
                        } else {
                            format!("{} (from source)", p.odoo)
                        };
                        vec![p.name, odoo, p.production_branch, p.repo]
                    })
                    .collect();
                table::print(&["name", "odoo", "production", "repository"], &rows);
            }
        }
        ProjectCommand::Remove { name } => {
            client.delete(&format!("/api/v1/projects/{}", encode(&name)))?;
            println!("project {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
