//! `slipway project add|list|remove`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_api::{AddedProject, ByteSize, EgressTarget, LimitsChange, NewProject, Project};

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
        #[command(flatten)]
        limits: Box<NewLimitsArgs>,
    },
    /// Show a project's memory per stage and egress allow-list, or change
    /// them (from its builds' next run or start on).
    Limits {
        name: String,
        /// Memory of a development build, in MiB, or `default` (the
        /// worker's: a quarter of the host's, 1 to 4 GiB).
        #[arg(long, value_name = "MIB|default")]
        development_memory_mib: Option<MemoryArg>,
        /// Memory of a staging build or test duplicate, in MiB, or `default`
        /// (a third of the host's, 2 to 8 GiB).
        #[arg(long, value_name = "MIB|default")]
        staging_memory_mib: Option<MemoryArg>,
        /// Memory of production, in MiB, or `default` (half the host's).
        #[arg(long, value_name = "MIB|default")]
        production_memory_mib: Option<MemoryArg>,
        /// An address development and staging builds may reach (TCP), e.g.
        /// 203.0.113.7:443; repeat it for several. Replaces the list.
        #[arg(long, value_name = "ADDRESS:PORT")]
        egress_allow: Vec<EgressTarget>,
        /// Empties the allow-list: development and staging reach nothing.
        #[arg(long, conflicts_with = "egress_allow")]
        no_egress_allow: bool,
        #[arg(long)]
        json: bool,
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
            limits,
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
                    development_memory_mib: limits.development_memory_mib,
                    staging_memory_mib: limits.staging_memory_mib,
                    production_memory_mib: limits.production_memory_mib,
                    egress_allow: (!limits.egress_allow.is_empty())
                        .then(|| limits.egress_allow.clone()),
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
        ProjectCommand::Limits {
            name,
            development_memory_mib,
            staging_memory_mib,
            production_memory_mib,
            egress_allow,
            no_egress_allow,
            json,
        } => {
            let change = LimitsChange {
                development_memory_mib: development_memory_mib.map(MemoryArg::mib),
                staging_memory_mib: staging_memory_mib.map(MemoryArg::mib),
                production_memory_mib: production_memory_mib.map(MemoryArg::mib),
                egress_allow: (no_egress_allow || !egress_allow.is_empty()).then_some(egress_allow),
            };
            let path = format!("/api/v1/projects/{}/limits", encode(&name));
            let project: Project = if change == LimitsChange::default() {
                let projects: Vec<Project> = client.get_json("/api/v1/projects")?;
                projects
                    .into_iter()
                    .find(|project| project.name == name)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "no project named '{name}' (slipway project list shows them)"
                        )
                    })?
            } else {
                client.patch_json(&path, &change)?
            };
            if json {
                print_json(&project.limits);
            } else {
                print_limits(&project);
            }
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

/// The limits a new project asks for (`project add`).
#[derive(clap::Args)]
pub struct NewLimitsArgs {
    /// Memory of a development build, in MiB (default: the worker's, a
    /// quarter of the host's between 1 and 4 GiB).
    #[arg(long, value_name = "MIB")]
    development_memory_mib: Option<u32>,
    /// Memory of a staging build or test duplicate, in MiB (default: a third
    /// of the host's, between 2 and 8 GiB).
    #[arg(long, value_name = "MIB")]
    staging_memory_mib: Option<u32>,
    /// Memory of production, in MiB (default: half the host's).
    #[arg(long, value_name = "MIB")]
    production_memory_mib: Option<u32>,
    /// An address development and staging builds may reach (TCP), e.g.
    /// 203.0.113.7:443, for an integration under test; repeat it for
    /// several. By default they reach nothing but their mail catcher.
    #[arg(long, value_name = "ADDRESS:PORT")]
    egress_allow: Vec<EgressTarget>,
}

/// A memory setting on the command line: MiB, or back to the default.
#[derive(Clone, Copy, Debug)]
pub enum MemoryArg {
    Mib(u32),
    Default,
}

impl MemoryArg {
    fn mib(self) -> Option<u32> {
        match self {
            MemoryArg::Mib(mib) => Some(mib),
            MemoryArg::Default => None,
        }
    }
}

impl std::str::FromStr for MemoryArg {
    type Err = String;

    fn from_str(text: &str) -> Result<MemoryArg, String> {
        if text == "default" {
            return Ok(MemoryArg::Default);
        }
        text.parse()
            .map(MemoryArg::Mib)
            .map_err(|_| format!("'{text}' is neither a number of MiB (e.g. 2048) nor 'default'"))
    }
}

fn print_limits(project: &Project) {
    let memory = |mib: Option<u32>| match mib {
        Some(mib) => ByteSize(u64::from(mib) << 20).to_string(),
        None => "the worker's default".to_string(),
    };
    let limits = &project.limits;
    println!("project {}", project.name);
    println!(
        "  development memory: {}",
        memory(limits.development_memory_mib)
    );
    println!(
        "  staging memory:     {}",
        memory(limits.staging_memory_mib)
    );
    println!(
        "  production memory:  {}",
        memory(limits.production_memory_mib)
    );
    if limits.egress_allow.is_empty() {
        println!("  development and staging reach: nothing but their mail catcher");
    } else {
        let targets: Vec<String> = limits
            .egress_allow
            .iter()
            .map(ToString::to_string)
            .collect();
        println!(
            "  development and staging reach: {} (and their mail catcher)",
            targets.join(", ")
        );
    }
}
