//! Builds that carry a database forward (Odoo.sh's production and staging):
//! the database is created once without demo data, then every build works on
//! a *copy* of the previous one and updates only what changed.
//!
//! Working on a copy is what makes a failed production update harmless: the
//! database the previous build serves is never written by the update, so
//! "rolling back" is serving it again. The copy is file level (`CREATE
//! DATABASE ... TEMPLATE`, filestore hard-linked): its time grows with the
//! size of the files, not with the rows rewritten.
//!
//! Two calls, so that the caller can stop the old server in between:
//! [`Engine::stage_deployment`] (checkout, plan, requirements: production still
//! serves) and [`Engine::deploy`] (database, neutralization, update).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipway_odoo_log::{Analysis, IgnoreRules, Status};

use crate::config::ServiceOptions;
use crate::odoo_install::OdooInstall;
use crate::report::{BuildReport, TemplateUse};
use crate::steps::code::{Code, CodeSpec};
use crate::steps::database::Origin as DatabaseOrigin;
use crate::steps::neutralize::Neutralize;
use crate::steps::odoo_run::{addons_path, Job, RunFiles, Task};
use crate::steps::requirements::Pydeps;
use crate::steps::update_plan::{plan_update, record_checksums, tracked_addons, UpdatePlan};
use crate::steps::verdict::check_installed;
use crate::{BuildError, Engine, Event, LogFile, Observer, PreparedBuild, StepClock};

/// One build that carries a database forward.
#[derive(Debug, Clone)]
pub struct DeploymentRequest {
    pub repo: PathBuf,
    pub commit: String,
    pub submodules: slipway_checkout::SubmoduleSources,
    /// The Odoo it runs.
    pub odoo: OdooInstall,
    /// `None`: every installable addon of the repository.
    pub modules: Option<Vec<String>>,
    pub origin: Origin,
    /// Neutralize the copy (staging, duplicates); `None` for production.
    pub neutralize: Option<Neutralize>,
    /// `-u all` instead of only the modules whose code changed.
    pub update_all: bool,
    pub service: ServiceOptions,
    pub ignore_rules: Vec<String>,
    /// Wall-clock limit of each Odoo run.
    pub time_limit: Duration,
}

/// The database a deployment starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A new database: the modules installed, no demo data.
    New,
    /// A copy of a kept build's database and filestore (its engine id).
    CopyOf { build_id: String },
    /// A backup restored (production to an earlier state, a staging branch
    /// or a test instance on production's data, an import).
    Restore {
        backup: Box<slipway_backup::Backup>,
        pg_restore: PathBuf,
    },
}

/// A deployment whose code is ready ([`Engine::stage_deployment`]).
pub struct StagedDeployment {
    code: Code,
    pydeps: Pydeps,
    report: BuildReport,
    started: Instant,
}

/// What [`Engine::stage_deployment`] ended with.
pub enum Staged {
    Ready(Box<StagedDeployment>),
    /// The repository's fault (dependencies, requirements): a failed report.
    Failed(Box<BuildReport>),
}

impl Engine {
    /// Checks out and prepares the code; touches no database. On error, or
    /// when the repository fails, everything the build created is removed.
    pub async fn stage_deployment(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        observer: &dyn Observer,
    ) -> Result<Staged, BuildError> {
        let started = Instant::now();
        let staged = self.stage_steps(build, request, observer).await;
        if !matches!(staged, Ok(Staged::Ready(_))) {
            self.discard_quietly(build).await;
        }
        match staged {
            Ok(Staged::Ready(mut ready)) => {
                ready.started = started;
                Ok(Staged::Ready(ready))
            }
            Ok(Staged::Failed(mut report)) => {
                report.duration_s = started.elapsed().as_secs_f64();
                Ok(Staged::Failed(report))
            }
            Err(error) => Err(error),
        }
    }

    /// checkout → requirements.
    async fn stage_steps(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        observer: &dyn Observer,
    ) -> Result<Staged, BuildError> {
        let log = match request.origin {
            Origin::New => LogFile::Install,
            Origin::CopyOf { .. } | Origin::Restore { .. } => LogFile::Update,
        };
        let log_file = self.layout().log(&build.id, log);
        let mut report = BuildReport::starting(&build.id, &request.commit, &request.odoo, log_file);
        report.template = TemplateUse::Disabled;
        let spec = CodeSpec {
            repo: &request.repo,
            commit: &request.commit,
            subdir: Path::new(""),
            submodules: request.submodules,
            odoo: &request.odoo,
            modules: request.modules.as_deref(),
        };
        let Some(code) = self.check_out(build, &spec, &mut report, observer).await? else {
            return Ok(Staged::Failed(Box::new(report)));
        };
        let network = &request.service.requirements_network;
        let Some(pydeps) = self
            .install_requirements(build, &code, &spec, network, &mut report, observer)
            .await?
        else {
            return Ok(Staged::Failed(Box::new(report)));
        };
        Ok(Staged::Ready(Box::new(StagedDeployment {
            code,
            pydeps,
            report,
            started: Instant::now(),
        })))
    }

    /// Prepares the database (new, or a copy, neutralized if asked) and
    /// installs/updates the modules. A passing build is kept, ready to serve
    /// ([`Engine::serve`]); a failing one, or an error, removes everything the
    /// build created and never touches the origin's database or files.
    pub async fn deploy(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        staged: StagedDeployment,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let started = staged.started;
        let clock = StepClock::new(observer);
        let result = self.deploy_steps(build, request, staged, &clock).await;
        clock.switch(None);
        let servable =
            |report: &BuildReport| report.status != Status::Failed && report.kept.is_some();
        self.conclude(build, result, servable, started).await
    }

    /// database (new or copied) → [neutralize] → plan → Odoo installs and
    /// updates → verdict → checksums recorded, kept.
    async fn deploy_steps(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        staged: StagedDeployment,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let StagedDeployment {
            code,
            pydeps,
            mut report,
            ..
        } = staged;
        let odoo = &request.odoo;
        let origin = match &request.origin {
            Origin::New => DatabaseOrigin::New { settled: true },
            Origin::CopyOf { build_id } => DatabaseOrigin::CopyOf {
                build_id,
                fresh_identity: request.neutralize.is_some(),
            },
            Origin::Restore { backup, pg_restore } => DatabaseOrigin::Restore {
                backup,
                pg_restore,
                series: odoo.series().to_string(),
                fresh_identity: request.neutralize.is_some(),
            },
        };
        let database = self
            .prepare_database(build, &code.dir, origin, observer)
            .await?;
        let files = RunFiles::of_build(&code.dir, &pydeps, &database);
        let addons = addons_path(odoo, &code.plan);
        self.write_config(odoo, &files.config, &database, &addons, &request.service)?;
        if let Some(neutralize) = &request.neutralize {
            self.neutralize_copy(build, odoo, &files, neutralize, &request.service, observer)
                .await?;
        }

        observer.event(Event::Step("planning the update"));
        let tracked = tracked_addons(odoo, &code.repo_addons, &self.layout().templates())?;
        let plan = match request.origin {
            Origin::New => UpdatePlan::install(&code.plan.selected),
            Origin::CopyOf { .. } | Origin::Restore { .. } => {
                plan_update(
                    self.cluster(),
                    &database.name,
                    &tracked,
                    &code.plan.selected,
                )
                .await?
            }
        };
        let update_all = request.update_all && request.origin != Origin::New;
        let mut analysis = if plan.install.is_empty() && plan.update.is_empty() && !update_all {
            nothing_to_update(&report.log)?
        } else {
            let job = Job {
                database: &database.name,
                task: Task::Deploy {
                    plan: &plan,
                    update_all,
                },
                log_file: &report.log,
                time_limit: request.time_limit,
                network: request.service.network.clone(),
                cgroups: request.service.cgroups.clone(),
                rules: IgnoreRules::new(&request.ignore_rules)?,
            };
            let outcome = self.run_odoo(odoo, &files, job, observer).await?;
            report.odoo_seconds += outcome.seconds;
            outcome.analysis
        };

        check_installed(
            self.cluster(),
            &database.name,
            &code.plan.selected,
            &mut analysis,
        )
        .await?;
        report.record_verdict(analysis);
        if report.status != Status::Failed {
            record_checksums(self.cluster(), &database.name, &tracked).await?;
            report.kept = Some(self.keep(odoo, &code.dir, &files, &database)?);
        }
        Ok(report)
    }
}

/// No module of the repository changed: nothing runs, so nothing fails (the
/// copy's modules loaded in the build it comes from). The log says so.
fn nothing_to_update(log_file: &Path) -> Result<Analysis, BuildError> {
    std::fs::write(
        log_file,
        "no module of the repository changed since the database's last update; nothing to install or update\n",
    )
    .map_err(BuildError::io("writing", log_file))?;
    Ok(Analysis {
        modules_loaded: true,
        ..Default::default()
    })
}
