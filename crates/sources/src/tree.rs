//! One read-only tree per (repository, commit), exported once from its mirror
//! and shared by every build that runs that commit; collected once no build
//! uses it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use slipway_checkout::{checked, run_git};

use crate::mirror::is_full_commit;
use crate::SourceError;

const EXPORT_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The exported trees under one directory: `<root>/<mirror>/<commit>/`.
#[derive(Debug, Clone)]
pub struct Trees {
    root: PathBuf,
}

impl Trees {
    pub fn new(root: impl Into<PathBuf>) -> Trees {
        Trees { root: root.into() }
    }

    /// Where the tree of `commit` of `mirror` is (or will be).
    pub fn path_of(&self, mirror: &Path, commit: &str) -> PathBuf {
        let name = mirror
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.root.join(name).join(commit)
    }

    /// The tree of `commit` (in `mirror`), exported now unless it exists.
    /// Exported next to its place and renamed when complete: a tree that
    /// exists is whole.
    pub fn tree(&self, mirror: &Path, commit: &str) -> Result<PathBuf, SourceError> {
        if !is_full_commit(commit) {
            return Err(SourceError::BadCommit(commit.to_string()));
        }
        let path = self.path_of(mirror, commit);
        let parent = path.parent().expect("a tree has a parent");
        std::fs::create_dir_all(parent).map_err(SourceError::io("creating", parent))?;
        let _lock = lock(&path)?;
        if path.is_dir() {
            touch(&path);
            return Ok(path);
        }
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(SourceError::io("creating", &partial))?;
        if let Err(error) = export(mirror, commit, &partial) {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(error);
        }
        std::fs::rename(&partial, &path).map_err(SourceError::io("renaming", &partial))?;
        tracing::info!(tree = %path.display(), "source tree exported");
        Ok(path)
    }

    /// Removes the trees no build uses: not in `in_use` and not used for
    /// `idle` (a build about to record its trees is not raced). Returns how
    /// many were removed.
    pub fn collect(&self, in_use: &HashSet<PathBuf>, idle: Duration) -> usize {
        let mut removed = 0;
        let Ok(mirrors) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        for mirror in mirrors.flatten() {
            let Ok(trees) = std::fs::read_dir(mirror.path()) else {
                continue;
            };
            for tree in trees.flatten() {
                let path = tree.path();
                let name = tree.file_name().to_string_lossy().into_owned();
                let partial = name.contains(".partial-");
                if !(is_full_commit(&name) || partial) || in_use.contains(&path) {
                    continue;
                }
                let Ok(lock) = lock(&path) else { continue };
                let unused_for = std::fs::metadata(&path)
                    .and_then(|metadata| metadata.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                    .unwrap_or_default();
                if unused_for >= idle && std::fs::remove_dir_all(&path).is_ok() {
                    removed += 1;
                    tracing::info!(tree = %path.display(), "unused source tree removed");
                }
                drop(lock);
                let _ = std::fs::remove_file(lock_path(&path));
            }
        }
        removed
    }
}

/// Writes the files of `commit` into `into` through a private index, so
/// that the shared mirror is only read.
fn export(mirror: &Path, commit: &str, into: &Path) -> Result<(), SourceError> {
    let index = into.with_extension("index");
    let envs = [("GIT_INDEX_FILE".to_string(), index.display().to_string())];
    let git_dir = OsStr::new("--git-dir").to_owned();
    let work_tree = OsStr::new("--work-tree").to_owned();
    let base = [
        git_dir.as_os_str(),
        mirror.as_os_str(),
        work_tree.as_os_str(),
        into.as_os_str(),
    ];
    let result = checked(
        run_git(
            None,
            base.iter()
                .copied()
                .chain([OsStr::new("read-tree"), OsStr::new(commit)]),
            &envs,
            EXPORT_TIME_LIMIT,
        )?,
        "read-tree",
    )
    .and_then(|_| {
        checked(
            run_git(
                None,
                base.iter()
                    .copied()
                    .chain([OsStr::new("checkout-index"), OsStr::new("--all")]),
                &envs,
                EXPORT_TIME_LIMIT,
            )?,
            "checkout-index",
        )
    });
    let _ = std::fs::remove_file(&index);
    result?;
    Ok(())
}

fn lock_path(tree: &Path) -> PathBuf {
    tree.with_extension("lock")
}

fn lock(tree: &Path) -> Result<File, SourceError> {
    let path = lock_path(tree);
    let file = File::create(&path).map_err(SourceError::io("creating", &path))?;
    file.lock().map_err(SourceError::io("locking", &path))?;
    Ok(file)
}

/// Marks a tree as used now (its modification time), for [`Trees::collect`].
fn touch(tree: &Path) {
    if let Ok(file) = File::open(tree) {
        let _ = file.set_modified(SystemTime::now());
    }
}
