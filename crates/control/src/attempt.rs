//! A build's identity outside the control database: one attempt of one build.

use std::fmt;
use std::str::FromStr;

use crate::Build;

/// One attempt of a build, named `s{build}a{attempt}` (`s12a1`): the engine
/// keeps its files, database and logs under this name. Each attempt has its
/// own, so a worker that lost a build's lease never removes what the build's
/// next attempt (perhaps on this host) is using.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildAttempt {
    build: i64,
    attempt: i32,
}

impl BuildAttempt {
    /// Attempt `attempt` (counted from 1) of build `build`.
    pub fn new(build: i64, attempt: i32) -> BuildAttempt {
        BuildAttempt {
            build,
            // A build not yet claimed has made no attempt; its first is 1.
            attempt: attempt.max(1),
        }
    }

    pub fn build(self) -> i64 {
        self.build
    }

    pub fn attempt(self) -> i32 {
        self.attempt
    }

    /// The attempts of the same build before this one, oldest first.
    pub fn earlier(self) -> impl Iterator<Item = BuildAttempt> {
        (1..self.attempt).map(move |attempt| BuildAttempt::new(self.build, attempt))
    }
}

impl Build {
    /// The build's current (or, once it ended, last) attempt.
    pub fn attempt(&self) -> BuildAttempt {
        BuildAttempt::new(self.id, self.attempts)
    }
}

impl fmt::Display for BuildAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}a{}", self.build, self.attempt)
    }
}

/// A name that is not `s{build}a{attempt}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' does not name a build attempt (expected s<build>a<attempt>, e.g. s12a1)")]
pub struct NotAnAttempt(pub String);

impl FromStr for BuildAttempt {
    type Err = NotAnAttempt;

    fn from_str(text: &str) -> Result<BuildAttempt, NotAnAttempt> {
        let wrong = || NotAnAttempt(text.to_string());
        let (build, attempt) = text
            .strip_prefix('s')
            .and_then(|rest| rest.split_once('a'))
            .ok_or_else(wrong)?;
        let build: i64 = canonical_number(build).ok_or_else(wrong)?;
        let attempt: i32 = canonical_number(attempt)
            .filter(|attempt| *attempt >= 1)
            .ok_or_else(wrong)?;
        Ok(BuildAttempt { build, attempt })
    }
}

/// Digits as `Display` writes them: no sign (which `parse` would take), no
/// leading zero.
fn canonical_number<T: FromStr>(digits: &str) -> Option<T> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_round_trip_through_their_name() {
        for (build, attempt, name) in [
            (1, 1, "s1a1"),
            (12, 3, "s12a3"),
            (i64::MAX, 7, "s9223372036854775807a7"),
        ] {
            let identity = BuildAttempt::new(build, attempt);
            assert_eq!(identity.to_string(), name);
            assert_eq!(name.parse::<BuildAttempt>(), Ok(identity));
            assert_eq!((identity.build(), identity.attempt()), (build, attempt));
        }
    }

    #[test]
    fn an_unclaimed_build_is_named_after_its_first_attempt() {
        assert_eq!(BuildAttempt::new(5, 0).to_string(), "s5a1");
    }

    #[test]
    fn earlier_attempts_are_the_ones_before() {
        let earlier: Vec<String> = BuildAttempt::new(9, 3)
            .earlier()
            .map(|attempt| attempt.to_string())
            .collect();
        assert_eq!(earlier, ["s9a1", "s9a2"]);
        assert_eq!(BuildAttempt::new(9, 1).earlier().count(), 0);
    }

    #[test]
    fn other_names_are_not_attempts() {
        for text in [
            "",
            "s",
            "s1",
            "s1a",
            "sa1",
            "x1a1",
            "s1a0",
            "s-1a1",
            "s+1a1",
            "s01a1",
            "s1a01",
            "s1a1x",
            "s1b1",
            "s1a1a1",
            "slipway_b_s1a1",
        ] {
            let error = text.parse::<BuildAttempt>().unwrap_err();
            assert_eq!(error, NotAnAttempt(text.to_string()), "{text}");
        }
    }
}
