//! Odoo 19.0 runs.

use slipway_odoo_log::{Status, TestCounts};

use crate::{analyze_file, analyze_until, fixture, line_of, messages, TEST_LOGGER};

#[test]
fn v19_failing_erroring_and_skipped_tests() {
    let text = fixture("v19_failing_and_erroring_tests_with_skip.log");
    let a = analyze_file("v19_failing_and_erroring_tests_with_skip.log", &[]);
    assert_eq!(a.status(), Status::Failed);
    assert_eq!(
        a.tests,
        TestCounts {
            run: 4,
            failed: 1,
            errors: 1,
            skipped: 1
        }
    );
    assert!(a.tests_from_summary && a.modules_loaded);
    assert_eq!(
        a.failed_tests,
        [
            format!("{TEST_LOGGER}.TestThing.test_error"),
            format!("{TEST_LOGGER}.TestThing.test_fail"),
        ]
    );
    // Exactly Odoo's five ERROR records: the stray docutils lines
    // "<string>:38: (ERROR/3) …" are continuation text, not errors.
    assert_eq!(a.error_count, 5);
    assert_eq!(
        messages(&a)[2..],
        [
            "odoo.modules.loading: Module demo_addon: 1 failures, 1 errors of 4 tests",
            "odoo.modules.loading: At least one test failed when loading the modules.",
            "odoo.tests.result: 1 failed, 1 error(s) of 4 tests when loading database 'b19'",
        ]
    );
    assert!(!a
        .errors
        .iter()
        .any(|p| p.message.contains("Unexpected indentation")));
    let fail_tb = a.errors[1].traceback.as_deref().unwrap();
    assert!(fail_tb.contains("~~~~~~~~~~~~~~~~^^^^^^"));
    assert!(fail_tb.ends_with("AssertionError: 1 != 2"));
    assert_eq!(
        a.errors[1].line,
        line_of(&text, "FAIL: TestThing.test_fail")
    );

    // 3 × missing author key, 3 × multi-line access rule warning.
    assert_eq!(a.warning_count, 6);
    assert_eq!(
        a.warnings
            .iter()
            .filter(|w| w.contains("have no access rules"))
            .count(),
        3
    );
}

#[test]
fn v19_passing_run_counts_at_install_and_post_install_once() {
    let a = analyze_file("v19_passing_at_and_post_install.log", &[]);
    assert_eq!(a.status(), Status::Success);
    assert_eq!(
        a.tests,
        TestCounts {
            run: 4,
            failed: 0,
            errors: 0,
            skipped: 1
        }
    );
    assert!(a.tests_from_summary && a.modules_loaded);
    assert!(a.errors.is_empty() && a.warnings.is_empty() && a.failed_tests.is_empty());
}

#[test]
fn v19_counts_fall_back_to_test_lines_when_the_total_is_missing() {
    let text = fixture("v19_passing_at_and_post_install.log");
    let a = analyze_until(&text, "when loading database");
    assert!(!a.tests_from_summary);
    assert_eq!(a.status(), Status::Success);
    assert_eq!(
        a.tests,
        TestCounts {
            run: 4,
            failed: 0,
            errors: 0,
            skipped: 1
        }
    );
}

#[test]
fn v19_missing_modules_loaded_means_failed() {
    let text = fixture("v19_failing_and_erroring_tests_with_skip.log");
    let a = analyze_until(&text, "At least one test failed when loading the modules.");
    assert_eq!(a.status(), Status::Failed);
    assert!(!a.modules_loaded && !a.tests_from_summary);
    assert!(a.errors.last().unwrap().message.contains("Modules loaded."));
    // Rebuilt from the per-test lines and the per-module line.
    assert_eq!(
        a.tests,
        TestCounts {
            run: 4,
            failed: 1,
            errors: 1,
            skipped: 1
        }
    );
}

#[test]
fn v19_import_error_of_a_test_module_aborts_loading() {
    let a = analyze_file("v19_test_module_import_error.log", &[]);
    assert_eq!(a.status(), Status::Failed);
    assert!(!a.modules_loaded);
    assert_eq!(a.error_count, 2);
    assert_eq!(
        a.errors[0].message,
        "odoo.service.server: Failed to initialize database `b19`."
    );
    assert!(a.errors[0]
        .traceback
        .as_deref()
        .unwrap()
        .ends_with("ModuleNotFoundError: No module named 'nonexistent_lib'"));
    assert!(a.errors[1].message.contains("Modules loaded."));
    assert_eq!(a.tests, TestCounts::default());
}

#[test]
fn v19_traceback_without_error_line_fails_the_run() {
    let text = fixture("v19_demo_data_traceback_at_warning.log");
    let a = analyze_file("v19_demo_data_traceback_at_warning.log", &[]);
    assert_eq!(a.status(), Status::Failed);
    assert!(a.modules_loaded);
    assert_eq!((a.error_count, a.warning_count), (1, 0));
    let p = &a.errors[0];
    assert_eq!(
        p.message,
        "odoo.modules.loading: Module demo_addon demo data failed to install, installed \
         without demo data (traceback logged at WARNING level)"
    );
    assert_eq!(p.line, line_of(&text, "demo data failed to install"));
    assert!(p.traceback.as_deref().unwrap().contains("ParseError"));
    assert_eq!(a.tests.run, 1);
}

#[test]
fn v19_ignore_rule_on_the_traceback_demotes_it() {
    let a = analyze_file(
        "v19_demo_data_traceback_at_warning.log",
        &[r"odoo\.tools\.convert\.ParseError: while parsing /mnt/src/demo_addon/demo/"],
    );
    assert_eq!(a.status(), Status::Success);
    assert_eq!((a.error_count, a.warning_count, a.ignored), (0, 0, 1));
}

#[test]
fn v19_module_not_installed_is_only_a_warning_until_the_caller_says_more() {
    let mut a = analyze_file(
        "v19_module_with_incompatible_version_not_installed.log",
        &[],
    );
    assert_eq!(a.status(), Status::Warning);
    assert!(a.modules_loaded && a.tests_from_summary);
    assert_eq!(a.tests, TestCounts::default());
    assert_eq!(a.error_count, 0);
    assert!(a.warnings.iter().any(|w| w.ends_with(
        "The module demo_addon has an incompatible version, setting installable=False"
    )));
    assert_eq!(
        a.warnings.last().unwrap(),
        "odoo.tests.result: 0 failed, 0 error(s) of 0 tests when loading database 'b19'"
    );
    // The engine knows the module is not installed and says so.
    a.add_error("module demo_addon is not installed");
    assert_eq!(a.status(), Status::Failed);
    assert_eq!(a.errors.last().unwrap().line, 0);
}
