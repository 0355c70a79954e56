//! The result of analysing a log, and the verdict derived from it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Test counts as reported by Odoo (see the [`summary`](crate::summary)
/// module documentation for where each number comes from).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    /// Tests started, skipped ones included (Odoo counts them the same way).
    pub run: u32,
    /// Assertion failures (`FAIL:`).
    pub failed: u32,
    /// Unexpected exceptions (`ERROR:`), including class-level set-up errors.
    pub errors: u32,
    /// Tests Odoo reported as skipped.
    pub skipped: u32,
}

/// Something that makes the run fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// One readable line, `logger: message` for log records.
    pub message: String,
    /// The lines that followed the record, usually a Python traceback
    /// (head and tail kept when very long).
    pub traceback: Option<String>,
    /// 1-based line in the log; 0 when the problem is not tied to a line
    /// (the end of the log was reached without `Modules loaded.`, or the
    /// caller added it with [`Analysis::add_error`]).
    pub line: usize,
}

/// The verdict, as the runbot / Odoo.sh colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Green.
    Success,
    /// Yellow: warnings, nothing failed.
    Warning,
    /// Red.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Warning => "warning",
            Status::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an Odoo log says about a run. Built by
/// [`LogAnalyzer`](crate::LogAnalyzer); the caller may add facts the log
/// cannot know ([`Analysis::add_error`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    pub tests: TestCounts,
    /// `true` when `tests` comes from Odoo's final per-database total(s);
    /// `false` when Odoo never printed one (run cut short, no
    /// `--stop-after-init`, multi-worker server) and the counts were rebuilt
    /// from per-test lines, which is a lower bound.
    pub tests_from_summary: bool,
    /// Errors, in log order; at most the analyzer's limit of them are kept
    /// (see `error_count` for the total), plus any added by the caller.
    pub errors: Vec<Problem>,
    /// `logger: message` of warnings, in log order, up to a limit.
    pub warnings: Vec<String>,
    /// Tests reported with `FAIL:` or `ERROR:`, up to a limit, without
    /// duplicates. Records demoted by ignore rules still name their test
    /// here: the test did fail, the rule only stops it from counting.
    pub failed_tests: Vec<String>,
    /// Odoo reported the end of registry loading. Odoo logs
    /// `Modules loaded.` or, when at_install tests failed,
    /// `At least one test failed when loading the modules.` in its place;
    /// either counts. Without one, the server died or was stopped before
    /// it finished installing.
    pub modules_loaded: bool,
    /// Error and warning records demoted by ignore rules.
    pub ignored: u32,
    /// All errors, including those not kept in `errors`.
    pub error_count: u32,
    /// All warnings, including those not kept in `warnings`.
    pub warning_count: u32,
    /// Number of log lines analysed.
    pub lines: usize,
}

impl Analysis {
    /// The verdict.
    ///
    /// * failed: any error (an ERROR or CRITICAL record, a traceback logged
    ///   at any level or before the first record, an error added by the
    ///   caller) or no `Modules loaded.`;
    /// * warning: otherwise, any WARNING record;
    /// * success: otherwise.
    ///
    /// Test counts do not enter into it directly: every failing test is also
    /// an ERROR record, and going through the records is what lets ignore
    /// rules demote a known failure.
    pub fn status(&self) -> Status {
        if self.error_count > 0 || !self.errors.is_empty() || !self.modules_loaded {
            Status::Failed
        } else if self.warning_count > 0 || !self.warnings.is_empty() {
            Status::Warning
        } else {
            Status::Success
        }
    }

    /// Records a failure the log cannot show: a non-zero exit code, a module
    /// left uninstalled, a timeout. It is always kept, whatever the limits,
    /// and makes the status `Failed`.
    pub fn add_error(&mut self, message: impl Into<String>) {
        self.errors.push(Problem {
            message: message.into(),
            traceback: None,
            line: 0,
        });
        self.error_count = self.error_count.saturating_add(1);
    }

    /// Records a warning from outside the log; the status becomes at least
    /// `Warning`.
    pub fn add_warning(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
        self.warning_count = self.warning_count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded() -> Analysis {
        Analysis {
            modules_loaded: true,
            ..Analysis::default()
        }
    }

    #[test]
    fn verdict_rules() {
        assert_eq!(loaded().status(), Status::Success);
        assert_eq!(Analysis::default().status(), Status::Failed);

        let mut a = loaded();
        a.add_warning("careful");
        assert_eq!(a.status(), Status::Warning);
        a.add_error("exit code 1");
        assert_eq!(a.status(), Status::Failed);
        assert_eq!((a.error_count, a.errors[0].line), (1, 0));
    }

    #[test]
    fn status_serializes_lowercase() {
        let json =
            serde_json::to_string(&[Status::Success, Status::Warning, Status::Failed]).unwrap();
        assert_eq!(json, r#"["success","warning","failed"]"#);
        let back: Status = serde_json::from_str(r#""failed""#).unwrap();
        assert_eq!(back, Status::Failed);
        assert_eq!(Status::Warning.to_string(), "warning");
    }
}
