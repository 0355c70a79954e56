//! Analysis of real (and, where marked in `fixtures/README.md`, faithfully
//! reconstructed) Odoo 14.0 and 19.0 logs.

use std::fs;
use std::io::{BufReader, Cursor};
use std::path::PathBuf;

use slipway_odoo_log::{
    analyze_str, Analysis, Block, IgnoreRules, Level, LogAnalyzer, RecordParser, Status, TestCounts,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rules(patterns: &[&str]) -> IgnoreRules {
    IgnoreRules::new(patterns).expect("valid rules")
}

/// Reads the fixture from disk through `feed_reader`, the way the engine
/// reads a captured log.
fn analyze_file(name: &str, patterns: &[&str]) -> Analysis {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let file = fs::File::open(path).expect("fixture");
    let mut analyzer = LogAnalyzer::new(rules(patterns));
    analyzer.feed_reader(BufReader::new(file)).expect("read");
    analyzer.finish()
}

/// Analyses the lines of `text` before the first one containing `needle`,
/// as if the server had been killed there.
fn analyze_until(text: &str, needle: &str) -> Analysis {
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    let mut found = false;
    for line in text.lines() {
        if line.contains(needle) {
            found = true;
            break;
        }
        analyzer.feed_line(line);
    }
    assert!(found, "{needle:?} not in log");
    analyzer.finish()
}

/// 1-based number of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in log"))
        + 1
}

fn messages(analysis: &Analysis) -> Vec<&str> {
    analysis.errors.iter().map(|p| p.message.as_str()).collect()
}

const V14_TEST_LOGGER: &str = "odoo.addons.demo_addon.tests.test_thing";

// ---------------------------------------------------------------- 14.0

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
            format!("{V14_TEST_LOGGER}.TestThing.test_error"),
            format!("{V14_TEST_LOGGER}.TestThing.test_fail"),
        ]
    );
    // Odoo 14.0 logs "At least one test failed when loading the modules."
    // instead of "Modules loaded.": loading did finish.
    assert!(a.modules_loaded);
    assert_eq!(
        messages(&a),
        [
            format!("{V14_TEST_LOGGER}: ERROR: TestThing.test_error").as_str(),
            &format!("{V14_TEST_LOGGER}: FAIL: TestThing.test_fail"),
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

// ---------------------------------------------------------------- 19.0

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
            format!("{V14_TEST_LOGGER}.TestThing.test_error"),
            format!("{V14_TEST_LOGGER}.TestThing.test_fail"),
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

#[test]
fn db_question_mark_records() {
    // The first record of the 19.0 run is a WARNING logged before any
    // database was bound to the thread.
    let text = fixture("v19_module_with_incompatible_version_not_installed.log");
    let mut parser = RecordParser::new();
    let mut first = None;
    for line in text.lines() {
        if let Some(Block::Record(r)) = parser.push_line(line) {
            first = Some(r);
            break;
        }
    }
    let first = first.expect("a record");
    assert_eq!(
        (first.line, first.level, first.database.as_deref()),
        (1, Level::Warning, None)
    );
    assert_eq!(first.logger, "odoo.tools.config");
    let a = analyze_str(&text, IgnoreRules::none());
    assert!(a.warnings[0].starts_with("odoo.tools.config: missing --http-interface"));
}

#[test]
fn multi_line_records_keep_their_continuation() {
    let text = fixture("v19_failing_and_erroring_tests_with_skip.log");
    let mut parser = RecordParser::new();
    let mut records = Vec::new();
    for line in text.lines() {
        if let Some(Block::Record(r)) = parser.push_line(line) {
            records.push(r);
        }
    }
    if let Some(Block::Record(r)) = parser.finish() {
        records.push(r);
    }
    assert_eq!(
        records.len(),
        text.lines().filter(|l| l.starts_with("2026-")).count()
    );

    let access = records
        .iter()
        .find(|r| {
            r.message
                .contains("in module demo_addon, consider adding some, like:")
        })
        .unwrap();
    assert_eq!(access.level, Level::Warning);
    assert_eq!(
        access.continuation,
        [
            "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink",
            "demo_addon.access_demo_thing,access_demo_thing,demo_addon.model_demo_thing,base.group_user,1,0,0,0",
        ]
    );
    assert!(!access.has_traceback);

    let docutils = records
        .iter()
        .find(|r| r.continuation.iter().any(|l| l.contains("(ERROR/3)")))
        .unwrap();
    assert_eq!(docutils.level, Level::Info);
    assert!(!docutils.has_traceback);

    let fail = records
        .iter()
        .find(|r| r.message == "FAIL: TestThing.test_fail")
        .unwrap();
    assert!(fail.has_traceback);
    assert_eq!(
        fail.continuation.first().unwrap(),
        "Traceback (most recent call last):"
    );
    // Odoo ends the message with the traceback's newline plus the empty
    // perf_info's space: a blank last line, dropped from the text.
    assert_eq!(fail.continuation.last().unwrap(), "");
    assert!(fail
        .continuation_text()
        .unwrap()
        .ends_with("AssertionError: 1 != 2"));
}

// ---------------------------------------------------------------- robustness

#[test]
fn traceback_attached_to_an_info_record_fails_the_run() {
    let text = fixture("v19_passing_at_and_post_install.log");
    let mut injected = String::new();
    for line in text.lines() {
        injected.push_str(line);
        injected.push('\n');
        if line.contains("Starting post tests") {
            // A thread dying: Python writes this straight to stderr.
            injected.push_str(
                "Exception in thread odoo.service.cron.cron0:\n\
                 Traceback (most recent call last):\n  \
                 File \"/usr/lib/python3.13/threading.py\", line 1043, in _bootstrap_inner\n    \
                 self.run()\n\
                 RuntimeError: cron died\n",
            );
        }
    }
    let a = analyze_str(&injected, IgnoreRules::none());
    assert_eq!(a.status(), Status::Failed);
    assert_eq!(a.error_count, 1);
    assert_eq!(
        a.errors[0].message,
        "odoo.service.server: Starting post tests (traceback logged at INFO level)"
    );
    assert!(a.errors[0]
        .traceback
        .as_deref()
        .unwrap()
        .ends_with("RuntimeError: cron died"));
    assert_eq!(a.errors[0].line, line_of(&injected, "Starting post tests"));
}

#[test]
fn traceback_before_the_first_record_fails_the_run() {
    let log = "Traceback (most recent call last):\n  \
               File \"/usr/bin/odoo\", line 5, in <module>\n    \
               import odoo\n\
               ModuleNotFoundError: No module named 'psycopg2'\n";
    let a = analyze_str(log, IgnoreRules::none());
    assert_eq!(a.status(), Status::Failed);
    assert_eq!(
        a.errors[0].message,
        "traceback before the first log record: ModuleNotFoundError: No module named 'psycopg2'"
    );
    assert_eq!(a.errors[0].line, 1);
    assert!(!a.modules_loaded);

    // Harmless text before the first record is not a problem.
    let text = fixture("v19_passing_at_and_post_install.log");
    let a = analyze_str(
        &format!("+ exec odoo --test-enable\nsome wrapper noise\n{text}"),
        IgnoreRules::none(),
    );
    assert_eq!(a.status(), Status::Success);
}

#[test]
fn garbage_and_binary_lines_do_not_change_the_verdict() {
    let text = fixture("v14_passing_with_skip_and_warning.log");
    let clean = analyze_str(&text, IgnoreRules::none());

    let mut bytes = b"\x00\x01\xff\xfe binary preamble \x89PNG\r\n\x1a\n".to_vec();
    for (i, line) in text.lines().enumerate() {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if i % 7 == 3 {
            bytes.extend_from_slice(b"\xc3\x28 invalid utf-8 \x00\x1b[31m\x80\x81\n");
            bytes.extend_from_slice(b"2026-13-99 not a header: \xff\n");
        }
    }
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    analyzer.feed_reader(Cursor::new(&bytes)).unwrap();
    let dirty = analyzer.finish();

    assert_eq!(dirty.status(), clean.status());
    assert_eq!(dirty.tests, clean.tests);
    assert_eq!(dirty.warnings, clean.warnings);
    assert_eq!(dirty.error_count, clean.error_count);
    assert!(dirty.lines > clean.lines);

    // Same through feed_bytes.
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    for line in bytes.split(|&b| b == b'\n') {
        analyzer.feed_bytes(line);
    }
    assert_eq!(analyzer.finish().tests, clean.tests);
}

#[test]
fn very_long_lines_are_capped() {
    let text = fixture("v19_passing_at_and_post_install.log");
    let huge = "x".repeat(8 * 1024 * 1024);
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    for line in text.lines() {
        analyzer.feed_line(line);
        if line.contains("Starting post tests") {
            analyzer.feed_line(&format!(
                "2026-11-21 10:20:28,105 2 ERROR b19 odoo.addons.demo_addon.models.thing: {huge}"
            ));
            analyzer.feed_line(&huge);
            analyzer.feed_line("ValueError: the end");
        }
    }
    let a = analyzer.finish();
    assert_eq!(a.status(), Status::Failed);
    assert_eq!(a.error_count, 1);
    let p = &a.errors[0];
    assert!(p.message.len() < 5000, "{}", p.message.len());
    assert!(p
        .message
        .starts_with("odoo.addons.demo_addon.models.thing: xxx"));
    assert!(p.message.ends_with("bytes cut]"));
    let tb = p.traceback.as_deref().unwrap();
    assert!(tb.len() < 20 * 1024, "{}", tb.len());
    assert!(tb.ends_with("ValueError: the end"));
    assert_eq!(a.tests.run, 4);
}

#[test]
fn a_log_without_newlines_is_read_in_bounded_pieces() {
    let mut data = b"2026-11-21 10:20:28,105 2 ERROR b19 odoo.x: ".to_vec();
    data.extend(std::iter::repeat_n(b'z', 32 * 1024 * 1024));
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    analyzer.feed_reader(Cursor::new(data)).unwrap();
    let a = analyzer.finish();
    assert_eq!(a.lines, 1);
    assert!(a.errors[0].message.len() < 5000);
    assert!(a.errors[0].message.contains("bytes cut]"));
}

#[test]
fn huge_logs_keep_bounded_reports_but_complete_counts() {
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    analyzer.feed_line("2026-01-01 00:00:00,000 1 INFO db odoo.modules.loading: Modules loaded. ");
    for i in 0..100_000u32 {
        let (level, extra) = match i % 10 {
            0 => ("ERROR", true),
            1 => ("WARNING", false),
            _ => ("INFO", false),
        };
        analyzer.feed_line(&format!(
            "2026-01-01 00:00:00,000 1 {level} db odoo.addons.m.models.x: message {i} "
        ));
        if extra {
            analyzer.feed_line("Traceback (most recent call last):");
            // The first traceback is longer than a record may keep.
            for _ in 0..if i == 0 { 5_000 } else { 3 } {
                analyzer.feed_line("  File \"x.py\", line 1, in f");
            }
            analyzer.feed_line("ValueError: x");
        }
    }
    let a = analyzer.finish();
    assert_eq!((a.error_count, a.warning_count), (10_000, 10_000));
    assert_eq!((a.errors.len(), a.warnings.len()), (100, 200));
    assert_eq!(a.errors[0].message, "odoo.addons.m.models.x: message 0");
    let tb = a.errors[0].traceback.as_deref().unwrap();
    assert!(tb.len() <= 17 * 1024 && tb.ends_with("ValueError: x"));
    assert!(tb.contains("lines omitted"));
}

#[test]
fn totals_are_summed_per_process_and_database_without_double_counting() {
    let log = "\
2026-01-01 00:00:00,000 7 INFO db1 odoo.modules.loading: Modules loaded. 
2026-01-01 00:00:01,000 7 ERROR db1 odoo.modules.loading: Module a: 1 failures, 0 errors of 5 tests 
2026-01-01 00:00:02,000 7 INFO db1 odoo.service.server: 3 post-tests in 0.10s, 10 queries 
2026-01-01 00:00:03,000 7 ERROR db1 odoo.tests.result: 1 failed, 0 error(s) of 8 tests when loading database 'db1' 
2026-01-01 00:00:03,000 7 INFO db2 odoo.tests.result: 0 failed, 0 error(s) of 2 tests when loading database 'db2' 
2026-01-01 00:01:00,000 9 INFO db1 odoo.modules.loading: Modules loaded. 
2026-01-01 00:01:03,000 9 INFO db1 odoo.tests.result: 0 failed, 0 error(s) of 4 tests when loading database 'db1' 
";
    let a = analyze_str(log, IgnoreRules::none());
    assert!(a.tests_from_summary);
    // 8 (pid 7, db1, per-module and post-test lines included) + 2 (db2) + 4 (pid 9).
    assert_eq!(
        a.tests,
        TestCounts {
            run: 14,
            failed: 1,
            errors: 0,
            skipped: 0
        }
    );
}

#[test]
fn crlf_and_coloured_logs_read_the_same() {
    let text = fixture("v14_failing_and_erroring_tests_with_warning.log");
    let plain = analyze_str(&text, IgnoreRules::none());

    let crlf = text.replace('\n', "\r\n");
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    analyzer.feed_reader(Cursor::new(crlf.as_bytes())).unwrap();
    assert_eq!(analyzer.finish(), plain);

    // What ColoredFormatter produces with ODOO_PY_COLORS set.
    let coloured = text
        .replace(" INFO ", " \u{1b}[1;32m\u{1b}[1;49mINFO\u{1b}[0m ")
        .replace(" ERROR ", " \u{1b}[1;31m\u{1b}[1;49mERROR\u{1b}[0m ")
        .replace(" WARNING ", " \u{1b}[1;33m\u{1b}[1;49mWARNING\u{1b}[0m ");
    assert_ne!(coloured, text);
    assert_eq!(analyze_str(&coloured, IgnoreRules::none()), plain);
}

#[test]
fn invalid_ignore_rule_names_the_pattern() {
    let err = IgnoreRules::new(&["ok".to_owned(), "[unclosed".to_owned()]).unwrap_err();
    assert_eq!(err.pattern, "[unclosed");
    assert!(err
        .to_string()
        .starts_with("invalid ignore rule \"[unclosed\""));
}

#[test]
fn analysis_round_trips_through_json() {
    let a = analyze_file("v14_failing_and_erroring_tests_with_warning.log", &[]);
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["tests"]["failed"], 1);
    assert_eq!(json["modules_loaded"], true);
    assert_eq!(serde_json::to_value(a.status()).unwrap(), "failed");
    let back: Analysis = serde_json::from_value(json).unwrap();
    assert_eq!(back, a);
}
