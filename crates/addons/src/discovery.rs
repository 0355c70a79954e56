//! Finding the addons of a source tree.
//!
//! An addon is a directory holding a `__manifest__.py`. Repositories put
//! them at the top level (OCA layout), in sub-folders grouping several
//! addon directories, or in git submodules; all of these are plain
//! directories once checked out, so discovery is a directory walk.
//!
//! Symbolic links to directories are **not followed**. OCA repositories
//! ship a `setup/` tree (setuptools-odoo) in which
//! `setup/<addon>/odoo/addons/<addon>` is a symlink back to the addon:
//! following links would report every addon twice. Not following them also
//! rules out cycles without bookkeeping. A symlinked `__manifest__.py`
//! file is fine: only directory links are skipped.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::manifest::{parse_manifest_bytes, Manifest};

/// File name that makes a directory an Odoo addon (Odoo 10.0+; the legacy
/// `__openerp__.py` is not looked for).
pub const MANIFEST_FILE: &str = "__manifest__.py";

/// An addon found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addon {
    /// Technical name: the directory name, which is what Odoo uses.
    pub name: String,
    /// The directory holding `__manifest__.py`.
    pub path: PathBuf,
    pub manifest: Manifest,
}

#[derive(Debug, Error)]
pub enum DiscoveryError {
    /// A manifest could not be parsed; displayed as `file:line:column: message`
    /// so editors and CI log viewers can jump to it.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Manifest {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Two directories define the same technical name; Odoo would silently
    /// pick whichever comes first in its addons path.
    #[error(
        "addon '{name}' is defined twice: {} and {}",
        first.display(),
        second.display()
    )]
    DuplicateAddon {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// The addon directory name is not UTF-8, so it cannot be a module name.
    #[error("{}: addon directory name is not valid UTF-8", path.display())]
    InvalidName { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Directories that never hold addons and can be large: Python byte-code
/// caches and JavaScript dependencies (pre-commit/prettier setups of OCA
/// repositories install them at the root).
const SKIPPED_DIRS: [&[u8]; 2] = [b"__pycache__", b"node_modules"];

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DiscoveryError + '_ {
    move |source| DiscoveryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Finds every addon under `root` (including `root` itself if it is one),
/// sorted by name.
///
/// The walk skips directories whose name starts with `.` (`.git`, `.tox`,
/// ...) as well as `__pycache__` and `node_modules`, does not look inside an addon for further addons (Odoo never
/// nests them; `tests/` fixtures inside an addon are not addons of the
/// repository), and does not follow directory symlinks (see the module
/// documentation). The walk order is sorted, so the first error reported
/// is deterministic.
pub fn discover(root: &Path) -> Result<Vec<Addon>, DiscoveryError> {
    let mut found: Vec<Addon> = Vec::new();
    if let Some(addon) = load_addon(root, None)? {
        found.push(addon);
    } else {
        walk(root, &mut found)?;
    }
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for addon in &found {
        if let Some(first) = seen.insert(addon.name.clone(), addon.path.clone()) {
            let (first, second) = if first <= addon.path {
                (first, addon.path.clone())
            } else {
                (addon.path.clone(), first)
            };
            return Err(DiscoveryError::DuplicateAddon {
                name: addon.name.clone(),
                first,
                second,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<Addon>) -> Result<(), DiscoveryError> {
    let mut children = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        // `DirEntry::file_type` does not follow symlinks: a link to a
        // directory is neither walked nor taken for an addon.
        let file_type = entry.file_type().map_err(io_error(&path))?;
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if !file_type.is_dir() || name.starts_with(b".") || SKIPPED_DIRS.contains(&name) {
            continue;
        }
        children.push((entry.file_name(), path));
    }
    children.sort();
    for (name, path) in children {
        match load_addon(&path, Some(&name))? {
            Some(addon) => found.push(addon),
            None => walk(&path, found)?,
        }
    }
    Ok(())
}

/// Reads `dir` as an addon if it holds a manifest file.
fn load_addon(dir: &Path, name: Option<&std::ffi::OsStr>) -> Result<Option<Addon>, DiscoveryError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    match fs::metadata(&manifest_path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&manifest_path)(e)),
    }
    // The root may be given as `.` or `..`; its name then comes from the
    // resolved path, and so does the path, so that `addons_paths` has a
    // real parent to return.
    let (name, path) = match name.or_else(|| dir.file_name()) {
        Some(name) => (name.to_owned(), dir.to_path_buf()),
        None => {
            let resolved = fs::canonicalize(dir).map_err(io_error(dir))?;
            let name = resolved.file_name().map(|n| n.to_owned()).ok_or_else(|| {
                DiscoveryError::InvalidName {
                    path: resolved.clone(),
                }
            })?;
            (name, resolved)
        }
    };
    let name = name
        .into_string()
        .map_err(|_| DiscoveryError::InvalidName { path: path.clone() })?;
    let bytes = fs::read(&manifest_path).map_err(io_error(&manifest_path))?;
    let manifest = parse_manifest_bytes(&bytes).map_err(|e| DiscoveryError::Manifest {
        path: manifest_path.clone(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    Ok(Some(Addon {
        name,
        path,
        manifest,
    }))
}

/// The directories to put in Odoo's `--addons-path` so that all `addons`
/// are found: the distinct parents of the addon directories, sorted.
///
/// A parent given as an empty relative path (an addon discovered under a
/// relative root such as `my_addon`) is returned as `.`.
pub fn addons_paths(addons: &[Addon]) -> Vec<PathBuf> {
    addons
        .iter()
        .filter_map(|addon| addon.path.parent())
        .map(|parent| {
            if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn addon(root: &Path, rel: &str, manifest: &str) {
        let dir = root.join(rel);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(MANIFEST_FILE), manifest).unwrap();
    }

    fn names(addons: &[Addon]) -> Vec<&str> {
        addons.iter().map(|a| a.name.as_str()).collect()
    }

    fn rel_paths<'a>(root: &Path, addons: &'a [Addon]) -> Vec<&'a Path> {
        addons
            .iter()
            .map(|a| a.path.strip_prefix(root).unwrap())
            .collect()
    }

    #[test]
    fn finds_addons_at_root_and_in_nested_folders() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "zeta", "{'name': 'Zeta', 'depends': ['base']}");
        addon(root, "alpha", "{'name': 'Alpha'}");
        addon(root, "group/sub/deep_addon", "{}");
        addon(root, "third_party/submodule/vendor_addon", "{}");
        fs::create_dir_all(root.join("empty/dir")).unwrap();
        fs::write(root.join("README.md"), "not an addon").unwrap();

        let addons = discover(root).unwrap();
        assert_eq!(
            names(&addons),
            ["alpha", "deep_addon", "vendor_addon", "zeta"]
        );
        assert_eq!(
            rel_paths(root, &addons),
            [
                Path::new("alpha"),
                Path::new("group/sub/deep_addon"),
                Path::new("third_party/submodule/vendor_addon"),
                Path::new("zeta"),
            ]
        );
        assert_eq!(addons[3].manifest.depends, ["base"]);
        assert_eq!(addons[0].manifest.name.as_deref(), Some("Alpha"));
    }

    #[test]
    fn dot_folders_and_caches_are_ignored() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "visible", "{}");
        addon(root, ".hidden_addon", "{}");
        addon(root, ".git/modules/sub/inner", "{}");
        addon(root, "group/.cache/cached", "{}");
        addon(root, "node_modules/some_js_lib", "{}");
        assert_eq!(names(&discover(root).unwrap()), ["visible"]);
    }

    #[test]
    fn does_not_descend_into_an_addon() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "outer", "{}");
        // Test fixtures shipped inside an addon are not repository addons,
        // and a broken one must not fail discovery.
        addon(root, "outer/tests/fixture_addon", "not a manifest (");
        assert_eq!(names(&discover(root).unwrap()), ["outer"]);
    }

    #[test]
    fn root_itself_can_be_an_addon() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path().join("single_addon");
        addon(&root, "", "{}");
        addon(&root, "sub/not_looked_at", "{}");
        let addons = discover(&root).unwrap();
        assert_eq!(names(&addons), ["single_addon"]);
        assert_eq!(addons[0].path, root);
        assert_eq!(addons_paths(&addons), [tmp.path().to_path_buf()]);
    }

    #[test]
    fn duplicate_names_are_an_error_naming_both_paths() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "a/same", "{}");
        addon(root, "b/same", "{}");
        let err = discover(root).unwrap_err();
        match &err {
            DiscoveryError::DuplicateAddon {
                name,
                first,
                second,
            } => {
                assert_eq!(name, "same");
                assert_eq!(first, &root.join("a/same"));
                assert_eq!(second, &root.join("b/same"));
            }
            other => panic!("unexpected error {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.starts_with("addon 'same' is defined twice: "),
            "{message}"
        );
        assert!(
            message.contains("a/same") && message.contains("b/same"),
            "{message}"
        );
    }

    #[test]
    fn manifest_errors_name_file_line_and_column() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "good", "{}");
        addon(
            root,
            "broken",
            "{\n    'name': 'Broken'\n    'depends': [],\n}\n",
        );
        let err = discover(root).unwrap_err();
        let path = root.join("broken").join(MANIFEST_FILE);
        match &err {
            DiscoveryError::Manifest {
                path: p,
                line,
                column,
                ..
            } => {
                assert_eq!(p, &path);
                assert_eq!((*line, *column), (2, 21));
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2:21: expected ',' or '}}'", path.display())),
            "{err}"
        );
    }

    #[test]
    fn io_errors_carry_the_path() {
        let tmp = TempDir::new().unwrap();
        let missing = tmp.path().join("nope");
        match discover(&missing).unwrap_err() {
            DiscoveryError::Io { path, source } => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn directory_symlinks_are_not_followed() {
        use std::os::unix::fs::symlink;
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "my_addon", "{}");
        // setuptools-odoo layout of OCA repositories: a link back to the addon.
        fs::create_dir_all(root.join("setup/my_addon/odoo/addons")).unwrap();
        symlink(
            "../../../../my_addon",
            root.join("setup/my_addon/odoo/addons/my_addon"),
        )
        .unwrap();
        // A cycle.
        symlink("..", root.join("setup/loop")).unwrap();
        let addons = discover(root).unwrap();
        assert_eq!(names(&addons), ["my_addon"]);
        assert_eq!(addons[0].path, root.join("my_addon"));
    }

    #[test]
    fn addons_paths_are_distinct_sorted_parents() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        addon(root, "z_addon", "{}");
        addon(root, "a_addon", "{}");
        addon(root, "vendor/x/x_addon", "{}");
        addon(root, "vendor/b/b_addon", "{}");
        addon(root, "vendor/b/c_addon", "{}");
        let addons = discover(root).unwrap();
        assert_eq!(
            addons_paths(&addons),
            [
                root.to_path_buf(),
                root.join("vendor/b"),
                root.join("vendor/x")
            ]
        );
        let relative = Addon {
            name: "rel".to_owned(),
            path: PathBuf::from("rel"),
            manifest: Manifest::default(),
        };
        assert_eq!(addons_paths(&[relative]), [PathBuf::from(".")]);
    }
}
