//! Analysis of real (and, where marked in `fixtures/README.md`, faithfully
//! reconstructed) Odoo 14.0 and 19.0 logs, fed line by line through
//! `LogAnalyzer::feed_line` as the engine feeds Odoo's output.

mod records;
mod robustness;
mod v14;
mod v19;

use std::fs;
use std::path::PathBuf;

use slipway_odoo_log::{analyze_str, Analysis, IgnoreRules, LogAnalyzer};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rules(patterns: &[&str]) -> IgnoreRules {
    IgnoreRules::new(patterns).expect("valid rules")
}

/// Analyses a fixture, fed line by line as the engine feeds Odoo's output.
fn analyze_file(name: &str, patterns: &[&str]) -> Analysis {
    analyze_str(&fixture(name), rules(patterns))
}

/// Analyses raw output the way the engine does: each line the sandbox
/// forwards (split at newlines, invalid UTF-8 replaced) through `feed_line`.
fn analyze_output(output: &[u8]) -> Analysis {
    let mut analyzer = LogAnalyzer::new(IgnoreRules::none());
    for line in output.split_inclusive(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        analyzer.feed_line(&String::from_utf8_lossy(line));
    }
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

/// The logger of the fixtures' test class, in both versions.
const TEST_LOGGER: &str = "odoo.addons.demo_addon.tests.test_thing";
