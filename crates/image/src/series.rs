//! An Odoo series: what a branch of odoo/odoo is a release of ("16.0", "saas-17.2").
//! Written as the strings slipway has always stored ("14.0"), so saved projects and
//! image metadata keep parsing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ImageError;

/// An Odoo series. Stable series have minor 0 ("17.0"); the online-only ones in
/// between have a minor above 0 (branch `saas-17.2`, `saas~17.2` in release.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OdooVersion {
    major: u32,
    minor: u32,
}

impl OdooVersion {
    pub const V14: OdooVersion = OdooVersion::new(14, 0);
    pub const V19: OdooVersion = OdooVersion::new(19, 0);
    /// The series Debian has a package of: the ones `Recipe::for_version` builds.
    pub const PACKAGED: [OdooVersion; 2] = [OdooVersion::V14, OdooVersion::V19];

    pub const fn new(major: u32, minor: u32) -> OdooVersion {
        OdooVersion { major, minor }
    }

    /// Major number, for version-dependent behaviour (e.g. 16.0+ has `odoo neutralize`).
    pub fn major(self) -> u32 {
        self.major
    }

    pub fn minor(self) -> u32 {
        self.minor
    }

    /// Since 19.0 a new database gets no demo data unless asked with `--with-demo`.
    pub fn demo_is_opt_in(self) -> bool {
        self.major >= 19
    }

    pub fn is_packaged(self) -> bool {
        OdooVersion::PACKAGED.contains(&self)
    }
}

impl fmt::Display for OdooVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minor {
            0 => write!(f, "{}.0", self.major),
            minor => write!(f, "saas-{}.{minor}", self.major),
        }
    }
}

impl FromStr for OdooVersion {
    type Err = ImageError;

    /// Accepts "17.0", "17", "saas-17.2", "saas~17.2" and "17.2".
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let unknown = || ImageError::UnknownVersion(trimmed.to_string());
        let number = trimmed
            .strip_prefix("saas-")
            .or_else(|| trimmed.strip_prefix("saas~"))
            .unwrap_or(trimmed);
        let (major, minor) = number.split_once('.').unwrap_or((number, "0"));
        let parse = |digits: &str| -> Option<u32> {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        };
        match (parse(major), parse(minor)) {
            (Some(major), Some(minor)) if major > 0 => Ok(OdooVersion::new(major, minor)),
            _ => Err(unknown()),
        }
    }
}

impl Serialize for OdooVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OdooVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_saas_series_parse() {
        assert_eq!("14.0".parse::<OdooVersion>().unwrap(), OdooVersion::V14);
        assert_eq!("19".parse::<OdooVersion>().unwrap(), OdooVersion::V19);
        assert_eq!(
            "16.0".parse::<OdooVersion>().unwrap(),
            OdooVersion::new(16, 0)
        );
        for saas in ["saas-17.2", "saas~17.2", "17.2", " saas-17.2\n"] {
            assert_eq!(
                saas.parse::<OdooVersion>().unwrap(),
                OdooVersion::new(17, 2),
                "{saas}"
            );
        }
    }

    #[test]
    fn unparsable_text_is_named_in_the_error() {
        for text in ["", "master", "17.x", "0.0", "saas-", "17.0.1", "-1.0"] {
            let error = text.parse::<OdooVersion>().unwrap_err();
            assert!(
                matches!(&error, ImageError::UnknownVersion(named) if named == text.trim()),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["14.0", "16.0", "saas-17.2", "19.0"] {
            assert_eq!(text.parse::<OdooVersion>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn serialized_as_the_strings_stored_until_now() {
        assert_eq!(
            serde_json::to_string(&OdooVersion::V14).unwrap(),
            "\"14.0\""
        );
        let parsed: OdooVersion = serde_json::from_str("\"19.0\"").unwrap();
        assert_eq!(parsed, OdooVersion::V19);
        assert!(serde_json::from_str::<OdooVersion>("\"nineteen\"").is_err());
    }

    #[test]
    fn behaviour_follows_the_major_number() {
        assert_eq!(OdooVersion::new(17, 2).major(), 17);
        assert!(!OdooVersion::new(18, 0).demo_is_opt_in());
        assert!(OdooVersion::V19.demo_is_opt_in());
        assert!(OdooVersion::V14.is_packaged());
        assert!(!OdooVersion::new(16, 0).is_packaged());
        assert!(OdooVersion::new(17, 0) < OdooVersion::new(17, 2));
    }
}
