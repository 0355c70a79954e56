use std::path::{Path, PathBuf};

use crate::PgError;

/// The host's PostgreSQL server programs (initdb, pg_ctl, postgres).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    pub bin_dir: PathBuf,
    pub major: u32,
}

impl PgBinaries {
    /// `configured` wins; otherwise the newest `/usr/lib/postgresql/<major>/bin`
    /// (Debian's layout), then `initdb` on `PATH`.
    pub fn find(configured: Option<&Path>) -> Result<PgBinaries, PgError> {
        let mut searched = Vec::new();
        if let Some(dir) = configured {
            searched.push(dir.display().to_string());
            return Self::at(dir).ok_or(PgError::BinariesMissing {
                searched: searched.join(", "),
            });
        }
        let debian = Path::new("/usr/lib/postgresql");
        searched.push(format!("{}/*/bin", debian.display()));
        let mut candidates: Vec<PgBinaries> = std::fs::read_dir(debian)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| Self::at(&entry.path().join("bin")))
            .collect();
        candidates.sort_by_key(|binaries| binaries.major);
        if let Some(newest) = candidates.pop() {
            return Ok(newest);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            searched.push(dir.display().to_string());
            if let Some(found) = Self::at(&dir) {
                return Ok(found);
            }
        }
        Err(PgError::BinariesMissing {
            searched: searched.join(", "),
        })
    }

    fn at(dir: &Path) -> Option<PgBinaries> {
        let complete = ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|name| dir.join(name).is_file());
        if !complete {
            return None;
        }
        let output = std::process::Command::new(dir.join("initdb"))
            .arg("--version")
            .output()
            .ok()?;
        let major = parse_major(&String::from_utf8_lossy(&output.stdout))?;
        Some(PgBinaries {
            bin_dir: dir.to_path_buf(),
            major,
        })
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// `initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.
fn parse_major(version_output: &str) -> Option<u32> {
    let version = version_output
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = version.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_is_read_from_initdb_output() {
        assert_eq!(
            parse_major("initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("initdb (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn a_configured_directory_without_binaries_is_a_clear_error() {
        let temp = tempfile::tempdir().unwrap();
        let error = PgBinaries::find(Some(temp.path())).unwrap_err().to_string();
        assert!(
            error.contains("apt-get install postgresql") && error.contains("SLIPWAY_PG_BINDIR"),
            "{error}"
        );
        assert!(
            error.contains(&temp.path().display().to_string()),
            "{error}"
        );
    }
}
