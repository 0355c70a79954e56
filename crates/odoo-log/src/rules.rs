//! User-supplied ignore rules.

use regex::{RegexSet, RegexSetBuilder};
use thiserror::Error;

/// A pattern given to [`IgnoreRules::new`] that is not a valid regex.
///
/// Carries the offending pattern so the user can be told which line of their
/// configuration to fix, not just that one of them is wrong.
#[derive(Debug, Error)]
#[error("invalid ignore rule {pattern:?}: {source}")]
pub struct InvalidRule {
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// Regexes for known, accepted noise (a deprecation warning from a library,
/// a flaky external service).
///
/// A record matching any rule is demoted: it no longer counts as an error or a
/// warning, only as `ignored`. A rule matches when it is found (unanchored,
/// Rust `regex` syntax) in either
///
/// * the first line of the message alone, e.g. `^The model \S+ has no access rules`,
///   so that `^` anchors at the message start; or
/// * the full text of the record, `logger: message` followed by the
///   continuation lines joined with `\n`, so that rules can name the logger
///   (`^odoo\.addons\.foo: `) or the exception at the end of a traceback
///   (`psycopg2\.OperationalError`). Use `(?m)` or `(?s)` for multi-line
///   patterns.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    set: Option<RegexSet>,
}

impl Default for IgnoreRules {
    fn default() -> Self {
        Self::none()
    }
}

impl IgnoreRules {
    /// Compiles the rules; fails on the first invalid pattern.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, InvalidRule> {
        if patterns.is_empty() {
            return Ok(Self::none());
        }
        // Compile each one alone first so the error names the culprit; the
        // set is what is used for matching.
        for pattern in patterns {
            let pattern = pattern.as_ref();
            if let Err(source) = regex::Regex::new(pattern) {
                return Err(InvalidRule {
                    pattern: pattern.to_owned(),
                    source,
                });
            }
        }
        let set = RegexSetBuilder::new(patterns.iter().map(AsRef::as_ref))
            .build()
            .map_err(|source| InvalidRule {
                pattern: patterns
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<_>>()
                    .join(" | "),
                source,
            })?;
        Ok(IgnoreRules { set: Some(set) })
    }

    /// No rules: nothing is ignored.
    pub fn none() -> Self {
        IgnoreRules { set: None }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_none()
    }

    pub fn len(&self) -> usize {
        self.set.as_ref().map_or(0, RegexSet::len)
    }

    /// Whether a record with this first message line and this full text is
    /// ignored. `full_text` is only built when the first line did not match.
    pub fn matches(&self, first_line: &str, full_text: impl FnOnce() -> String) -> bool {
        match &self.set {
            None => false,
            Some(set) => set.is_match(first_line) || set.is_match(&full_text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_pattern_is_named() {
        let err = IgnoreRules::new(&["fine", "(unclosed"]).unwrap_err();
        assert_eq!(err.pattern, "(unclosed");
        assert!(err.to_string().contains("(unclosed"));
    }

    #[test]
    fn matches_first_line_or_full_text() {
        let rules =
            IgnoreRules::new(&[r"^The model \S+ has no access", r"ValueError: flaky"]).unwrap();
        assert!(rules.matches("The model x.y has no access rules", || unreachable!()));
        assert!(rules.matches("Something failed", || {
            "odoo.x: Something failed\nValueError: flaky".into()
        }));
        assert!(!rules.matches("Something failed", || "odoo.x: Something failed".into()));
        assert_eq!(rules.len(), 2);
    }

    #[test]
    fn empty_rules_match_nothing() {
        let rules = IgnoreRules::new::<String>(&[]).unwrap();
        assert!(rules.is_empty());
        assert!(!rules.matches("anything", || "anything".into()));
    }
}
