//! Recognition of what Odoo logs about its test runs.
//!
//! Everything here was read from the Odoo sources and checked against real
//! logs (see `tests/fixtures/README.md`). Messages are matched on the first
//! message line only; loggers are checked where a message alone could be
//! ambiguous.
//!
//! # 14.0
//!
//! * Each test logs `Starting <Class>.<method> ...` (INFO) through the logger
//!   of its Python module, e.g. `odoo.addons.demo.tests.test_x`
//!   (`odoo/tests/runner.py`, `OdooTestResult.startTest`).
//! * A failure or error logs `FAIL: <Class>.<method>` / `ERROR: <Class>.<method>`
//!   (ERROR) through the same logger, the traceback in the same record;
//!   a skip logs `skipped <Class>.<method>` (INFO).
//! * After the at_install tests of a module, if any failed
//!   (`odoo/modules/loading.py`), `odoo.modules.loading` logs (ERROR)
//!   `Module <name>: <F> failures, <E> errors of <N> tests`.
//!   Only failing modules get this line, and only for at_install tests.
//! * At the end of loading, `odoo.modules.loading` logs `Modules loaded.`
//!   (INFO) when all at_install tests passed, and
//!   `At least one test failed when loading the modules.` (ERROR) instead
//!   when some did not.
//! * post_install tests then run for all modules, followed by
//!   `<N> post-tests in <T>s, <Q> queries` (INFO, `odoo.service.server`).
//! * With `--stop-after-init`, the threaded server finally logs, once per
//!   database, `<F> failed, <E> error(s) of <N> tests when loading database '<db>'`
//!   through `odoo.tests.runner`: ERROR if anything failed, WARNING if no test
//!   ran at all, INFO otherwise. This is the registry's whole assertion
//!   report: at_install and post_install tests of every module.
//!
//! # 19.0 (17.0 and 18.0 read the same)
//!
//! The same messages, with these differences:
//!
//! * `OdooTestResult` lives in `odoo/tests/result.py`, so the per-database
//!   total is logged through `odoo.tests.result`;
//! * skips log `skipped <Class>.<method> : <reason>`;
//! * subtest failures are described as `Subtest <Class>.<method> (<params>)`
//!   (14.0: `Subtest (<params>)`);
//! * a test module that cannot be imported is no longer caught by
//!   `odoo/tests/loader.py` (14.0 logs ``Can not `import <module>`.`` through
//!   `odoo.tests.loader` and carries on): the exception aborts the registry
//!   load and `odoo.service.server` logs
//!   ``Failed to initialize database `<db>`.`` (CRITICAL) with the traceback,
//!   with neither `Modules loaded.` nor a test total after it;
//! * an extra `odoo.tests.stats` line per module (`<module>: <N> tests …`)
//!   is timing statistics keyed by test id, not a test count (our real 19.0
//!   log says `6 tests` for a module that ran 4), so it is not used.
//!
//! # Counting without double counting
//!
//! The per-database total already contains every per-module line and every
//! post-test, so when it is present it is the count, summed over databases
//! (and over processes, should a log hold several Odoo runs). The per-module
//! and post-test lines are only used when the run ended before Odoo printed
//! its total (killed, crashed, or not run with `--stop-after-init`); then the
//! counts are rebuilt from the per-test lines, never lower than what the
//! per-module lines and post-test line report. Odoo prints no total of
//! skipped tests, so `skipped` is always the number of `skipped …` lines;
//! skipped tests are included in `run`, as in Odoo's own count.

use std::sync::LazyLock;

use regex::Regex;

use crate::level::Level;
use crate::record::Record;

static DATABASE_TOTAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database (.+)$")
        .expect("valid regex")
});
static MODULE_SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
    // " of N tests" since 14.0; older series stop after "errors".
    Regex::new(r"^Module (\S+): (\d+) failures, (\d+) errors(?: of (\d+) tests)?$")
        .expect("valid regex")
});
static POST_TESTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+) post-tests in ").expect("valid regex"));
static STARTING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Starting \S+ \.\.\.$").expect("valid regex"));
static FAILURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(FAIL|ERROR): (.+)$").expect("valid regex"));

/// `Modules loaded.`: registry loading finished, all at_install tests passed.
pub const MODULES_LOADED: &str = "Modules loaded.";
/// Logged by Odoo *instead of* [`MODULES_LOADED`] when at_install tests failed.
pub const MODULES_LOADED_WITH_FAILURES: &str = "At least one test failed when loading the modules.";

/// Counts from one of Odoo's summary lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub run: u32,
    pub failed: u32,
    pub errors: u32,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.run = self.run.saturating_add(other.run);
        self.failed = self.failed.saturating_add(other.failed);
        self.errors = self.errors.saturating_add(other.errors);
    }
}

/// A test-related fact carried by one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TestEvent {
    /// `… when loading database '<db>'`: the complete count for a database.
    DatabaseTotal {
        database: String,
        counts: Counts,
    },
    /// `Module <m>: …`: at_install tests of one failing module (`run` is 0
    /// before 14.0, which did not print it).
    ModuleSummary(Counts),
    /// `<N> post-tests in …`
    PostTests(u32),
    Started,
    Skipped,
    /// `FAIL: …` (`failure == true`) or `ERROR: …`, with the test's name.
    Failed {
        failure: bool,
        name: String,
    },
    /// `Modules loaded.` or its failing-tests counterpart.
    LoadingFinished,
}

/// Loggers that carry per-test lines: the test's own module
/// (`odoo.addons.<m>.tests.<file>`, `odoo.upgrade.<m>.tests.<file>`), Odoo's
/// test package, or `unittest.*` for class-level errors reported through
/// unittest's `_ErrorHolder`.
fn is_test_logger(logger: &str) -> bool {
    logger.contains(".tests.")
        || logger.ends_with(".tests")
        || logger.starts_with("odoo.tests")
        || logger.starts_with("unittest")
}

fn number(s: &str) -> u32 {
    // Saturate rather than fail: a count too large for u32 is still large.
    s.parse::<u64>()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// The name reported for a failed test.
///
/// Odoo logs through the test module's logger and prints `<Class>.<method>`,
/// so the two are joined into the unittest id
/// (`odoo.addons.demo.tests.test_x.TestX.test_y`). Descriptions that are not
/// a plain dotted name (subtests, `setUpClass (…)` errors) are kept verbatim,
/// prefixed by the module when it is known.
pub(crate) fn test_name(logger: &str, description: &str) -> String {
    let dotted = !description.is_empty()
        && description
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    let module_known = logger.starts_with("odoo.addons.") || logger.starts_with("odoo.upgrade.");
    match (module_known, dotted) {
        (true, true) => format!("{logger}.{description}"),
        (true, false) => format!("{logger}: {description}"),
        (false, _) => description.to_owned(),
    }
}

pub(crate) fn classify(record: &Record) -> Option<TestEvent> {
    let msg = record.message.as_str();
    if let Some(c) = DATABASE_TOTAL.captures(msg) {
        return Some(TestEvent::DatabaseTotal {
            database: c[4].to_owned(),
            counts: Counts {
                failed: number(&c[1]),
                errors: number(&c[2]),
                run: number(&c[3]),
            },
        });
    }
    let loading = record.logger.ends_with(".modules.loading");
    if loading && (msg == MODULES_LOADED || msg == MODULES_LOADED_WITH_FAILURES) {
        return Some(TestEvent::LoadingFinished);
    }
    if loading || record.logger.ends_with(".modules.module") {
        if let Some(c) = MODULE_SUMMARY.captures(msg) {
            return Some(TestEvent::ModuleSummary(Counts {
                failed: number(&c[2]),
                errors: number(&c[3]),
                run: c.get(4).map_or(0, |m| number(m.as_str())),
            }));
        }
    }
    if let Some(c) = POST_TESTS.captures(msg) {
        return Some(TestEvent::PostTests(number(&c[1])));
    }
    if !is_test_logger(&record.logger) {
        return None;
    }
    if record.level.is_error() {
        if let Some(c) = FAILURE.captures(msg) {
            return Some(TestEvent::Failed {
                failure: &c[1] == "FAIL",
                name: test_name(&record.logger, &c[2]),
            });
        }
    }
    if record.level == Level::Info {
        if STARTING.is_match(msg) {
            return Some(TestEvent::Started);
        }
        if msg.starts_with("skipped ") {
            return Some(TestEvent::Skipped);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Option<TestEvent> {
        classify(&Record::parse(line, 1).expect("header"))
    }

    #[test]
    fn database_total_both_loggers() {
        let v14 = event("2026-11-21 10:08:24,638 2 ERROR b1 odoo.tests.runner: 1 failed, 1 error(s) of 3 tests when loading database 'b1' ");
        assert_eq!(
            v14,
            Some(TestEvent::DatabaseTotal {
                database: "'b1'".into(),
                counts: Counts {
                    run: 3,
                    failed: 1,
                    errors: 1
                }
            })
        );
        let v19 = event("2025-01-01 00:00:00,000 5 INFO db odoo.tests.result: 0 failed, 0 error(s) of 680 tests when loading database 'db' ");
        assert!(matches!(
            v19,
            Some(TestEvent::DatabaseTotal {
                counts: Counts { run: 680, .. },
                ..
            })
        ));
    }

    #[test]
    fn module_summaries() {
        let e = event("2026-11-21 10:08:20,511 2 ERROR b1 odoo.modules.loading: Module demo_addon: 1 failures, 1 errors of 3 tests ");
        assert_eq!(
            e,
            Some(TestEvent::ModuleSummary(Counts {
                run: 3,
                failed: 1,
                errors: 1
            }))
        );
        let legacy = event("2015-03-19 13:25:00,000 1 ERROR db openerp.modules.module: Module sale: 2 failures, 0 errors");
        assert_eq!(
            legacy,
            Some(TestEvent::ModuleSummary(Counts {
                run: 0,
                failed: 2,
                errors: 0
            }))
        );
        // Same words from another logger are not a summary.
        assert_eq!(event("2025-01-01 00:00:00,000 5 ERROR db odoo.x: Module a: 1 failures, 0 errors of 1 tests"), None);
    }

    #[test]
    fn per_test_lines() {
        assert_eq!(
            event("2026-11-21 10:08:20,417 2 INFO b1 odoo.addons.demo.tests.test_thing: Starting TestThing.test_create ... "),
            Some(TestEvent::Started)
        );
        assert_eq!(
            event("2026-11-21 10:08:20,417 2 INFO b1 odoo.service.server: Starting post tests "),
            None
        );
        assert_eq!(
            event("2026-11-21 10:08:20,474 2 ERROR b1 odoo.addons.demo.tests.test_thing: FAIL: TestThing.test_fail"),
            Some(TestEvent::Failed { failure: true, name: "odoo.addons.demo.tests.test_thing.TestThing.test_fail".into() })
        );
        assert_eq!(
            event("2025-01-01 00:00:00,000 5 ERROR db odoo.addons.demo.tests.test_thing: ERROR: Subtest TestThing.test_sub (i=1)"),
            Some(TestEvent::Failed { failure: false, name: "odoo.addons.demo.tests.test_thing: Subtest TestThing.test_sub (i=1)".into() })
        );
        assert_eq!(
            event("2025-01-01 00:00:00,000 5 ERROR db unittest.suite: ERROR: setUpClass (odoo.addons.demo.tests.test_thing.TestThing)"),
            Some(TestEvent::Failed { failure: false, name: "setUpClass (odoo.addons.demo.tests.test_thing.TestThing)".into() })
        );
        assert_eq!(
            event("2025-01-01 00:00:00,000 5 INFO db odoo.addons.demo.tests.test_thing: skipped TestThing.test_skip : not today"),
            Some(TestEvent::Skipped)
        );
        // An application logger saying "ERROR: …" is not a failed test.
        assert_eq!(
            event("2025-01-01 00:00:00,000 5 ERROR db odoo.addons.demo.models.x: ERROR: nope"),
            None
        );
    }

    #[test]
    fn loading_finished_both_variants() {
        assert_eq!(
            event("2026-11-21 10:08:24,596 2 INFO b1 odoo.modules.loading: Modules loaded. "),
            Some(TestEvent::LoadingFinished)
        );
        assert_eq!(
            event("2026-11-21 10:08:24,596 2 ERROR b1 odoo.modules.loading: At least one test failed when loading the modules. "),
            Some(TestEvent::LoadingFinished)
        );
        assert_eq!(
            event("2026-11-21 10:08:24,596 2 INFO b1 odoo.other: Modules loaded."),
            None
        );
    }

    #[test]
    fn huge_counts_saturate() {
        assert_eq!(number("99999999999"), u32::MAX);
    }
}
