//! Splitting an Odoo log into records.
//!
//! Odoo (14.0 through 19.0, `odoo/netsvc.py`) formats every record with
//!
//! ```text
//! %(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s
//! ```
//!
//! which gives lines such as
//!
//! ```text
//! 2026-11-21 10:08:20,474 2 ERROR b1 odoo.addons.demo_addon.tests.test_thing: FAIL: TestThing.test_fail
//! ```
//!
//! * `dbname` is `?` when the thread is not bound to a database.
//! * `perf_info` is empty except on `werkzeug` request lines (query count and
//!   timings), so nearly every line ends with a space; messages are stored
//!   with trailing whitespace removed.
//! * A message containing newlines, and the traceback Python appends for
//!   `exc_info`, continue on lines without a header. They belong to the record
//!   above and are kept as its [`Record::continuation`]. Anything else written
//!   to the same stream (a `print()`, a raw traceback from a dying thread)
//!   also lands there, which is what makes "traceback without an ERROR line"
//!   detectable.
//! * Lines before the first header (interpreter start-up failures, wrapper
//!   scripts) form a [`Preamble`].

use std::collections::VecDeque;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::level::Level;
use crate::text::{floor_boundary, strip_ansi};

/// First line of every Python traceback (`traceback.format_exception`).
pub const TRACEBACK_HEADER: &str = "Traceback (most recent call last):";

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) (?P<pid>\d+) (?P<level>[A-Z]+|Level \d+) (?P<db>\S+) (?P<logger>\S+?):(?: |$)",
    )
    .expect("header regex is valid")
});

/// One Odoo log record: a header line and the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// 1-based line number of the header line in the log.
    pub line: usize,
    /// `YYYY-MM-DD HH:MM:SS,mmm`, local time of the Odoo host, kept verbatim.
    pub timestamp: String,
    pub pid: u32,
    pub level: Level,
    /// `None` when Odoo printed `?` (no database bound to the thread).
    pub database: Option<String>,
    /// Python logger name, e.g. `odoo.modules.loading`.
    pub logger: String,
    /// First line of the message, trailing whitespace removed.
    pub message: String,
    /// Following lines without a header, trailing whitespace removed.
    ///
    /// Bounded: when a record has more lines than the parser's limits allow,
    /// the first and last ones are kept and a single marker line
    /// `[… N lines omitted …]` stands for the rest.
    pub continuation: Vec<String>,
    /// How many continuation lines were dropped to keep memory bounded.
    pub omitted_lines: usize,
    /// Whether any continuation line, including dropped ones, starts a Python
    /// traceback.
    pub has_traceback: bool,
}

impl Record {
    /// Parses a single header line. Returns `None` for lines that are not
    /// the start of a record (they are continuation lines).
    pub fn parse(line: &str, line_no: usize) -> Option<Record> {
        let line = strip_ansi(line.strip_suffix('\r').unwrap_or(line));
        parse_header(&line, line_no)
    }

    /// `logger: message`, the one-line form used in reports.
    pub fn headline(&self) -> String {
        format!("{}: {}", self.logger, self.message)
    }

    /// Headline followed by the continuation lines, newline-separated.
    pub fn full_text(&self) -> String {
        let mut text = self.headline();
        for line in &self.continuation {
            text.push('\n');
            text.push_str(line);
        }
        text
    }

    /// The continuation lines as one text (usually a traceback), without
    /// trailing blank lines; `None` when there is nothing but blank lines.
    pub fn continuation_text(&self) -> Option<String> {
        join_trimmed(&self.continuation)
    }
}

/// Lines that appear before the first record header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preamble {
    /// 1-based line number of the first line.
    pub line: usize,
    /// Bounded like [`Record::continuation`].
    pub lines: Vec<String>,
    pub omitted_lines: usize,
    pub has_traceback: bool,
}

impl Preamble {
    /// The lines as one text, without trailing blank lines.
    pub fn text(&self) -> Option<String> {
        join_trimmed(&self.lines)
    }
}

/// What [`RecordParser`] produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Only ever the first block, and only if the log does not start with a
    /// record header.
    Preamble(Preamble),
    Record(Record),
}

/// Memory bounds of the [`RecordParser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest line kept, in bytes; the rest of a longer line is cut.
    pub max_line_bytes: usize,
    /// Continuation lines kept from the start of a record.
    pub head_lines: usize,
    /// Continuation lines kept from the end of a record.
    pub tail_lines: usize,
}

impl Default for ParserLimits {
    /// 4 KiB lines, 50 + 200 lines per record: enough for any real traceback
    /// (whose interesting part is its end) while a runaway record stays
    /// around 1 MiB.
    fn default() -> Self {
        ParserLimits {
            max_line_bytes: 4096,
            head_lines: 50,
            tail_lines: 200,
        }
    }
}

/// Streaming assembler: feed lines, get finished [`Block`]s.
///
/// A record is only known to be finished when the next header (or the end of
/// the log) arrives, hence the one-record delay of [`RecordParser::push_line`]
/// and the final [`RecordParser::finish`].
#[derive(Debug, Default)]
pub struct RecordParser {
    limits: ParserLimits,
    line_no: usize,
    pending: Option<Pending>,
}

#[derive(Debug)]
enum Pending {
    Preamble { line: usize, lines: BoundedLines },
    Record { record: Record, lines: BoundedLines },
}

impl RecordParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limits(limits: ParserLimits) -> Self {
        RecordParser {
            limits,
            ..Self::default()
        }
    }

    /// Number of lines seen so far.
    pub fn lines_seen(&self) -> usize {
        self.line_no
    }

    /// Feeds one line (without its newline; a trailing `\r` is dropped).
    /// Returns the previous block when this line starts a new record.
    pub fn push_line(&mut self, raw: &str) -> Option<Block> {
        self.line_no += 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // Cap before any other work so that a gigantic line costs no more
        // than a normal one.
        let kept = &raw[..floor_boundary(raw, self.limits.max_line_bytes)];
        let cut = raw.len() - kept.len();
        let clean = strip_ansi(kept);

        if let Some(mut record) = parse_header(&clean, self.line_no) {
            if cut > 0 {
                record.message = format!("{} [… {} bytes cut]", record.message, cut);
            }
            let finished = self.pending.take().map(|p| p.finish());
            self.pending = Some(Pending::Record {
                record,
                lines: BoundedLines::new(self.limits),
            });
            return finished;
        }

        let mut text = clean.trim_end().to_owned();
        if cut > 0 {
            text = format!("{text} [… {cut} bytes cut]");
        }
        match &mut self.pending {
            Some(Pending::Record { lines, .. }) | Some(Pending::Preamble { lines, .. }) => {
                lines.push(text)
            }
            None => {
                let mut lines = BoundedLines::new(self.limits);
                lines.push(text);
                self.pending = Some(Pending::Preamble {
                    line: self.line_no,
                    lines,
                });
            }
        }
        None
    }

    /// Ends the log and returns the last block, if any.
    pub fn finish(self) -> Option<Block> {
        self.pending.map(Pending::finish)
    }
}

impl Pending {
    fn finish(self) -> Block {
        match self {
            Pending::Record { mut record, lines } => {
                let (lines, omitted, traceback) = lines.into_parts();
                record.continuation = lines;
                record.omitted_lines = omitted;
                record.has_traceback = traceback;
                Block::Record(record)
            }
            Pending::Preamble { line, lines } => {
                let (lines, omitted, traceback) = lines.into_parts();
                Block::Preamble(Preamble {
                    line,
                    lines,
                    omitted_lines: omitted,
                    has_traceback: traceback,
                })
            }
        }
    }
}

/// Head + ring-buffer tail of a record's continuation lines.
#[derive(Debug)]
struct BoundedLines {
    limits: ParserLimits,
    head: Vec<String>,
    tail: VecDeque<String>,
    omitted: usize,
    traceback: bool,
}

impl BoundedLines {
    fn new(limits: ParserLimits) -> Self {
        BoundedLines {
            limits,
            head: Vec::new(),
            tail: VecDeque::new(),
            omitted: 0,
            traceback: false,
        }
    }

    fn push(&mut self, line: String) {
        if line.trim_start().starts_with(TRACEBACK_HEADER) {
            self.traceback = true;
        }
        if self.head.len() < self.limits.head_lines {
            self.head.push(line);
            return;
        }
        self.tail.push_back(line);
        if self.tail.len() > self.limits.tail_lines {
            self.tail.pop_front();
            self.omitted += 1;
        }
    }

    fn into_parts(self) -> (Vec<String>, usize, bool) {
        let mut lines = self.head;
        if self.omitted > 0 {
            lines.push(format!("[… {} lines omitted …]", self.omitted));
        }
        lines.extend(self.tail);
        (lines, self.omitted, self.traceback)
    }
}

fn parse_header(line: &str, line_no: usize) -> Option<Record> {
    // Cheap shape check first: almost every line of a big log is either a
    // header or a traceback line, and the latter never looks like a date.
    let b = line.as_bytes();
    if b.len() < 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[19] != b',' {
        return None;
    }
    let caps = HEADER.captures(line)?;
    let level = Level::from_name(&caps["level"])?;
    let pid = caps["pid"].parse::<u32>().ok()?;
    let database = match &caps["db"] {
        "?" => None,
        db => Some(db.to_owned()),
    };
    let end = caps.get(0).map_or(line.len(), |m| m.end());
    Some(Record {
        line: line_no,
        timestamp: caps["ts"].to_owned(),
        pid,
        level,
        database,
        logger: caps["logger"].to_owned(),
        message: line[end..].trim_end().to_owned(),
        continuation: Vec::new(),
        omitted_lines: 0,
        has_traceback: false,
    })
}

fn join_trimmed(lines: &[String]) -> Option<String> {
    let end = lines.iter().rposition(|l| !l.trim().is_empty())? + 1;
    Some(lines[..end].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(lines: &[&str]) -> Vec<Block> {
        let mut parser = RecordParser::new();
        let mut out: Vec<Block> = lines.iter().filter_map(|l| parser.push_line(l)).collect();
        out.extend(parser.finish());
        out
    }

    #[test]
    fn parses_header_fields() {
        let r = Record::parse(
            "2026-11-21 10:08:24,638 2 ERROR b1 odoo.tests.runner: 1 failed, 1 error(s) of 3 tests when loading database 'b1' ",
            7,
        )
        .unwrap();
        assert_eq!(r.line, 7);
        assert_eq!(r.timestamp, "2026-11-21 10:08:24,638");
        assert_eq!(r.pid, 2);
        assert_eq!(r.level, Level::Error);
        assert_eq!(r.database.as_deref(), Some("b1"));
        assert_eq!(r.logger, "odoo.tests.runner");
        assert_eq!(
            r.message,
            "1 failed, 1 error(s) of 3 tests when loading database 'b1'"
        );
    }

    #[test]
    fn question_mark_database_is_none() {
        let r = Record::parse(
            "2026-11-21 10:07:56,619 2 INFO ? odoo: Odoo version 14.0 ",
            1,
        )
        .unwrap();
        assert_eq!(r.database, None);
        assert_eq!(r.logger, "odoo");
        assert_eq!(r.message, "Odoo version 14.0");
    }

    #[test]
    fn message_may_contain_colons_and_be_empty() {
        let r = Record::parse(
            "2024-01-01 00:00:00,000 9 ERROR db odoo.addons.x.tests.t: FAIL: TestX.test_y",
            1,
        )
        .unwrap();
        assert_eq!(r.logger, "odoo.addons.x.tests.t");
        assert_eq!(r.message, "FAIL: TestX.test_y");
        let empty = Record::parse("2024-01-01 00:00:00,000 9 INFO db odoo.x:", 1).unwrap();
        assert_eq!(empty.message, "");
    }

    #[test]
    fn rejects_non_headers() {
        for line in [
            "Traceback (most recent call last):",
            "  File \"x.py\", line 1, in <module>",
            "2024-01-01 00:00:00,000 9 NOTALEVEL db odoo: x",
            "2024-01-01 00:00:00 9 INFO db odoo: missing millis",
            "2024-01-01 00:00:00,000 99999999999 INFO db odoo: pid overflow",
            "",
        ] {
            assert!(Record::parse(line, 1).is_none(), "{line:?}");
        }
    }

    #[test]
    fn coloured_levels_are_understood() {
        let r = Record::parse(
            "2024-01-01 00:00:00,000 9 \u{1b}[1;31m\u{1b}[1;49mERROR\u{1b}[0m db odoo.x: boom",
            1,
        )
        .unwrap();
        assert_eq!(r.level, Level::Error);
    }

    #[test]
    fn continuation_and_preamble() {
        let blocks = collect(&[
            "garbage before",
            "2024-01-01 00:00:00,000 9 INFO db odoo.a: first",
            "second line",
            "",
            "2024-01-01 00:00:00,001 9 INFO db odoo.b: next",
        ]);
        assert_eq!(blocks.len(), 3);
        let Block::Preamble(p) = &blocks[0] else {
            panic!()
        };
        assert_eq!(
            (p.line, p.lines.as_slice()),
            (1, &["garbage before".to_owned()][..])
        );
        let Block::Record(a) = &blocks[1] else {
            panic!()
        };
        assert_eq!(
            a.continuation,
            vec!["second line".to_owned(), String::new()]
        );
        assert_eq!(a.continuation_text().as_deref(), Some("second line"));
        let Block::Record(b) = &blocks[2] else {
            panic!()
        };
        assert_eq!((b.line, b.continuation.len()), (5, 0));
    }

    #[test]
    fn continuation_is_bounded_but_traceback_still_seen() {
        let limits = ParserLimits {
            max_line_bytes: 100,
            head_lines: 2,
            tail_lines: 3,
        };
        let mut parser = RecordParser::with_limits(limits);
        parser.push_line("2024-01-01 00:00:00,000 9 INFO db odoo.a: start");
        for i in 0..10 {
            parser.push_line(&format!("line {i}"));
            if i == 5 {
                parser.push_line(TRACEBACK_HEADER);
            }
        }
        let Some(Block::Record(r)) = parser.finish() else {
            panic!()
        };
        assert!(r.has_traceback);
        assert_eq!(r.omitted_lines, 6);
        assert_eq!(
            r.continuation,
            [
                "line 0",
                "line 1",
                "[… 6 lines omitted …]",
                "line 7",
                "line 8",
                "line 9"
            ]
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let mut parser = RecordParser::with_limits(ParserLimits {
            max_line_bytes: 64,
            ..ParserLimits::default()
        });
        let long = format!(
            "2024-01-01 00:00:00,000 9 WARNING db odoo.a: {}",
            "x".repeat(1000)
        );
        parser.push_line(&long);
        parser.push_line(&"y".repeat(1000));
        let Some(Block::Record(r)) = parser.finish() else {
            panic!()
        };
        assert!(r.message.len() < 100, "{}", r.message);
        assert!(r.message.ends_with("bytes cut]"));
        assert!(r.continuation[0].starts_with("yyyy") && r.continuation[0].len() < 100);
    }
}
