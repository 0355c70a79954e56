use std::path::PathBuf;

use crate::odoo_install::{OdooInstall, SourceTree};
use serde::Serialize;
use slipway_odoo_log::{Problem, Status, TestCounts};
use slipway_report::{Report, ReportedProblem, ReportedSource, RunReport};

/// How the build's database came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateUse {
    /// `--no-template`: every module installed from scratch.
    Disabled,
    /// Copied from an existing template.
    Reused { hash: String },
    /// A template was built first, then copied.
    Created { hash: String, seconds: u64 },
    /// The build never got to a database (e.g. a missing dependency).
    NotReached,
}

/// What `--keep` left in place.
#[derive(Debug, Clone, Serialize)]
pub struct KeptBuild {
    pub database: String,
    pub data_dir: PathBuf,
    /// A script that starts Odoo on the kept database, serving HTTP.
    pub start_script: PathBuf,
    pub http_port: u16,
}

/// The outcome of a build.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub id: String,
    pub status: Status,
    pub commit: String,
    pub odoo: String,
    /// The repository's modules that were installed and tested.
    pub modules: Vec<String>,
    pub tests: TestCounts,
    pub failed_tests: Vec<String>,
    pub errors: Vec<Problem>,
    pub warnings: Vec<String>,
    pub duration_s: f64,
    /// Time spent inside Odoo (template build included); the rest is slipway's.
    pub odoo_seconds: f64,
    pub log: PathBuf,
    pub template: TemplateUse,
    pub kept: Option<KeptBuild>,
    /// The source trees Odoo ran from (none for Debian's packaged Odoo).
    pub sources: Vec<SourceTree>,
}

impl BuildReport {
    /// A failed report until the build says otherwise.
    pub(crate) fn starting(
        id: &str,
        commit: &str,
        odoo: &OdooInstall,
        log: PathBuf,
    ) -> BuildReport {
        BuildReport {
            id: id.to_string(),
            status: Status::Failed,
            commit: commit.to_string(),
            odoo: odoo.series().to_string(),
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
            sources: odoo.sources.clone(),
        }
    }

    /// Marks the report failed for a reason found before Odoo ran (the
    /// repository's fault: a dependency, its requirements).
    pub(crate) fn fail_early(&mut self, message: String) {
        self.status = Status::Failed;
        self.errors.push(Problem {
            message,
            traceback: None,
            line: 0,
        });
    }

    /// The `slipway ci --json` object.
    pub fn run_report(&self) -> RunReport {
        RunReport {
            status: self.status,
            commit: self.commit.clone(),
            odoo: self.odoo.clone(),
            modules: self.modules.clone(),
            tests: self.tests,
            errors: self
                .errors
                .iter()
                .map(|problem| ReportedProblem {
                    message: problem.message.clone(),
                    traceback: problem.traceback.clone().unwrap_or_default(),
                })
                .collect(),
            warnings: self.warnings.clone(),
            duration_s: (self.duration_s * 1000.0).round() / 1000.0,
            log: self.log.clone(),
            sources: self
                .sources
                .iter()
                .map(|tree| ReportedSource {
                    name: tree.name.clone(),
                    url: tree.url.clone(),
                    commit: tree.commit.clone(),
                })
                .collect(),
        }
    }

    /// The report kept with a build of the platform.
    pub fn stored(&self) -> Report {
        Report {
            run: self.run_report(),
            failed_tests: self.failed_tests.clone(),
        }
    }
}
