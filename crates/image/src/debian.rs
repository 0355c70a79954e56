//! The Debian side of an image, shared by packaged and runtime images: the releases
//! slipway builds on, with their Python, and the apt sources of an image.

use std::fmt;

/// A `major.minor` Python version, as Odoo's `release.py` bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
}

impl PythonVersion {
    pub const fn new(major: u32, minor: u32) -> PythonVersion {
        PythonVersion { major, minor }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A Debian release an image can be based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DebianRelease {
    pub codename: &'static str,
    /// Its stable-updates suite. The security suite is never used: on the mirror we
    /// can reach, bullseye-security returns 404 for some files.
    pub updates_suite: &'static str,
    pub python: PythonVersion,
}

impl DebianRelease {
    pub const BULLSEYE: DebianRelease = DebianRelease {
        codename: "bullseye",
        updates_suite: "bullseye-updates",
        python: PythonVersion::new(3, 9),
    };
    pub const BOOKWORM: DebianRelease = DebianRelease {
        codename: "bookworm",
        updates_suite: "bookworm-updates",
        python: PythonVersion::new(3, 11),
    };
    pub const TRIXIE: DebianRelease = DebianRelease {
        codename: "trixie",
        updates_suite: "trixie-updates",
        python: PythonVersion::new(3, 13),
    };
    /// Every release slipway builds on, oldest first.
    pub const ALL: [DebianRelease; 3] = [
        DebianRelease::BULLSEYE,
        DebianRelease::BOOKWORM,
        DebianRelease::TRIXIE,
    ];

    /// The release whose Python fits `min..=max`: the newest one when there is an
    /// upper bound, else the oldest one above `min` (Odoo's that declare no maximum
    /// are old and were made for the Python of their time).
    pub fn for_python(
        min: Option<PythonVersion>,
        max: Option<PythonVersion>,
    ) -> Option<DebianRelease> {
        let mut fitting = DebianRelease::ALL.into_iter().filter(|release| {
            min.is_none_or(|min| release.python >= min)
                && max.is_none_or(|max| release.python <= max)
        });
        if max.is_some() {
            fitting.next_back()
        } else {
            fitting.next()
        }
    }
}

impl fmt::Display for DebianRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (Python {})", self.codename, self.python)
    }
}

/// One apt source line of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub suite: &'static str,
    /// sid's Release file on the mirror is expired; apt must not reject it.
    pub skip_valid_until: bool,
}

/// Where an image's packages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSetup {
    /// The release debootstrap installs.
    pub base_suite: &'static str,
    pub sources: Vec<AptSource>,
    /// A suite whose packages are available only when asked for by name
    /// (`package/suite`), pinned low so nothing else is taken from it.
    pub low_priority_suite: Option<&'static str>,
}

impl AptSetup {
    /// A release with its updates suite, nothing else.
    pub fn for_release(release: DebianRelease) -> AptSetup {
        AptSetup {
            base_suite: release.codename,
            sources: [release.codename, release.updates_suite]
                .into_iter()
                .map(|suite| AptSource {
                    suite,
                    skip_valid_until: false,
                })
                .collect(),
            low_priority_suite: None,
        }
    }

    /// The recipe lines describing this setup (part of a recipe's canonical text).
    /// The mirror is deliberately not part of it: the same suites from another
    /// mirror make the same image.
    pub(crate) fn canonical_lines(&self) -> String {
        let mut text = format!("base {}\n", self.base_suite);
        for source in &self.sources {
            text.push_str(&format!(
                "source {} valid-until-check={}\n",
                source.suite, !source.skip_valid_until
            ));
        }
        if let Some(suite) = self.low_priority_suite {
            text.push_str(&format!("low-priority {suite}\n"));
        }
        text
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

    fn py(minor: u32) -> Option<PythonVersion> {
        Some(PythonVersion::new(3, minor))
    }

    #[test]
    fn the_newest_release_within_the_bounds_is_chosen() {
        // 19.0 declares 3.10–3.13, 17.0 and 18.0 3.10–3.12, 16.0 3.7–3.10.
        assert_eq!(
            DebianRelease::for_python(py(10), py(13)),
            Some(DebianRelease::TRIXIE)
        );
        assert_eq!(
            DebianRelease::for_python(py(10), py(12)),
            Some(DebianRelease::BOOKWORM)
        );
        assert_eq!(
            DebianRelease::for_python(py(7), py(10)),
            Some(DebianRelease::BULLSEYE)
        );
    }

    #[test]
    fn without_a_maximum_the_oldest_release_above_the_minimum_is_chosen() {
        assert_eq!(
            DebianRelease::for_python(py(6), None),
            Some(DebianRelease::BULLSEYE)
        );
        assert_eq!(
            DebianRelease::for_python(py(10), None),
            Some(DebianRelease::BOOKWORM)
        );
        assert_eq!(
            DebianRelease::for_python(None, None),
            Some(DebianRelease::BULLSEYE)
        );
    }

    #[test]
    fn no_release_fits_a_range_between_their_pythons() {
        assert_eq!(DebianRelease::for_python(py(12), py(12)), None);
        assert_eq!(DebianRelease::for_python(py(14), None), None);
        assert_eq!(DebianRelease::for_python(None, py(8)), None);
    }

    #[test]
    fn a_release_setup_never_uses_the_security_suite() {
        let setup = AptSetup::for_release(DebianRelease::BULLSEYE);
        let sources = setup.sources_list("http://m/debian");
        assert_eq!(
            sources,
            "deb http://m/debian bullseye main\ndeb http://m/debian bullseye-updates main\n"
        );
        assert_eq!(setup.apt_preferences(), None);
    }
}
