//! Backups, restores, test instances and imports:
//! `GET|POST /projects/{name}/backups`, `POST /projects/{name}/backups/{id}/restore`,
//! `/projects/{name}/testinstances`, `POST /projects/{name}/imports`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{timestamp, BackupKind, BackupState, BuildState, Verification};

/// A backup (`slipway backup list --json`, newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub id: i64,
    pub kind: BackupKind,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    /// Database and filestore, as restored; null until it is complete.
    pub size_bytes: Option<u64>,
    pub verified: Verification,
    pub state: BackupState,
    /// What its files added to the backup disk (filestore files already
    /// stored by earlier backups are not counted again).
    #[serde(default)]
    pub stored_bytes: Option<u64>,
    /// Why it failed, or what its verification found.
    #[serde(default)]
    pub reason: Option<String>,
    /// The production build it was taken of.
    #[serde(default)]
    pub build: Option<i64>,
}

/// Where `POST /projects/{name}/backups/{id}/restore` restores a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "target")]
pub enum RestoreTarget {
    /// Production (its current state backed up first; the serving build
    /// serves again if anything fails).
    Production,
    /// A staging branch: a staging build of its head on the backup,
    /// neutralized.
    Branch { branch: String },
    /// A test instance, created when it does not exist.
    TestInstance { name: String },
}

/// `POST /projects/{name}/testinstances`, and a refresh: from backup
/// `backup`, or the newest verified one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestInstanceRequest {
    pub name: String,
    #[serde(default)]
    pub backup: Option<i64>,
}

/// A test instance (`slipway testinstance list --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestInstance {
    pub name: String,
    /// Its newest build: what `slipway psql`, `logs` and the proxy take.
    pub build: Option<i64>,
    /// That build's state, as in `slipway builds`.
    pub state: Option<BuildState>,
    /// The backup that build restores.
    pub backup: Option<i64>,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    /// Its address through slipway's proxy while it serves.
    #[serde(default)]
    pub url: Option<String>,
}

/// When the daily backup runs and how many backups are kept; absent fields
/// keep their value (`PATCH /projects/{name}/backups/settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSettings {
    /// Minutes after midnight UTC when the daily backup is taken.
    pub daily_at_minute: u16,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    /// Days manual, pre-update and imported backups are kept.
    pub manual_days: u32,
    pub pre_update_days: u32,
    pub import_days: u32,
}

impl Default for BackupSettings {
    /// Odoo.sh's: 7 daily, 4 weekly, 3 monthly; the daily one at 03:00 UTC.
    fn default() -> Self {
        BackupSettings {
            daily_at_minute: 3 * 60,
            daily: 7,
            weekly: 4,
            monthly: 3,
            manual_days: 30,
            pre_update_days: 14,
            import_days: 30,
        }
    }
}

impl BackupSettings {
    /// `HH:MM`, as people write it.
    pub fn daily_at(&self) -> String {
        format!(
            "{:02}:{:02}",
            self.daily_at_minute / 60,
            self.daily_at_minute % 60
        )
    }

    /// Minutes after midnight from `HH:MM`.
    pub fn parse_daily_at(text: &str) -> Option<u16> {
        let (hours, minutes) = text.split_once(':')?;
        let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
        (hours < 24 && minutes < 60 && text.len() == 5).then_some(hours * 60 + minutes)
    }
}
