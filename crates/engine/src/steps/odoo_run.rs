//! Step: Odoo runs. The `odoo.conf` of the build (this database, this role,
//! nothing else), then one run of Odoo in the sandbox: install and test,
//! install or update, or build a template. Its output goes to the log file
//! and to the log analyser line by line ([`crate::odoo`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_odoo_log::IgnoreRules;
use slipway_postgres::random_secret;
use slipway_sandbox::Network;

use crate::config::{OdooConfig, ServiceOptions};
use crate::layout::BuildDir;
use crate::modules::ModulePlan;
use crate::odoo::{OdooOutcome, OdooRun, DATA_MOUNT, SOURCE_MOUNT};
use crate::odoo_install::OdooInstall;
use crate::steps::database::Database;
use crate::steps::requirements::Pydeps;
use crate::steps::update_plan::UpdatePlan;
use crate::{BuildError, Engine, Event, Observer};

/// Odoo's HTTP port inside the sandbox (its own network namespace, so every
/// build can use the same one).
const HTTP_PORT: u16 = 8069;

/// What one Odoo run does.
pub(crate) enum Task<'a> {
    /// Install `modules` with demo data and run the tests `test_tags` select
    /// (a development build, a template without tests).
    InstallAndTest {
        modules: &'a [String],
        test_tags: Option<String>,
    },
    /// Install and update what `plan` says, without demo data (deployments).
    Deploy {
        plan: &'a UpdatePlan,
        update_all: bool,
    },
    /// Odoo's own neutralization of a copy (`odoo neutralize`, 16.0+).
    Neutralize,
}

/// The files one Odoo run of a build sees.
pub(crate) struct RunFiles<'a> {
    pub data: &'a Path,
    pub source: Option<PathBuf>,
    pub pydeps: Option<&'a Path>,
    pub config: PathBuf,
}

impl<'a> RunFiles<'a> {
    /// A build's run: its checkout, its requirements, its database's data dir.
    pub fn of_build(dir: &BuildDir, pydeps: &'a Pydeps, database: &'a Database) -> RunFiles<'a> {
        RunFiles {
            data: &database.data,
            source: Some(dir.source()),
            pydeps: pydeps.0.as_deref(),
            config: dir.config(),
        }
    }
}

/// One Odoo run.
pub(crate) struct Job<'a> {
    pub database: &'a str,
    pub task: Task<'a>,
    pub log_file: &'a Path,
    pub time_limit: Duration,
    pub network: Network,
    /// The build's control groups (ServiceOptions::cgroups).
    pub cgroups: Vec<std::path::PathBuf>,
    pub rules: IgnoreRules,
}

impl Engine {
    /// Runs `odoo` on `files` for `job`, to completion or its limit.
    pub(crate) async fn run_odoo(
        &self,
        odoo: &OdooInstall,
        files: &RunFiles<'_>,
        job: Job<'_>,
        observer: &dyn Observer,
    ) -> Result<OdooOutcome, BuildError> {
        if let Some(step) = job.task.describe() {
            observer.event(Event::Step(&step));
        }
        let (command, args) = job.task.command_line(job.database, odoo);
        self.odoo_host(odoo)
            .run(
                OdooRun {
                    data_dir: files.data,
                    source_dir: files.source.as_deref(),
                    pydeps_dir: files.pydeps,
                    config_file: &files.config,
                    command,
                    args,
                    time_limit: job.time_limit,
                    log_file: job.log_file,
                    network: job.network,
                    cgroups: job.cgroups,
                },
                job.rules,
                observer,
            )
            .await
    }

    /// Writes the `odoo.conf` of one Odoo run: this database, this role,
    /// nothing else.
    pub(crate) fn write_config(
        &self,
        odoo: &OdooInstall,
        path: &Path,
        database: &Database,
        addons_path: &[String],
        service: &ServiceOptions,
    ) -> Result<(), BuildError> {
        let host = self.odoo_host(odoo);
        let (db_host, db_port) = host.database_address();
        OdooConfig {
            db_host: &db_host,
            db_port,
            db_user: &database.role,
            db_password: &database.password,
            db_name: &database.name,
            addons_path,
            data_dir: DATA_MOUNT,
            admin_password: &random_secret(18),
            http_port: HTTP_PORT,
            service,
        }
        .write(path, host.account)
    }
}

impl Task<'_> {
    /// Odoo's command (none: the server) and its options after `--config`.
    fn command_line(
        &self,
        database: &str,
        odoo: &OdooInstall,
    ) -> (Option<&'static str>, Vec<String>) {
        let mut args = vec!["--database".to_string(), database.to_string()];
        let odoo = odoo.series();
        match self {
            Task::InstallAndTest { modules, test_tags } => {
                args.extend(["--init".to_string(), modules.join(",")]);
                if let Some(tags) = test_tags {
                    args.extend([
                        "--test-enable".to_string(),
                        "--test-tags".to_string(),
                        tags.clone(),
                    ]);
                }
                args.push("--stop-after-init".to_string());
                if odoo.demo_is_opt_in() {
                    args.push("--with-demo".to_string());
                }
                (None, args)
            }
            Task::Deploy { plan, update_all } => {
                if !plan.install.is_empty() {
                    args.extend(["--init".to_string(), plan.install.join(",")]);
                }
                if *update_all {
                    args.extend(["--update".to_string(), "all".to_string()]);
                } else if !plan.update.is_empty() {
                    args.extend(["--update".to_string(), plan.update.join(",")]);
                }
                if !odoo.demo_is_opt_in() {
                    args.push("--without-demo=all".to_string());
                }
                args.push("--stop-after-init".to_string());
                (None, args)
            }
            Task::Neutralize => (Some("neutralize"), args),
        }
    }

    /// The step a progress display shows; `None` when the caller says it.
    fn describe(&self) -> Option<String> {
        match self {
            Task::InstallAndTest {
                modules,
                test_tags: Some(_),
            } => Some(format!("installing and testing {}", modules.join(", "))),
            Task::InstallAndTest { .. } | Task::Neutralize => None,
            Task::Deploy { plan, update_all } => {
                let mut parts = Vec::new();
                if !plan.install.is_empty() {
                    parts.push(format!("installing {}", plan.install.join(", ")));
                }
                if *update_all {
                    parts.push("updating all modules".to_string());
                } else if !plan.update.is_empty() {
                    parts.push(format!("updating {}", plan.update.join(", ")));
                }
                Some(parts.join("; "))
            }
        }
    }
}

/// The tests a development build runs: `test_tags` when given, else the
/// selected modules' own (`/module,...`).
pub(crate) fn test_tags(given: Option<&str>, plan: &ModulePlan) -> String {
    given.map(str::to_string).unwrap_or_else(|| {
        plan.selected
            .iter()
            .map(|module| format!("/{module}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Odoo's addons path inside the sandbox, in Odoo.sh's order: every
/// directory of the checkout that holds addons (the project's modules win
/// over others of the same name), then Odoo's ([`OdooInstall::addons_path`]).
pub(crate) fn addons_path(odoo: &OdooInstall, plan: &ModulePlan) -> Vec<String> {
    let mut path: Vec<String> = plan
        .repo_addons_dirs
        .iter()
        .map(|dir| {
            let inside = Path::new(SOURCE_MOUNT).join(dir);
            inside.to_string_lossy().trim_end_matches('/').to_string()
        })
        .collect();
    path.extend(odoo.addons_path());
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_installs_and_updates_only_what_its_plan_says() {
        let plan = UpdatePlan {
            install: vec!["shop_extra".into()],
            update: vec!["shop".into()],
        };
        let task = Task::Deploy {
            plan: &plan,
            update_all: false,
        };
        assert_eq!(
            task.describe().as_deref(),
            Some("installing shop_extra; updating shop")
        );
        let all = Task::Deploy {
            plan: &plan,
            update_all: true,
        };
        assert_eq!(
            all.describe().as_deref(),
            Some("installing shop_extra; updating all modules")
        );
    }
}
