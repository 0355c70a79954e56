//! Step: the code. The exact commit checked out (submodules too), its addons
//! found and their manifests read, the modules to install chosen and their
//! dependencies ordered. Touches no database: a production update does this
//! while production still serves.

use std::path::{Path, PathBuf};

use crate::odoo_install::OdooInstall;
use slipway_addons::Addon;

use crate::layout::BuildDir;
use crate::modules::{self, ModulePlan};
use crate::report::BuildReport;
use crate::{BuildError, Engine, Event, Observer, PreparedBuild};

/// Which code a build runs.
pub(crate) struct CodeSpec<'a> {
    pub repo: &'a Path,
    pub commit: &'a str,
    /// Sub-folder of the repository whose addons are built ("" for all).
    pub subdir: &'a Path,
    pub submodules: slipway_checkout::SubmoduleSources,
    pub odoo: &'a OdooInstall,
    /// `None`: every installable addon of the repository.
    pub modules: Option<&'a [String]>,
}

/// A build's code, checked out and planned.
pub(crate) struct Code {
    pub dir: BuildDir,
    /// The repository's addons (all of them, installable or not).
    pub repo_addons: Vec<Addon>,
    pub plan: ModulePlan,
}

impl Engine {
    /// Checks out `spec` into the build's directory and plans its modules.
    /// `None`: a dependency cannot be installed, the repository's fault,
    /// recorded in `report` as a failed build; errors are slipway's or the
    /// input's.
    pub(crate) async fn check_out(
        &self,
        build: &PreparedBuild,
        spec: &CodeSpec<'_>,
        report: &mut BuildReport,
        observer: &dyn Observer,
    ) -> Result<Option<Code>, BuildError> {
        let dir = self.layout().build(&build.id);
        let logs = self.layout().logs(&build.id);
        build.tracker.dir(dir.root())?;
        for path in [dir.root(), &logs] {
            std::fs::create_dir_all(path).map_err(BuildError::io("creating", path))?;
        }

        observer.event(Event::Step(&format!("checking out {}", short(spec.commit))));
        let source = dir.source();
        let (repo, commit, into) = (
            spec.repo.to_path_buf(),
            spec.commit.to_string(),
            source.clone(),
        );
        let submodules = spec.submodules;
        tokio::task::spawn_blocking(move || {
            slipway_checkout::checkout_with(&repo, &commit, &into, submodules)
        })
        .await
        .expect("checkout does not panic")?;

        observer.event(Event::Step("reading manifests"));
        let repo_addons = modules::repository_addons(&source.join(spec.subdir))
            .map_err(|error| user_paths(error, spec.repo, spec.subdir, &source))?;
        let selected = modules::select(&repo_addons, spec.modules)?;
        let core_addons = modules::core_addons(spec.odoo, &self.layout().templates())?;
        report.modules = selected.clone();
        let plan = match modules::plan(&source, &repo_addons, &core_addons, selected)? {
            Ok(plan) => plan,
            Err(dependency) => {
                // Found before starting Odoo: a failed build with the reason,
                // not an infrastructure error.
                let message = format!("cannot install the modules: {dependency}");
                std::fs::write(&report.log, format!("{message}\n"))
                    .map_err(BuildError::io("writing", &report.log))?;
                report.fail_early(message);
                return Ok(None);
            }
        };
        Ok(Some(Code {
            dir,
            repo_addons,
            plan,
        }))
    }
}

/// A commit as people read it.
pub(crate) fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Errors name the user's repository, not our checkout of it.
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
            let path: PathBuf = path
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
