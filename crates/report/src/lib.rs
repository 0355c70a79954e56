//! The report of a build run, one type for everyone who reads it: the engine
//! writes it, the control database keeps it (JSON in `builds.report`), the
//! API answers it, the build page and the CLI show it.
//!
//! Its JSON is [`RunReport`] — the `slipway ci --json` object, a documented
//! contract — plus the names of the failed tests ([`Report`]). Fields added
//! after the first version default when absent, so rows written by an older
//! slipway still read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
pub use slipway_odoo_log::{Status, TestCounts};

/// The `slipway ci --json` object: exactly its documented fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The verdict; a report without one is not a report.
    pub status: Status,
    #[serde(default)]
    pub commit: String,
    /// The Odoo version (`17.0`).
    #[serde(default)]
    pub odoo: String,
    /// The repository's modules that were installed and tested.
    #[serde(default)]
    pub modules: Vec<String>,
    #[serde(default)]
    pub tests: TestCounts,
    #[serde(default)]
    pub errors: Vec<ReportedProblem>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Wall-clock seconds, rounded to the millisecond.
    #[serde(default)]
    pub duration_s: f64,
    /// The Odoo log of the run.
    #[serde(default)]
    pub log: PathBuf,
    /// The repositories Odoo ran from, at their exact commits (Odoo itself,
    /// enterprise, more addons); empty for Debian's packaged Odoo.
    #[serde(default)]
    pub sources: Vec<ReportedSource>,
}

/// One repository Odoo ran from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedSource {
    /// `odoo`, `enterprise`, or the repository's name.
    pub name: String,
    /// Its address, never with credentials.
    pub url: String,
    /// 40 hex digits.
    pub commit: String,
}

/// Something that made the run fail, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedProblem {
    pub message: String,
    /// Usually a Python traceback; empty when the problem has none.
    #[serde(default)]
    pub traceback: String,
}

/// The report kept with a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    #[serde(flatten)]
    pub run: RunReport,
    /// The failed tests' names (the build page lists them); absent from
    /// reports written before the page listed them.
    #[serde(default)]
    pub failed_tests: Vec<String>,
}

/// A build's report as read back from where it was kept: a stored value that
/// does not parse is said to be unreadable, never shown as zero tests.
/// (Serialized as the report, or as the reason it is unreadable.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StoredReport {
    Readable(Report),
    /// Why it could not be read (serde's message, for the logs).
    Unreadable(String),
}

impl StoredReport {
    /// Reads a kept report's JSON.
    pub fn from_json(json: &str) -> StoredReport {
        match serde_json::from_str(json) {
            Ok(report) => StoredReport::Readable(report),
            Err(error) => StoredReport::Unreadable(error.to_string()),
        }
    }

    /// The report, when it could be read.
    pub fn readable(&self) -> Option<&Report> {
        match self {
            StoredReport::Readable(report) => Some(report),
            StoredReport::Unreadable(_) => None,
        }
    }
}

impl From<Report> for StoredReport {
    fn from(report: Report) -> StoredReport {
        StoredReport::Readable(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            run: RunReport {
                status: Status::Failed,
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                odoo: "17.0".into(),
                modules: vec!["demo".into()],
                tests: TestCounts {
                    run: 3,
                    failed: 1,
                    errors: 0,
                    skipped: 0,
                },
                errors: vec![ReportedProblem {
                    message: "FAIL: TestDemo.test_fail".into(),
                    traceback: "Traceback (most recent call last):".into(),
                }],
                warnings: vec![],
                duration_s: 12.5,
                log: "/var/lib/slipway/logs/odoo.log".into(),
                sources: vec![ReportedSource {
                    name: "odoo".into(),
                    url: "https://git.example.com/odoo/odoo.git".into(),
                    commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
                }],
            },
            failed_tests: vec!["TestDemo.test_fail".into()],
        }
    }

    #[test]
    fn the_kept_json_is_the_run_report_plus_the_failed_tests() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "failed",
                "commit": "0123456789abcdef0123456789abcdef01234567",
                "odoo": "17.0",
                "modules": ["demo"],
                "tests": {"run": 3, "failed": 1, "errors": 0, "skipped": 0},
                "errors": [{"message": "FAIL: TestDemo.test_fail",
                            "traceback": "Traceback (most recent call last):"}],
                "warnings": [],
                "duration_s": 12.5,
                "log": "/var/lib/slipway/logs/odoo.log",
                "sources": [{"name": "odoo", "url": "https://git.example.com/odoo/odoo.git",
                             "commit": "89abcdef0123456789abcdef0123456789abcdef"}],
                "failed_tests": ["TestDemo.test_fail"],
            })
        );
        let back = StoredReport::from_json(&json.to_string());
        assert_eq!(back, StoredReport::Readable(report()));
    }

    #[test]
    fn a_report_without_the_failed_tests_reads() {
        // As written before the failed tests were kept: `slipway ci --json`'s
        // object alone.
        let mut old = serde_json::to_value(report()).unwrap();
        old.as_object_mut().unwrap().remove("failed_tests");
        let StoredReport::Readable(read) = StoredReport::from_json(&old.to_string()) else {
            panic!("an older report is unreadable");
        };
        assert_eq!(read.run, report().run);
        assert!(read.failed_tests.is_empty());
    }

    #[test]
    fn a_report_that_does_not_parse_is_unreadable() {
        for json in [
            r#"{"status": "failed", "tests": "many"}"#,
            r#"{"status": "failed", "tests": 3}"#,
            r#"{"tests": {"run": 3, "failed": 1, "errors": 0, "skipped": 0}}"#,
            r#"["not", "a", "report"]"#,
        ] {
            let read = StoredReport::from_json(json);
            assert!(
                matches!(read, StoredReport::Unreadable(_)),
                "{json} read as {read:?}"
            );
            assert_eq!(read.readable(), None);
        }
    }
}
