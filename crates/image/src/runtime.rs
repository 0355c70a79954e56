//! What goes into a runtime image: the Python environment an Odoo source tree asks
//! for, as runbot makes it (the branch's own `debian/control` and
//! `requirements.txt`), on the Debian release whose Python its `release.py`
//! supports. Odoo itself is not in the image: the source tree is mounted at run time.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::recipe::short_hash;
use crate::source_tree::{odoo_depends, parse_release_py, ReleaseInfo};
use crate::{AptSetup, DebianRelease, ImageError, OdooVersion};

/// Bumped when the way a runtime is assembled changes in a way the recipe data
/// does not show.
const RUNTIME_FORMAT: u32 = 1;

/// Odoo's usual Debian dependencies (those of upstream's `debian/control` for
/// 16.0–18.0), for a tree without a `debian/control`.
const DEFAULT_ODOO_DEPENDS: &[&str] = &[
    "adduser",
    "fonts-dejavu-core",
    "fonts-font-awesome",
    "fonts-inconsolata",
    "fonts-roboto-unhinted",
    "libjs-underscore",
    "postgresql-client",
    "python3-babel",
    "python3-chardet",
    "python3-dateutil",
    "python3-decorator",
    "python3-docutils",
    "python3-freezegun",
    "python3-gevent",
    "python3-greenlet",
    "python3-idna",
    "python3-jinja2",
    "python3-libsass",
    "python3-lxml",
    "python3-markupsafe",
    "python3-num2words",
    "python3-ofxparse",
    "python3-openssl",
    "python3-passlib",
    "python3-pil",
    "python3-polib",
    "python3-psutil",
    "python3-psycopg2",
    "python3-pydot",
    "python3-pypdf2",
    "python3-qrcode",
    "python3-reportlab",
    "python3-requests",
    "python3-stdnum",
    "python3-tz",
    "python3-vobject",
    "python3-werkzeug",
    "python3-xlrd",
    "python3-xlsxwriter",
    "python3-zeep",
];

/// What every runtime needs besides the tree's own dependencies: a venv with pip,
/// what pip needs to compile Odoo's usual requirements (psycopg2, python-ldap,
/// lxml, Pillow), psql for the database manager, fonts and wkhtmltopdf for PDF
/// reports. Names differ between releases (libldap2-dev became libldap-dev): the
/// ones a release lacks are left out at build time.
const RUNTIME_PACKAGES: &[&str] = &[
    "python3",
    "python3-venv",
    "python3-pip",
    "python3-dev",
    "build-essential",
    "libpq-dev",
    "libldap2-dev",
    "libldap-dev",
    "libsasl2-dev",
    "libxml2-dev",
    "libxslt1-dev",
    "libjpeg-dev",
    "zlib1g-dev",
    "libffi-dev",
    "postgresql-client",
    "ca-certificates",
    "fonts-dejavu-core",
    "fonts-noto-core",
    "wkhtmltopdf",
];

/// Everything that decides the content of a runtime image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRecipe {
    series: OdooVersion,
    release: DebianRelease,
    apt: AptSetup,
    /// Sorted: the order apt gets them in does not change the image.
    packages: BTreeSet<String>,
    requirements: String,
}

impl RuntimeRecipe {
    /// Reads the recipe from an Odoo source tree in upstream's layout.
    pub fn from_source(tree: &Path) -> Result<RuntimeRecipe, ImageError> {
        let not_odoo = |reason: String| ImageError::NotOdooSource {
            tree: tree.to_path_buf(),
            reason,
        };
        for required in ["odoo-bin", "odoo/release.py"] {
            if !tree.join(required).is_file() {
                return Err(not_odoo(format!("it has no {required}")));
            }
        }
        let release_py = read_text(&tree.join("odoo/release.py"))?.unwrap_or_default();
        let info = parse_release_py(&release_py)
            .map_err(|reason| not_odoo(format!("odoo/release.py: {reason}")))?;
        let release =
            DebianRelease::for_python(info.min_python, info.max_python).ok_or_else(|| {
                ImageError::NoDebianRelease {
                    series: info.series,
                    wanted: python_range(&info),
                }
            })?;
        let depends = read_text(&tree.join("debian/control"))?
            .and_then(|control| odoo_depends(&control))
            .unwrap_or_else(|| DEFAULT_ODOO_DEPENDS.iter().map(|p| p.to_string()).collect());
        let requirements = read_text(&tree.join("requirements.txt"))?.unwrap_or_default();
        Ok(RuntimeRecipe::new(
            info.series,
            release,
            depends,
            requirements,
        ))
    }

    fn new(
        series: OdooVersion,
        release: DebianRelease,
        depends: Vec<String>,
        requirements: String,
    ) -> RuntimeRecipe {
        let packages = depends
            .into_iter()
            .chain(RUNTIME_PACKAGES.iter().map(|p| p.to_string()))
            .collect();
        RuntimeRecipe {
            series,
            release,
            apt: AptSetup::for_release(release),
            packages,
            requirements,
        }
    }

    pub fn series(&self) -> OdooVersion {
        self.series
    }

    pub fn debian_release(&self) -> DebianRelease {
        self.release
    }

    pub fn apt(&self) -> &AptSetup {
        &self.apt
    }

    /// The Debian packages to install, those the release lacks included (they are
    /// left out at build time).
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        self.packages.iter().map(String::as_str)
    }

    /// The tree's `requirements.txt`, empty when it has none.
    pub fn requirements(&self) -> &str {
        &self.requirements
    }

    /// The canonical text the id is hashed from; requirements.txt is taken as is,
    /// after its length.
    pub fn canonical_text(&self) -> String {
        let mut text = format!(
            "slipway-runtime-recipe {RUNTIME_FORMAT}\nodoo {}\n",
            self.series
        );
        text.push_str(&self.apt.canonical_lines());
        for package in &self.packages {
            text.push_str(&format!("package {package}\n"));
        }
        text.push_str(&format!("requirements {}\n", self.requirements.len()));
        text.push_str(&self.requirements);
        text
    }

    /// Short content hash of the recipe: the image's cache key.
    pub fn id(&self) -> String {
        short_hash(&self.canonical_text())
    }

    /// Directory name of the image in the store, e.g. `runtime-17.0-1a2b3c4d5e6f7a8b`.
    pub fn image_name(&self) -> String {
        format!("runtime-{}-{}", self.series, self.id())
    }
}

/// The text of a file of the tree, `None` when it does not exist.
fn read_text(path: &Path) -> Result<Option<String>, ImageError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ImageError::io("reading", path)(error)),
    }
}

fn python_range(info: &ReleaseInfo) -> String {
    match (info.min_python, info.max_python) {
        (Some(min), Some(max)) => format!("{min} to {max}"),
        (Some(min), None) => format!("{min} or newer"),
        (None, Some(max)) => format!("{max} or older"),
        (None, None) => "of any version".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree with `release.py` declaring `version_info` and the Python bounds,
    /// plus the given files.
    fn tree(release_py: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let temp = tempfile::tempdir().unwrap();
        let mut all = vec![
            ("odoo-bin", "#!/usr/bin/env python3\n"),
            ("odoo/release.py", release_py),
        ];
        all.extend_from_slice(files);
        for (path, content) in all {
            let full = temp.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, content).unwrap();
        }
        temp
    }

    const RELEASE_17: &str =
        "version_info = (17, 0, 0, FINAL, 0, '')\nMIN_PY_VERSION = (3, 10)\nMAX_PY_VERSION = (3, 12)\n";

    #[test]
    fn a_17_0_tree_gets_bookworm_its_depends_and_the_runtime_packages() {
        let tree = tree(
            RELEASE_17,
            &[
                (
                    "debian/control",
                    "Package: odoo\nDepends: ${misc:Depends}, python3-babel\n",
                ),
                ("requirements.txt", "Babel==2.10.3\n"),
            ],
        );
        let recipe = RuntimeRecipe::from_source(tree.path()).unwrap();
        assert_eq!(recipe.series(), OdooVersion::new(17, 0));
        assert_eq!(recipe.debian_release(), DebianRelease::BOOKWORM);
        let packages: Vec<&str> = recipe.packages().collect();
        for expected in ["python3-babel", "python3-venv", "libpq-dev", "wkhtmltopdf"] {
            assert!(packages.contains(&expected), "{expected}: {packages:?}");
        }
        assert!(!packages.contains(&"python3-zeep"), "{packages:?}");
        assert_eq!(recipe.requirements(), "Babel==2.10.3\n");
        assert!(recipe.image_name().starts_with("runtime-17.0-"));
        let sources = recipe.apt().sources_list("http://m/debian");
        assert!(sources.contains(" bookworm-updates ") && !sources.contains("security"));
    }

    #[test]
    fn a_tree_without_control_or_requirements_gets_the_defaults() {
        let tree = tree("version_info = (14, 0, 0, FINAL, 0, '')\n", &[]);
        let recipe = RuntimeRecipe::from_source(tree.path()).unwrap();
        assert_eq!(recipe.debian_release(), DebianRelease::BULLSEYE);
        assert!(recipe.packages().any(|p| p == "python3-psycopg2"));
        assert_eq!(recipe.requirements(), "");
    }

    #[test]
    fn a_tree_that_is_not_odoo_is_named() {
        let temp = tempfile::tempdir().unwrap();
        let error = RuntimeRecipe::from_source(temp.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&temp.path().display().to_string()) && error.contains("odoo-bin"),
            "{error}"
        );
        let broken = tree("series = '17.0'\n", &[]);
        let error = RuntimeRecipe::from_source(broken.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("version_info"), "{error}");
    }

    #[test]
    fn a_python_range_no_release_has_is_refused() {
        let tree = tree(
            "version_info = (21, 0, 0, FINAL, 0, '')\nMIN_PY_VERSION = (3, 14)\n",
            &[],
        );
        let error = RuntimeRecipe::from_source(tree.path()).unwrap_err();
        assert!(matches!(error, ImageError::NoDebianRelease { .. }));
        assert!(error.to_string().contains("3.14 or newer"), "{error}");
    }

    #[test]
    fn the_id_is_stable_and_changes_with_the_requirements() {
        let make = |requirements: &str| {
            RuntimeRecipe::new(
                OdooVersion::new(17, 0),
                DebianRelease::BOOKWORM,
                vec!["python3-babel".into(), "adduser".into()],
                requirements.into(),
            )
        };
        let recipe = make("num2words==0.5.13\n");
        assert_eq!(recipe.id(), make("num2words==0.5.13\n").id());
        assert_eq!(recipe.id().len(), 16);
        assert_ne!(recipe.id(), make("num2words==0.5.14\n").id());
        assert_ne!(recipe.id(), make("").id());
        let reordered = RuntimeRecipe::new(
            OdooVersion::new(17, 0),
            DebianRelease::BOOKWORM,
            vec!["adduser".into(), "python3-babel".into()],
            "num2words==0.5.13\n".into(),
        );
        assert_eq!(recipe.id(), reordered.id());
    }
}
