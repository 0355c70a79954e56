//! Where backups live, outside the cluster's data:
//!
//! ```text
//! <backup dir>/<project>/
//!   pool/<xx>/<sha1>        every filestore file once, by content, read-only
//!   <id>/manifest.json      a complete backup: written last
//!   <id>/database.dump      pg_dump's custom format
//!   <id>/filestore/<path>   hard links into pool/
//!   .partial-<id>/          a backup being written: renamed to <id>/ when
//!                           complete, removed when anything fails
//! ```
//!
//! Hard links make each backup a plain directory that standard tools restore
//! (`pg_restore` and a copy of `filestore/`), while identical files — Odoo names
//! them by content — take their room once across backups. A pool file whose
//! last backup is gone has one link left, and [`ProjectBackups::collect_pool`]
//! removes it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::manifest::{BackupManifest, MANIFEST_FORMAT};
use crate::BackupError;

pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const DATABASE_FILE: &str = "database.dump";
pub(crate) const FILESTORE: &str = "filestore";
const POOL: &str = "pool";
const PARTIAL_PREFIX: &str = ".partial-";

/// The backup directory of every project.
#[derive(Debug, Clone)]
pub struct BackupStore {
    root: PathBuf,
}

impl BackupStore {
    pub fn new(root: impl Into<PathBuf>) -> BackupStore {
        BackupStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The backups of one project (its name is a safe file name: project
    /// names are checked when projects are added).
    pub fn project(&self, project: &str) -> ProjectBackups {
        ProjectBackups {
            dir: self.root.join(project),
        }
    }
}

/// The backups of one project.
#[derive(Debug, Clone)]
pub struct ProjectBackups {
    dir: PathBuf,
}

/// A complete backup on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub dir: PathBuf,
    pub manifest: BackupManifest,
}

impl Backup {
    pub fn database_file(&self) -> PathBuf {
        self.dir.join(&self.manifest.database.file)
    }

    pub fn filestore(&self) -> PathBuf {
        self.dir.join(FILESTORE)
    }
}

impl ProjectBackups {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn backup_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub(crate) fn partial_dir(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{PARTIAL_PREFIX}{id}"))
    }

    pub(crate) fn pool(&self) -> PathBuf {
        self.dir.join(POOL)
    }

    /// Backup `id`, if it is complete.
    pub fn open(&self, id: &str) -> Result<Backup, BackupError> {
        let dir = self.backup_dir(id);
        let path = dir.join(MANIFEST);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(BackupError::NotFound {
                    id: id.to_string(),
                    dir: self.dir.clone(),
                })
            }
            Err(error) => return Err(BackupError::io("reading", path, error)),
        };
        let manifest: BackupManifest =
            serde_json::from_slice(&text).map_err(|error| BackupError::Unreadable {
                id: id.to_string(),
                reason: format!("its manifest is not valid: {error}"),
            })?;
        if manifest.format > MANIFEST_FORMAT {
            return Err(BackupError::Unreadable {
                id: id.to_string(),
                reason: format!(
                    "its manifest has format {}, newer than this slipway's {MANIFEST_FORMAT}: upgrade slipway",
                    manifest.format
                ),
            });
        }
        Ok(Backup { dir, manifest })
    }

    /// Removes backup `id` (missing is fine); its pool files go at the next
    /// [`ProjectBackups::collect_pool`].
    pub fn remove(&self, id: &str) -> Result<(), BackupError> {
        for dir in [self.backup_dir(id), self.partial_dir(id)] {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(BackupError::io("removing", dir, error)),
            }
        }
        Ok(())
    }

    /// Removes what interrupted backups left (`.partial-*`).
    pub fn remove_partial(&self) -> Result<usize, BackupError> {
        let mut removed = 0;
        for entry in read_dir_or_empty(&self.dir)? {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                let path = entry.path();
                fs::remove_dir_all(&path).map_err(|e| BackupError::io("removing", path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the pool's files no backup links to any more (and leftovers of
    /// interrupted copies). Returns the files and bytes freed.
    pub fn collect_pool(&self) -> Result<(u64, u64), BackupError> {
        let (mut files, mut bytes) = (0, 0);
        for shard in read_dir_or_empty(&self.pool())? {
            let shard_path = shard.path();
            for entry in read_dir_or_empty(&shard_path)? {
                let path = entry.path();
                let metadata = entry
                    .metadata()
                    .map_err(|e| BackupError::io("reading", &path, e))?;
                let temporary = entry.file_name().to_string_lossy().starts_with('.');
                if metadata.nlink() <= 1 || temporary {
                    fs::remove_file(&path).map_err(|e| BackupError::io("removing", &path, e))?;
                    files += 1;
                    bytes += metadata.len();
                }
            }
            // Empty shards go too (a failing removal means it is not empty).
            let _ = fs::remove_dir(&shard_path);
        }
        Ok((files, bytes))
    }

    /// Bytes the project's backups take on disk, each pool file counted once.
    pub fn disk_bytes(&self) -> Result<u64, BackupError> {
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        let mut stack = vec![self.dir.clone()];
        while let Some(dir) = stack.pop() {
            for entry in read_dir_or_empty(&dir)? {
                let path = entry.path();
                let metadata = fs::symlink_metadata(&path)
                    .map_err(|e| BackupError::io("reading", &path, e))?;
                if metadata.is_dir() {
                    stack.push(path);
                } else if metadata.is_file() && seen.insert((metadata.dev(), metadata.ino())) {
                    total += metadata.len();
                }
            }
        }
        Ok(total)
    }
}

fn read_dir_or_empty(dir: &Path) -> Result<Vec<fs::DirEntry>, BackupError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BackupError::io("reading", dir, e)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(vec![]),
        Err(error) => Err(BackupError::io("reading", dir, error)),
    }
}
