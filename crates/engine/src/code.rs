//! The code side of every build, before a database is touched: the exact
//! commit checked out, its addons read and planned, its Python requirements
//! installed. A production update does all this while production still serves.

use std::path::{Path, PathBuf};
use std::time::Instant;

use slipway_addons::Addon;
use slipway_image::Image;
use slipway_odoo_log::{Problem, Status};

use crate::host::hand_over;
use crate::modules::{self, ModulePlan};
use crate::odoo::OdooHost;
use crate::report::{BuildReport, TemplateUse};
use crate::requirements;
use crate::{BuildError, Engine, Event, Observer, PreparedBuild};

/// Which code a build runs.
pub(crate) struct CodeSpec<'a> {
    pub repo: &'a Path,
    pub commit: &'a str,
    /// Sub-folder of the repository whose addons are built ("" for all).
    pub subdir: &'a Path,
    pub submodules: slipway_checkout::SubmoduleSources,
    pub image: &'a Image,
    /// `None`: every installable addon of the repository.
    pub modules: Option<&'a [String]>,
}

/// A build's code, ready for Odoo.
pub(crate) struct StagedCode {
    pub dir: PathBuf,
    pub source: PathBuf,
    /// Odoo's data dir (filestore, sessions), owned by the build account.
    pub data: PathBuf,
    pub repo_addons: Vec<Addon>,
    pub plan: ModulePlan,
    pub pydeps: Option<PathBuf>,
}

impl BuildReport {
    /// A failed report until the build says otherwise.
    pub(crate) fn starting(id: &str, commit: &str, image: &Image, log: PathBuf) -> BuildReport {
        BuildReport {
            id: id.to_string(),
            status: Status::Failed,
            commit: commit.to_string(),
            odoo: image.meta.odoo.to_string(),
            modules: Vec::new(),
            tests: Default::default(),
            failed_tests: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            duration_s: 0.0,
            odoo_seconds: 0.0,
            log,
            template: TemplateUse::NotReached,
            kept: None,
        }
    }

    /// Ends the report as failed for a reason found before Odoo ran.
    fn fail_early(&mut self, message: String, started: Instant) {
        self.errors.push(Problem {
            message,
            traceback: None,
            line: 0,
        });
        self.duration_s = started.elapsed().as_secs_f64();
    }
}

impl Engine {
    pub(crate) fn odoo_host<'a>(&'a self, image: &'a Image) -> OdooHost<'a> {
        OdooHost {
            sandbox: self.sandbox.as_ref(),
            image,
            account: self.account,
            endpoint: &self.cluster.endpoint,
        }
    }

    /// Checks out, plans and installs requirements. `None`: the repository's
    /// fault (unresolvable dependency, failing requirements), recorded in
    /// `report` as a failed build; errors are slipway's or the input's.
    pub(crate) async fn stage_code(
        &self,
        build: &PreparedBuild,
        code: &CodeSpec<'_>,
        report: &mut BuildReport,
        observer: &dyn Observer,
        started: Instant,
    ) -> Result<Option<StagedCode>, BuildError> {
        let dir = self.layout.build(&build.id);
        let logs = self.layout.logs(&build.id);
        build.tracker.dir(&dir)?;
        std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
        std::fs::create_dir_all(&logs).map_err(BuildError::io("creating", &logs))?;

        observer.event(Event::Step(&format!(
            "checking out {}",
            crate::development::short(code.commit)
        )));
        let source = dir.join("src");
        let (repo, commit, source_for_checkout) = (
            code.repo.to_path_buf(),
            code.commit.to_string(),
            source.clone(),
        );
        let submodules = code.submodules;
        tokio::task::spawn_blocking(move || {
            slipway_checkout::checkout_with(&repo, &commit, &source_for_checkout, submodules)
        })
        .await
        .expect("checkout does not panic")?;

        observer.event(Event::Step("reading manifests"));
        let repo_addons = modules::repository_addons(&source.join(code.subdir))
            .map_err(|error| user_paths(error, code.repo, code.subdir, &source))?;
        let selected = modules::select(&repo_addons, code.modules)?;
        let core_addons = modules::core_addons(code.image, &self.layout.templates())?;
        report.modules = selected.clone();
        let plan = match modules::plan(&source, &repo_addons, &core_addons, selected)? {
            Ok(plan) => plan,
            Err(dependency) => {
                // The repository's fault, found before starting Odoo: a failed
                // build with the reason, not an infrastructure error.
                let message = format!("cannot install the modules: {dependency}");
                std::fs::write(&report.log, format!("{message}\n"))
                    .map_err(BuildError::io("writing", &report.log))?;
                report.fail_early(message, started);
                return Ok(None);
            }
        };

        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(BuildError::io("creating", &data))?;
        hand_over(&data, self.account).map_err(BuildError::io("chown", &data))?;
        let host = self.odoo_host(code.image);
        let requirement_files: Vec<PathBuf> = requirements::find(&source.join(code.subdir))
            .into_iter()
            .map(|file| code.subdir.join(file))
            .collect();
        let pydeps = if requirement_files.is_empty() {
            None
        } else {
            let pip_log = logs.join("pip.log");
            match requirements::install(
                &self.layout,
                &host,
                &source,
                &requirement_files,
                &pip_log,
                observer,
            )
            .await?
            {
                requirements::Installed::Ready(dir) => Some(dir),
                requirements::Installed::Failed(message) => {
                    report.log = pip_log;
                    report.fail_early(message, started);
                    return Ok(None);
                }
            }
        };
        Ok(Some(StagedCode {
            dir,
            source,
            data,
            repo_addons,
            plan,
            pydeps,
        }))
    }
}

/// Errors name the user's repository, not our temporary checkout.
fn user_paths(error: BuildError, repo: &Path, subdir: &Path, source: &Path) -> BuildError {
    match error {
        BuildError::NoAddons(_) => BuildError::NoAddons(repo.to_path_buf()),
        BuildError::Addons(slipway_addons::DiscoveryError::Manifest {
            path,
            line,
            column,
            message,
        }) => {
            let repo_root = repo
                .ancestors()
                .nth(subdir.components().count())
                .unwrap_or(repo);
            let path = path
                .strip_prefix(source)
                .map(|relative| repo_root.join(relative))
                .unwrap_or(path);
            BuildError::Addons(slipway_addons::DiscoveryError::Manifest {
                path,
                line,
                column,
                message,
            })
        }
        other => other,
    }
}
