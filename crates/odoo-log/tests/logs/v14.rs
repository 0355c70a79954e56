//! Odoo 14.0 runs.

use slipway_odoo_log::{IgnoreRules, Level, LogAnalyzer, Status, TestCounts};

use crate::{analyze_file, analyze_until, fixture, line_of, messages, TEST_LOGGER};

#[test]
fn v14_failing_and_erroring_tests() {
    let text = fixture("v14_failing_and_erroring_tests_with_warning.log");
    let a = analyze_file("v14_failing_and_erroring_tests_with_warning.log", &[]);

    assert_eq!(a.status(), Status::Failed);
    assert_eq!(
        a.tests,
        TestCounts {
            run: 3,
            failed: 1,
            errors: 1,
            skipped: 0
        }
    );
    assert!(a.tests_from_summary);
    assert_eq!(
        a.failed_tests,
        [
            format!("{TEST_LOGGER}.TestThing.test_error"),
            format!("{TEST_LOGGER}.TestThing.test_fail"),
        ]
    );
    // Odoo 14.0 logs "At least one test failed when loading the modules."
    // instead of "Modules loaded.": loading did finish.
    assert!(a.modules_loaded);
    assert_eq!(
        messages(&a),
        [
            format!("{TEST_LOGGER}: ERROR: TestThing.test_error").as_str(),
            &format!("{TEST_LOGGER}: FAIL: TestThing.test_fail"),
            "odoo.modules.loading: Module demo_addon: 1 failures, 1 errors of 3 tests",
            "odoo.modules.loading: At least one test failed when loading the modules.",
            "odoo.tests.runner: 1 failed, 1 error(s) of 3 tests when loading database 'b1'",
        ]
    );
    assert_eq!(a.error_count, 5);

    let erroring = &a.errors[0];
    assert_eq!(erroring.line, line_of(&text, "ERROR: TestThing.test_error"));
    let tb = erroring.traceback.as_deref().unwrap();
    assert!(tb.starts_with("Traceback (most recent call last):"), "{tb}");
    assert!(tb.ends_with("ValueError: boom"), "{tb:?}");
    let failing = a.errors[1].traceback.as_deref().unwrap();
    assert!(failing.ends_with("AssertionError: 1 != 2"), "{failing:?}");

    assert_eq!(a.warning_count, 1);
    assert!(a.warnings[0].starts_with(
        "odoo.modules.loading: The model demo.thing has no access rules, consider adding one."
    ));
    assert_eq!(a.lines, text.lines().count());
}

#[test]
fn v14_passing_run_with_skip_is_yellow_because_of_the_warning() {
    let a = analyze_file("v14_passing_with_skip_and_warning.log", &[]);
    assert_eq!(a.status(), Status::Warning);
    assert_eq!(
        a.tests,
        TestCounts {
            run: 2,
            failed: 0,
            errors: 0,
            skipped: 1
        }
    );
    assert!(a.tests_from_summary && a.modules_loaded);
    assert!(a.failed_tests.is_empty() && a.errors.is_empty());
    assert_eq!((a.warning_count, a.ignored), (1, 0));
}

#[test]
fn v14_passing_run_is_green_once_the_known_warning_is_ignored() {
    let a = analyze_file(
        "v14_passing_with_skip_and_warning.log",
        &[r"^The model \S+ has no access rules"],
    );
    assert_eq!(a.status(), Status::Success);
    assert_eq!((a.warning_count, a.ignored), (0, 1));
    assert!(a.warnings.is_empty());
    assert_eq!(a.tests.run, 2);
}

#[test]
fn v14_import_error_of_a_test_module_fails_the_run() {
    let a = analyze_file("v14_test_module_import_error.log", &[]);
    assert_eq!(a.status(), Status::Failed);
    // Logged once per make_suite call: at_install and post_install.
    assert_eq!(a.error_count, 2);
    assert_eq!(
        messages(&a),
        [
            "odoo.tests.loader: Can not `import demo_addon`.",
            "odoo.tests.loader: Can not `import demo_addon`."
        ]
    );
    let tb = a.errors[0].traceback.as_deref().unwrap();
    assert!(tb.ends_with("ModuleNotFoundError: No module named 'nonexistent_lib'"));
    // Odoo itself is happy: loading finished and no test failed...
    assert!(a.modules_loaded);
    assert_eq!(a.tests, TestCounts::default());
    assert!(a.failed_tests.is_empty());
    // ...but warns that no test ran at all.
    assert_eq!(
        a.warnings,
        ["odoo.tests.runner: 0 failed, 0 error(s) of 0 tests when loading database 'b1'"]
    );
}

#[test]
fn v14_ignore_rule_demotes_the_import_error() {
    let a = analyze_file(
        "v14_test_module_import_error.log",
        &["Can not `import demo_addon`"],
    );
    assert_eq!(a.status(), Status::Warning);
    assert_eq!((a.error_count, a.ignored), (0, 2));
    // A rule on the traceback's last line works too (full-text match).
    let a = analyze_file(
        "v14_test_module_import_error.log",
        &["No module named 'nonexistent_lib'"],
    );
    assert_eq!(a.status(), Status::Warning);
    assert_eq!(a.ignored, 2);
}

#[test]
fn v14_missing_modules_loaded_means_failed() {
    let text = fixture("v14_passing_with_skip_and_warning.log");
    let a = analyze_until(&text, "Modules loaded.");
    assert_eq!(a.status(), Status::Failed);
    assert!(!a.modules_loaded);
    let last = a.errors.last().unwrap();
    assert!(last.message.contains("Modules loaded."), "{}", last.message);
    assert_eq!(last.line, 0);
    // No total was printed: counts are rebuilt from the per-test lines.
    assert!(!a.tests_from_summary);
    assert_eq!((a.tests.run, a.tests.skipped), (2, 1));
}

#[test]
fn v14_counts_fall_back_to_module_summaries_when_test_lines_are_hidden() {
    // `--log-level=warn` hides the INFO `Starting …` lines; a run killed
    // before the final total then only has the per-module ERROR line.
    let text = fixture("v14_failing_and_erroring_tests_with_warning.log");
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    let mut keep = false;
    for line in text.lines() {
        if line.contains("when loading database") {
            break;
        }
        if let Some(record) = slipway_odoo_log::Record::parse(line, 0) {
            keep = record.level >= Level::Warning;
        }
        if keep {
            analyzer.feed_line(line);
        }
    }
    let a = analyzer.finish();
    assert!(!a.tests_from_summary);
    assert_eq!(
        a.tests,
        TestCounts {
            run: 3,
            failed: 1,
            errors: 1,
            skipped: 0
        }
    );
    assert_eq!(a.failed_tests.len(), 2);
}
