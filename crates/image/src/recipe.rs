//! What goes into a packaged image (Debian's own Odoo package), as data. The image
//! id is a hash of this recipe, so changing a package list or a suite yields a new
//! image instead of silently reusing an old one.

use sha2::{Digest, Sha256};

use crate::{AptSetup, AptSource, DebianRelease, ImageError, OdooVersion};

/// Bumped when the way an image is assembled changes in a way the recipe data does
/// not show (e.g. a new file written into the root filesystem).
const RECIPE_FORMAT: u32 = 1;

/// Everything that decides the content of a packaged image: Debian's own Odoo
/// package on the release it was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub odoo: OdooVersion,
    pub apt: AptSetup,
    /// Packages installed with `--no-install-recommends`; `name/suite` takes one
    /// package from the low-priority suite.
    pub packages: Vec<&'static str>,
    /// The Debian package that carries Odoo, for recording its exact version.
    pub odoo_package: &'static str,
}

impl Recipe {
    /// The packaged image of `odoo`; an error for a series Debian has no package of.
    pub fn for_version(odoo: OdooVersion) -> Result<Recipe, ImageError> {
        // pip installs a repository's requirements.txt into the build (not the
        // image); psql/pg_dump serve Odoo's database manager and the web shell.
        match odoo {
            OdooVersion::V14 => Ok(Recipe {
                odoo,
                apt: AptSetup::for_release(DebianRelease::BULLSEYE),
                packages: vec![
                    "odoo-14",
                    "python3-pip",
                    "postgresql-client",
                    "ca-certificates",
                ],
                odoo_package: "odoo-14",
            }),
            // odoo-19 exists only in sid, and a sid root filesystem breaks at
            // import (Python 3.14 + pytz). trixie (Python 3.13) with only odoo-19
            // taken from sid works.
            OdooVersion::V19 => {
                let mut apt = AptSetup::for_release(DebianRelease::TRIXIE);
                apt.sources.push(AptSource {
                    suite: "sid",
                    skip_valid_until: true,
                });
                apt.low_priority_suite = Some("sid");
                Ok(Recipe {
                    odoo,
                    apt,
                    packages: vec![
                        "odoo-19/sid",
                        "python3-pip",
                        "postgresql-client",
                        "ca-certificates",
                    ],
                    odoo_package: "odoo-19",
                })
            }
            other => Err(ImageError::NotPackaged(other)),
        }
    }

    /// The canonical text the id is hashed from.
    pub fn canonical_text(&self) -> String {
        let mut text = format!("slipway-image-recipe {RECIPE_FORMAT}\nodoo {}\n", self.odoo);
        text.push_str(&self.apt.canonical_lines());
        for package in &self.packages {
            text.push_str(&format!("package {package}\n"));
        }
        text
    }

    /// Short content hash of the recipe: the image's cache key.
    pub fn id(&self) -> String {
        short_hash(&self.canonical_text())
    }

    /// Directory name of the image in the store, e.g. `odoo-14.0-1a2b3c4d5e6f7a8b`.
    pub fn image_name(&self) -> String {
        format!("odoo-{}-{}", self.odoo, self.id())
    }
}

/// The first 16 hex digits of the SHA-256 of `text`: an image id.
pub(crate) fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packaged(odoo: OdooVersion) -> Recipe {
        Recipe::for_version(odoo).unwrap()
    }

    #[test]
    fn packaged_recipe_ids_are_those_of_the_images_already_built() {
        // Changing these orphans every cached image: bump RECIPE_FORMAT on purpose
        // instead.
        assert_eq!(packaged(OdooVersion::V14).id(), "03a0ee1edb5ce6ca");
        assert_eq!(packaged(OdooVersion::V19).id(), "818b0520307e1fa2");
        assert_eq!(
            packaged(OdooVersion::V14).image_name(),
            "odoo-14.0-03a0ee1edb5ce6ca"
        );
    }

    #[test]
    fn a_series_without_a_debian_package_points_to_building_from_source() {
        let error = Recipe::for_version(OdooVersion::new(16, 0)).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ImageError::NotPackaged(_)));
        assert!(
            message.contains("16.0") && message.contains("--odoo-repo"),
            "{message}"
        );
    }

    #[test]
    fn recipe_id_changes_with_the_package_list() {
        let mut recipe = packaged(OdooVersion::V14);
        let before = recipe.id();
        recipe.packages.push("python3-phonenumbers");
        assert_ne!(before, recipe.id());
    }

    #[test]
    fn v19_takes_only_odoo_from_sid_and_tolerates_its_expired_release() {
        let recipe = packaged(OdooVersion::V19);
        let sources = recipe.apt.sources_list("http://deb.debian.org/debian");
        assert!(
            sources.contains("deb [check-valid-until=no] http://deb.debian.org/debian sid main")
        );
        assert!(sources.contains("deb http://deb.debian.org/debian trixie main"));
        assert!(recipe
            .apt
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
        let sources = packaged(OdooVersion::V14)
            .apt
            .sources_list("http://m/debian");
        assert!(!sources.contains("security"), "{sources}");
    }
}
