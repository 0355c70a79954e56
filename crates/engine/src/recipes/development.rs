//! The development build (Odoo.sh's): a new database with demo data, the
//! repository's modules installed and their tests run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use slipway_odoo_log::IgnoreRules;

use crate::config::ServiceOptions;
use crate::odoo_install::OdooInstall;
use crate::report::{BuildReport, TemplateUse};
use crate::steps::code::CodeSpec;
use crate::steps::database::Origin;
use crate::steps::odoo_run::{addons_path, test_tags, Job, RunFiles, Task};
use crate::steps::verdict::check_installed;
use crate::{BuildError, Engine, LogFile, Observer, PreparedBuild, StepClock};

/// One development build to run.
#[derive(Debug, Clone)]
pub struct DevelopmentRequest {
    pub repo: PathBuf,
    pub commit: String,
    /// Sub-folder of the repository whose addons are built ("" for all).
    pub subdir: PathBuf,
    /// Where submodules may come from: local paths for a developer's own
    /// checkout, network URLs only for server builds.
    pub submodules: slipway_checkout::SubmoduleSources,
    /// The Odoo it runs.
    pub odoo: OdooInstall,
    /// `None`: every installable addon of the repository.
    pub modules: Option<Vec<String>>,
    /// `None`: the selected modules' own tests (`/module,...`).
    pub test_tags: Option<String>,
    pub use_template: bool,
    pub keep: bool,
    pub ignore_rules: Vec<String>,
    /// Wall-clock limit of the Odoo run.
    pub time_limit: Duration,
    /// Mail and scheduled actions of the build's Odoo (kept builds serve with it).
    pub service: ServiceOptions,
}

impl Engine {
    /// Runs the build to its report. On error, everything it created is removed;
    /// on success too, unless `request.keep`.
    pub async fn run_development(
        &self,
        build: &PreparedBuild,
        request: &DevelopmentRequest,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let started = Instant::now();
        let clock = StepClock::new(observer);
        clock.switch(Some("starting"));
        let result = self.development_steps(build, request, &clock).await;
        clock.switch(Some("cleaning up"));
        let kept = |report: &BuildReport| request.keep && report.kept.is_some();
        let result = self.conclude(build, result, kept, started).await;
        clock.switch(None);
        result
    }

    /// checkout → requirements → [template] → database → Odoo installs and
    /// tests → verdict → [kept].
    async fn development_steps(
        &self,
        build: &PreparedBuild,
        request: &DevelopmentRequest,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let rules = IgnoreRules::new(&request.ignore_rules)?;
        let odoo = &request.odoo;
        let log_file = self.layout().log(&build.id, LogFile::Tests);
        let mut report = BuildReport::starting(&build.id, &request.commit, odoo, log_file);
        let spec = CodeSpec {
            repo: &request.repo,
            commit: &request.commit,
            subdir: &request.subdir,
            submodules: request.submodules,
            odoo,
            modules: request.modules.as_deref(),
        };
        let Some(code) = self.check_out(build, &spec, &mut report, observer).await? else {
            return Ok(report);
        };
        let network = &request.service.requirements_network;
        let Some(pydeps) = self
            .install_requirements(build, &code, &spec, network, &mut report, observer)
            .await?
        else {
            return Ok(report);
        };

        let template = if request.use_template && !code.plan.external.is_empty() {
            Some(
                self.ensure_template(build, odoo, &code.plan, &request.service.cgroups, observer)
                    .await?,
            )
        } else {
            None
        };
        let origin = match &template {
            Some(template) => Origin::Template(&template.key),
            None => Origin::New { settled: false },
        };
        let database = self
            .prepare_database(build, &code.dir, origin, observer)
            .await?;
        report.template = match template {
            Some(template) => {
                report.odoo_seconds += template.odoo_seconds;
                template.used
            }
            None => TemplateUse::Disabled,
        };

        let files = RunFiles::of_build(&code.dir, &pydeps, &database);
        let addons = addons_path(odoo, &code.plan);
        self.write_config(odoo, &files.config, &database, &addons, &request.service)?;
        let job = Job {
            database: &database.name,
            task: Task::InstallAndTest {
                modules: &code.plan.selected,
                test_tags: Some(test_tags(request.test_tags.as_deref(), &code.plan)),
            },
            log_file: &report.log,
            time_limit: request.time_limit,
            network: request.service.network.clone(),
            cgroups: request.service.cgroups.clone(),
            rules,
        };
        let outcome = self.run_odoo(odoo, &files, job, observer).await?;
        report.odoo_seconds += outcome.seconds;
        tracing::info!(build = %build.id, exit = %outcome.exit, seconds = outcome.seconds, "Odoo finished");

        let mut analysis = outcome.analysis;
        check_installed(
            self.cluster(),
            &database.name,
            &code.plan.selected,
            &mut analysis,
        )
        .await?;
        report.record_verdict(analysis);
        if request.keep {
            report.kept = Some(self.keep(odoo, &code.dir, &files, &database)?);
        }
        Ok(report)
    }
}
