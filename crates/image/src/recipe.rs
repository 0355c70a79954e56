//! What goes into an Odoo runtime image, as data. The image id is a hash of this
//! recipe, so changing a package list or a suite yields a new image instead of
//! silently reusing an old one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ImageError;

/// Bumped when the way an image is assembled changes in a way the recipe data does
/// not show (e.g. a new file written into the root filesystem).
const RECIPE_FORMAT: u32 = 1;

/// The Odoo series slipway can build images for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OdooVersion {
    #[serde(rename = "14.0")]
    V14,
    #[serde(rename = "19.0")]
    V19,
}

impl OdooVersion {
    pub const ALL: [OdooVersion; 2] = [OdooVersion::V14, OdooVersion::V19];

    pub fn as_str(self) -> &'static str {
        match self {
            OdooVersion::V14 => "14.0",
            OdooVersion::V19 => "19.0",
        }
    }

    /// Major number, for version-dependent behaviour (e.g. 16.0+ has `odoo neutralize`).
    pub fn major(self) -> u32 {
        match self {
            OdooVersion::V14 => 14,
            OdooVersion::V19 => 19,
        }
    }

    /// Since 19.0 a new database gets no demo data unless asked with `--with-demo`.
    pub fn demo_is_opt_in(self) -> bool {
        self.major() >= 19
    }
}

impl fmt::Display for OdooVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OdooVersion {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "14.0" | "14" => Ok(OdooVersion::V14),
            "19.0" | "19" => Ok(OdooVersion::V19),
            other => Err(ImageError::UnknownVersion(other.to_string())),
        }
    }
}

/// One apt source line of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub suite: &'static str,
    /// sid's Release file on the mirror is expired; apt must not reject it.
    pub skip_valid_until: bool,
}

/// Everything that decides the content of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub odoo: OdooVersion,
    /// The release debootstrap installs.
    pub base_suite: &'static str,
    pub sources: Vec<AptSource>,
    /// A suite whose packages are available only when asked for by name
    /// (`package/suite`), pinned low so nothing else is taken from it.
    pub low_priority_suite: Option<&'static str>,
    /// Packages installed with `--no-install-recommends`; `name/suite` takes one
    /// package from the low-priority suite.
    pub packages: Vec<&'static str>,
    /// The Debian package that carries Odoo, for recording its exact version.
    pub odoo_package: &'static str,
}

impl Recipe {
    pub fn for_version(odoo: OdooVersion) -> Recipe {
        // pip installs a repository's requirements.txt into the build (not the
        // image); psql/pg_dump serve Odoo's database manager and the web shell.
        match odoo {
            // bullseye-security returns 404 for some files on the mirror we can
            // reach, so only bullseye and bullseye-updates are used.
            OdooVersion::V14 => Recipe {
                odoo,
                base_suite: "bullseye",
                sources: vec![
                    AptSource {
                        suite: "bullseye",
                        skip_valid_until: false,
                    },
                    AptSource {
                        suite: "bullseye-updates",
                        skip_valid_until: false,
                    },
                ],
                low_priority_suite: None,
                packages: vec![
                    "odoo-14",
                    "python3-pip",
                    "postgresql-client",
                    "ca-certificates",
                ],
                odoo_package: "odoo-14",
            },
            // odoo-19 exists only in sid, and a sid root filesystem breaks at
            // import (Python 3.14 + pytz). trixie (Python 3.13) with only odoo-19
            // taken from sid works.
            OdooVersion::V19 => Recipe {
                odoo,
                base_suite: "trixie",
                sources: vec![
                    AptSource {
                        suite: "trixie",
                        skip_valid_until: false,
                    },
                    AptSource {
                        suite: "trixie-updates",
                        skip_valid_until: false,
                    },
                    AptSource {
                        suite: "sid",
                        skip_valid_until: true,
                    },
                ],
                low_priority_suite: Some("sid"),
                packages: vec![
                    "odoo-19/sid",
                    "python3-pip",
                    "postgresql-client",
                    "ca-certificates",
                ],
                odoo_package: "odoo-19",
            },
        }
    }

    /// The canonical text the id is hashed from. The mirror is deliberately not part
    /// of it: the same suites from another mirror make the same image.
    pub fn canonical_text(&self) -> String {
        let mut text = format!(
            "slipway-image-recipe {RECIPE_FORMAT}\nodoo {}\nbase {}\n",
            self.odoo, self.base_suite
        );
        for source in &self.sources {
            text.push_str(&format!(
                "source {} valid-until-check={}\n",
                source.suite, !source.skip_valid_until
            ));
        }
        if let Some(suite) = self.low_priority_suite {
            text.push_str(&format!("low-priority {suite}\n"));
        }
        for package in &self.packages {
            text.push_str(&format!("package {package}\n"));
        }
        text
    }

    /// Short content hash of the recipe: the image's cache key.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.canonical_text().as_bytes());
        hex::encode(&digest[..8])
    }

    /// Directory name of the image in the store, e.g. `odoo-14.0-1a2b3c4d5e6f7a8b`.
    pub fn image_name(&self) -> String {
        format!("odoo-{}-{}", self.odoo, self.id())
    }

    /// `/etc/apt/sources.list` of the image.
    pub fn sources_list(&self, mirror: &str) -> String {
        let mut text = String::new();
        for source in &self.sources {
            let options = if source.skip_valid_until {
                "[check-valid-until=no] "
            } else {
                ""
            };
            text.push_str(&format!("deb {options}{mirror} {} main\n", source.suite));
        }
        text
    }

    /// `/etc/apt/preferences.d/slipway` of the image, if a suite is pinned low.
    pub fn apt_preferences(&self) -> Option<String> {
        self.low_priority_suite
            .map(|suite| format!("Package: *\nPin: release n={suite}\nPin-Priority: 100\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_unknown_ones_are_named() {
        assert_eq!("14.0".parse::<OdooVersion>().unwrap(), OdooVersion::V14);
        assert_eq!("19".parse::<OdooVersion>().unwrap(), OdooVersion::V19);
        let error = "16.0".parse::<OdooVersion>().unwrap_err().to_string();
        assert!(
            error.contains("16.0") && error.contains("14.0") && error.contains("19.0"),
            "{error}"
        );
    }

    #[test]
    fn recipe_id_is_stable_and_differs_between_versions() {
        let v14 = Recipe::for_version(OdooVersion::V14);
        assert_eq!(v14.id(), Recipe::for_version(OdooVersion::V14).id());
        assert_ne!(v14.id(), Recipe::for_version(OdooVersion::V19).id());
        assert_eq!(v14.id().len(), 16);
    }

    #[test]
    fn recipe_id_changes_with_the_package_list() {
        let mut recipe = Recipe::for_version(OdooVersion::V14);
        let before = recipe.id();
        recipe.packages.push("python3-phonenumbers");
        assert_ne!(before, recipe.id());
    }

    #[test]
    fn v19_takes_only_odoo_from_sid_and_tolerates_its_expired_release() {
        let recipe = Recipe::for_version(OdooVersion::V19);
        let sources = recipe.sources_list("http://deb.debian.org/debian");
        assert!(
            sources.contains("deb [check-valid-until=no] http://deb.debian.org/debian sid main")
        );
        assert!(sources.contains("deb http://deb.debian.org/debian trixie main"));
        assert!(recipe
            .apt_preferences()
            .unwrap()
            .contains("Pin-Priority: 100"));
        let from_sid: Vec<_> = recipe
            .packages
            .iter()
            .filter(|p| p.ends_with("/sid"))
            .collect();
        assert_eq!(from_sid, vec![&"odoo-19/sid"]);
    }

    #[test]
    fn v14_never_uses_bullseye_security() {
        let sources = Recipe::for_version(OdooVersion::V14).sources_list("http://m/debian");
        assert!(!sources.contains("security"), "{sources}");
    }
}
