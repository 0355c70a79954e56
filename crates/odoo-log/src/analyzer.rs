//! Streaming analysis of a whole log.

use std::collections::HashMap;

use crate::analysis::{Analysis, Problem, TestCounts};
use crate::level::Level;
use crate::record::{Block, ParserLimits, Preamble, Record, RecordParser};
use crate::rules::IgnoreRules;
use crate::summary::{classify, Counts, TestEvent};
use crate::text::{cap_line, cap_middle};

/// How much of the log the [`Analysis`] keeps.
///
/// Counts are always complete; only the stored texts are bounded, so that a
/// log of millions of lines full of errors still gives a report of a few
/// megabytes at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzerLimits {
    /// Errors kept in [`Analysis::errors`] (the first ones: later errors are
    /// often consequences of earlier ones).
    pub max_errors: usize,
    /// Warnings kept in [`Analysis::warnings`].
    pub max_warnings: usize,
    /// Names kept in [`Analysis::failed_tests`].
    pub max_failed_tests: usize,
    /// Longest kept message line, in bytes.
    pub max_message_bytes: usize,
    /// Longest kept traceback, in bytes (head and tail are kept).
    pub max_traceback_bytes: usize,
    /// Bounds of the underlying record parser.
    pub parser: ParserLimits,
}

impl Default for AnalyzerLimits {
    fn default() -> Self {
        AnalyzerLimits {
            max_errors: 100,
            max_warnings: 200,
            max_failed_tests: 500,
            max_message_bytes: 2048,
            max_traceback_bytes: 16 * 1024,
            parser: ParserLimits::default(),
        }
    }
}

/// Feeds an Odoo log through line by line and produces an [`Analysis`].
///
/// Memory stays bounded whatever the log size: one record is held while it
/// is being assembled, and only errors, warnings and test facts are kept
/// afterwards, within [`AnalyzerLimits`].
#[derive(Debug)]
pub struct LogAnalyzer {
    rules: IgnoreRules,
    limits: AnalyzerLimits,
    parser: RecordParser,
    analysis: Analysis,
    tally: Tally,
}

/// Raw test facts, turned into [`TestCounts`] at the end.
#[derive(Debug, Default)]
struct Tally {
    /// Last per-database total of each (pid, database): one per Odoo process
    /// and database, so several runs concatenated in one log add up.
    totals: HashMap<(u32, String), Counts>,
    module_summaries: Counts,
    post_tests: u32,
    started: u32,
    skipped: u32,
    fail_records: u32,
    error_records: u32,
}

impl LogAnalyzer {
    pub fn new(rules: IgnoreRules) -> Self {
        Self::with_limits(rules, AnalyzerLimits::default())
    }

    pub fn with_limits(rules: IgnoreRules, limits: AnalyzerLimits) -> Self {
        LogAnalyzer {
            rules,
            limits,
            parser: RecordParser::with_limits(limits.parser),
            analysis: Analysis::default(),
            tally: Tally::default(),
        }
    }

    /// Feeds one line, without its line terminator: the one way in, as the
    /// engine feeds each line of Odoo's output the sandbox forwards (decoded
    /// lossily, overlong lines already cut). Should the text contain newlines
    /// after all, it is split on them.
    pub fn feed_line(&mut self, line: &str) {
        for part in line.split('\n') {
            if let Some(block) = self.parser.push_line(part) {
                self.handle(block);
            }
        }
    }

    /// Ends the log and returns the analysis.
    pub fn finish(mut self) -> Analysis {
        self.analysis.lines = self.parser.lines_seen();
        let parser = std::mem::take(&mut self.parser);
        if let Some(block) = parser.finish() {
            self.handle(block);
        }

        let tally = &self.tally;
        let mut tests = TestCounts {
            skipped: tally.skipped,
            ..TestCounts::default()
        };
        if tally.totals.is_empty() {
            let from_summaries = tally.module_summaries.run.saturating_add(tally.post_tests);
            tests.run = tally.started.max(from_summaries);
            tests.failed = tally.fail_records.max(tally.module_summaries.failed);
            tests.errors = tally.error_records.max(tally.module_summaries.errors);
        } else {
            let mut sum = Counts::default();
            for counts in tally.totals.values() {
                sum.add(*counts);
            }
            tests.run = sum.run;
            tests.failed = sum.failed;
            tests.errors = sum.errors;
            self.analysis.tests_from_summary = true;
        }
        self.analysis.tests = tests;

        if !self.analysis.modules_loaded {
            self.analysis.errors.push(Problem {
                message: "Odoo never logged `Modules loaded.`: the server stopped before it \
                          finished loading the modules"
                    .to_owned(),
                traceback: None,
                line: 0,
            });
            self.analysis.error_count = self.analysis.error_count.saturating_add(1);
        }
        self.analysis
    }

    fn handle(&mut self, block: Block) {
        match block {
            Block::Record(record) => self.handle_record(record),
            Block::Preamble(preamble) => self.handle_preamble(preamble),
        }
    }

    fn handle_record(&mut self, record: Record) {
        if let Some(event) = classify(&record) {
            self.note_event(&record, event);
        }

        let is_error = record.level.is_error() || record.has_traceback;
        let is_warning = !is_error && record.level == Level::Warning;
        if !is_error && !is_warning {
            return;
        }
        if self.rules.matches(&record.message, || record.full_text()) {
            self.analysis.ignored = self.analysis.ignored.saturating_add(1);
            return;
        }

        let mut headline = record.headline();
        if is_warning {
            self.analysis.warning_count = self.analysis.warning_count.saturating_add(1);
            if self.analysis.warnings.len() < self.limits.max_warnings {
                self.analysis
                    .warnings
                    .push(cap_line(&headline, self.limits.max_message_bytes));
            }
            return;
        }

        self.analysis.error_count = self.analysis.error_count.saturating_add(1);
        if self.analysis.errors.len() >= self.limits.max_errors {
            return;
        }
        if !record.level.is_error() {
            // A traceback the server did not log as an error is still one.
            headline = format!("{headline} (traceback logged at {} level)", record.level);
        }
        self.analysis.errors.push(Problem {
            message: cap_line(&headline, self.limits.max_message_bytes),
            traceback: record
                .continuation_text()
                .map(|t| cap_middle(t, self.limits.max_traceback_bytes)),
            line: record.line,
        });
    }

    fn handle_preamble(&mut self, preamble: Preamble) {
        // Text before the first record is only a problem when it holds a
        // traceback, typically Python dying before Odoo set up logging.
        if !preamble.has_traceback {
            return;
        }
        let Some(text) = preamble.text() else {
            return;
        };
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if self.rules.matches(first, || text.clone()) {
            self.analysis.ignored = self.analysis.ignored.saturating_add(1);
            return;
        }
        self.analysis.error_count = self.analysis.error_count.saturating_add(1);
        if self.analysis.errors.len() >= self.limits.max_errors {
            return;
        }
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let message = format!("traceback before the first log record: {}", last.trim());
        self.analysis.errors.push(Problem {
            message: cap_line(&message, self.limits.max_message_bytes),
            traceback: Some(cap_middle(text, self.limits.max_traceback_bytes)),
            line: preamble.line,
        });
    }

    fn note_event(&mut self, record: &Record, event: TestEvent) {
        let tally = &mut self.tally;
        match event {
            TestEvent::DatabaseTotal { database, counts } => {
                tally.totals.insert((record.pid, database), counts);
            }
            TestEvent::ModuleSummary(counts) => tally.module_summaries.add(counts),
            TestEvent::PostTests(n) => tally.post_tests = tally.post_tests.saturating_add(n),
            TestEvent::Started => tally.started = tally.started.saturating_add(1),
            TestEvent::Skipped => tally.skipped = tally.skipped.saturating_add(1),
            TestEvent::Failed { failure, name } => {
                if failure {
                    tally.fail_records = tally.fail_records.saturating_add(1);
                } else {
                    tally.error_records = tally.error_records.saturating_add(1);
                }
                let names = &mut self.analysis.failed_tests;
                if names.len() < self.limits.max_failed_tests && !names.contains(&name) {
                    names.push(name);
                }
            }
            TestEvent::LoadingFinished => self.analysis.modules_loaded = true,
        }
    }
}

/// Analyses a complete log held in memory.
pub fn analyze_str(log: &str, rules: IgnoreRules) -> Analysis {
    let mut analyzer = LogAnalyzer::new(rules);
    for line in log.lines() {
        analyzer.feed_line(line);
    }
    analyzer.finish()
}
