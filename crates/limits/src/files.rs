//! Reading and writing cgroup control files.

use std::io::Write;
use std::path::Path;

use crate::LimitsError;

pub(crate) fn read(path: &Path) -> Result<String, LimitsError> {
    std::fs::read_to_string(path).map_err(|source| LimitsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes `value` in one write(2), as the kernel expects of a control file.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), LimitsError> {
    let error = |source| LimitsError::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(error)?;
    match file.write(value.as_bytes()) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(error(std::io::ErrorKind::WriteZero.into())),
        Err(source) => Err(error(source)),
    }
}

/// A file holding one number (`memory.current`, `cpuacct.usage`, …).
pub(crate) fn read_u64(path: &Path) -> Result<u64, LimitsError> {
    let content = read(path)?;
    content.trim().parse().map_err(|_| LimitsError::Parse {
        path: path.to_owned(),
        content,
    })
}

/// The value of `key` in a flat-keyed file of `key value` lines (`memory.events`,
/// `pids.events`, `cpu.stat`, v1's `memory.oom_control`); `None` when the key is
/// absent.
pub(crate) fn read_key(path: &Path, key: &str) -> Result<Option<u64>, LimitsError> {
    let content = read(path)?;
    for line in content.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            return match words.next().and_then(|value| value.parse().ok()) {
                Some(value) => Ok(Some(value)),
                None => Err(LimitsError::Parse {
                    path: path.to_owned(),
                    content,
                }),
            };
        }
    }
    Ok(None)
}

/// The pids listed in a `cgroup.procs`.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<u32>, LimitsError> {
    let content = read(path)?;
    content
        .lines()
        .map(|line| line.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| LimitsError::Parse {
            path: path.to_owned(),
            content: content.clone(),
        })
}
