//! Records: a header line and the lines that continue it.

use slipway_odoo_log::{analyze_str, Block, IgnoreRules, Level, RecordParser};

use crate::fixture;

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
