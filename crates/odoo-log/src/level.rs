//! Log levels as Odoo prints them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Severity of an Odoo log record.
///
/// Odoo only ever prints the five standard Python level names. Its custom
/// level 25 (`logging.RUNBOT` in 16.0+, a bare `addLevelName(25, "INFO")` in
/// 14.0) is registered under the name `INFO`, so it cannot be told apart from
/// INFO in the text log and does not need a variant of its own. The ordering
/// follows Python's numeric levels, so `level >= Level::Error` reads as in
/// Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    /// Maps a level name as it appears in the log to a [`Level`].
    ///
    /// Besides the five names Odoo uses, this accepts the aliases Python's
    /// `logging` may print (`WARN`, `FATAL`), the extra levels of old OpenERP
    /// `netsvc.py` (`TEST` = INFO - 5, `DEBUG_RPC`, `DEBUG_RPC_ANSWER`,
    /// `DEBUG_SQL`, all below INFO) and `Level N`, which is what Python prints
    /// for a numeric level without a registered name. Anything else is not a
    /// level, so the line is not a record header.
    pub fn from_name(name: &str) -> Option<Level> {
        match name {
            "DEBUG" | "DEBUG_RPC" | "DEBUG_RPC_ANSWER" | "DEBUG_SQL" => Some(Level::Debug),
            "INFO" | "TEST" => Some(Level::Info),
            "WARNING" | "WARN" => Some(Level::Warning),
            "ERROR" => Some(Level::Error),
            "CRITICAL" | "FATAL" => Some(Level::Critical),
            _ => name
                .strip_prefix("Level ")
                .and_then(|n| n.parse::<u32>().ok())
                .map(Level::from_number),
        }
    }

    /// Maps a numeric Python level to the named level it falls under.
    pub fn from_number(level: u32) -> Level {
        match level {
            0..=19 => Level::Debug,
            20..=29 => Level::Info,
            30..=39 => Level::Warning,
            40..=49 => Level::Error,
            _ => Level::Critical,
        }
    }

    /// The canonical upper-case name, as Odoo prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// ERROR and CRITICAL: the levels that make a run fail on their own.
    pub fn is_error(self) -> bool {
        self >= Level::Error
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        assert_eq!(Level::from_name("INFO"), Some(Level::Info));
        assert_eq!(Level::from_name("WARN"), Some(Level::Warning));
        assert_eq!(Level::from_name("FATAL"), Some(Level::Critical));
        assert_eq!(Level::from_name("DEBUG_SQL"), Some(Level::Debug));
        assert_eq!(Level::from_name("Level 25"), Some(Level::Info));
        assert_eq!(Level::from_name("Level 45"), Some(Level::Error));
        assert_eq!(Level::from_name("info"), None);
        assert_eq!(Level::from_name("NOPE"), None);
        assert_eq!(Level::from_name("Level x"), None);
    }

    #[test]
    fn ordering_follows_python() {
        assert!(Level::Critical > Level::Error);
        assert!(Level::Error > Level::Warning);
        assert!(Level::Error.is_error() && Level::Critical.is_error());
        assert!(!Level::Warning.is_error());
    }
}
