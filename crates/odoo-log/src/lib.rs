//! Analysis of an Odoo server run's log: module installation plus unit tests,
//! turned into a runbot-style verdict (green / yellow / red).
//!
//! ```
//! use slipway_odoo_log::{IgnoreRules, LogAnalyzer, Status};
//!
//! let log = "\
//! 2025-01-01 10:00:00,000 7 INFO db odoo.modules.loading: Modules loaded. \n\
//! 2025-01-01 10:00:01,000 7 INFO db odoo.tests.result: 0 failed, 0 error(s) of 12 tests when loading database 'db' ";
//! let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
//! for line in log.lines() {
//!     analyzer.feed_line(line);
//! }
//! let analysis = analyzer.finish();
//! assert_eq!(analysis.status(), Status::Success);
//! assert_eq!(analysis.tests.run, 12);
//! ```
//!
//! The pieces:
//!
//! * [`RecordParser`] splits the log into [`Record`]s (header line plus the
//!   header-less lines that follow, such as tracebacks);
//! * [`summary`] knows what Odoo 14.0–19.0 log about tests, and how to count
//!   them without double counting;
//! * [`LogAnalyzer`] streams records into an [`Analysis`], with bounded
//!   memory, applying the user's [`IgnoreRules`];
//! * [`Analysis::status`] gives the verdict.

mod analysis;
mod analyzer;
mod level;
mod record;
mod rules;
pub mod summary;
mod text;

pub use analysis::{Analysis, Problem, Status, TestCounts};
pub use analyzer::{analyze_str, AnalyzerLimits, LogAnalyzer};
pub use level::Level;
pub use record::{Block, ParserLimits, Preamble, Record, RecordParser, TRACEBACK_HEADER};
pub use rules::{IgnoreRules, InvalidRule};
