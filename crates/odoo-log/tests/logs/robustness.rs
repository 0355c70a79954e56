//! Logs no Odoo should write, and logs too big to keep: the verdict stays
//! right and the report bounded.

use slipway_odoo_log::{analyze_str, Analysis, IgnoreRules, LogAnalyzer, Status, TestCounts};

use crate::{analyze_file, analyze_output, fixture, line_of};

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
    let dirty = analyze_output(&bytes);

    assert_eq!(dirty.status(), clean.status());
    assert_eq!(dirty.tests, clean.tests);
    assert_eq!(dirty.warnings, clean.warnings);
    assert_eq!(dirty.error_count, clean.error_count);
    assert!(dirty.lines > clean.lines);
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
fn a_log_without_newlines_is_one_bounded_record() {
    let mut data = b"2026-11-21 10:20:28,105 2 ERROR b19 odoo.x: ".to_vec();
    data.extend(std::iter::repeat_n(b'z', 32 * 1024 * 1024));
    let a = analyze_output(&data);
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

    // The sandbox drops a line's `\r` already; the analyzer does not rely on it.
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(analyze_output(crlf.as_bytes()), plain);

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
