//! What a kept build takes on disk: its database, as PostgreSQL counts it,
//! and its files (checkout, Odoo's data dir with the filestore, logs), as
//! the blocks they hold.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::{BuildError, Engine};

/// Deeper directories are not counted (a filestore is two levels deep; a
/// checkout rarely more than a dozen).
const MAX_DEPTH: usize = 64;

/// A build's disk use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUse {
    pub database_bytes: u64,
    pub files_bytes: u64,
}

impl Engine {
    /// Measures kept build `engine_id`, whose database is `database`.
    pub async fn disk_use(&self, engine_id: &str, database: &str) -> Result<DiskUse, BuildError> {
        let database_bytes = self.cluster().database_size(database).await?.unwrap_or(0);
        let roots = vec![
            self.layout().build(engine_id).root().to_path_buf(),
            self.layout().logs(engine_id),
        ];
        let files_bytes = tokio::task::spawn_blocking(move || files_bytes(&roots))
            .await
            .map_err(|error| BuildError::Host(format!("measuring a build's files: {error}")))?;
        Ok(DiskUse {
            database_bytes,
            files_bytes,
        })
    }
}

/// The blocks held by the files under `roots` (a file with several links
/// counted once; symbolic links are not followed; what vanishes while it is
/// walked is not counted).
fn files_bytes(roots: &[PathBuf]) -> u64 {
    let mut seen = HashSet::new();
    roots.iter().map(|root| walk(root, 0, &mut seen)).sum()
}

fn walk(path: &Path, depth: usize, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if metadata.nlink() > 1 && !metadata.is_dir() && !seen.insert((metadata.dev(), metadata.ino()))
    {
        return 0;
    }
    let own = metadata.blocks() * 512;
    if !metadata.is_dir() || depth >= MAX_DEPTH {
        return own;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return own;
    };
    own + entries
        .flatten()
        .map(|entry| walk(&entry.path(), depth + 1, seen))
        .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_counted_by_the_blocks_they_hold_and_links_once() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("build");
        std::fs::create_dir_all(root.join("data/filestore/db/ab")).unwrap();
        let attachment = root.join("data/filestore/db/ab/abcdef");
        std::fs::write(&attachment, vec![7u8; 1 << 20]).unwrap();
        let empty = files_bytes(std::slice::from_ref(&temp.path().join("nothing")));
        assert_eq!(empty, 0, "a build without files");
        let one = files_bytes(std::slice::from_ref(&root));
        assert!(((1 << 20)..(1 << 20) + (64 << 10)).contains(&one), "{one}");

        // A hard link to the same attachment, and a symbolic link out of
        // the build, add nothing.
        std::fs::hard_link(&attachment, root.join("data/filestore/db/ab/linked")).unwrap();
        let outside = temp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("big"), vec![1u8; 4 << 20]).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("data/escape")).unwrap();
        let linked = files_bytes(std::slice::from_ref(&root));
        assert!(linked < one + (64 << 10), "{linked} against {one}");

        // A sparse file holds no blocks for its holes.
        let sparse = std::fs::File::create(root.join("sparse")).unwrap();
        sparse.set_len(1 << 30).unwrap();
        assert!(files_bytes(std::slice::from_ref(&root)) < one + (64 << 10));
    }
}
