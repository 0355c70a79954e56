//! Advisory file locks between slipway processes on one host, taken without
//! blocking the async runtime.

use std::fs::File;
use std::path::Path;

use crate::BuildError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once (e.g. builds copying a template).
    Shared,
    /// One holder (e.g. the process building or dropping a template).
    Exclusive,
}

/// Waits for the lock on `path` (created if missing); held until the file drops.
pub async fn lock(path: &Path, mode: LockMode) -> Result<File, BuildError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(BuildError::io("creating", parent))?;
    }
    let file = File::create(path).map_err(BuildError::io("creating", path))?;
    tokio::task::spawn_blocking(move || {
        match mode {
            LockMode::Shared => file.lock_shared(),
            LockMode::Exclusive => file.lock(),
        }
        .map(|()| file)
    })
    .await
    .expect("lock task does not panic")
    .map_err(BuildError::io("locking", path))
}
