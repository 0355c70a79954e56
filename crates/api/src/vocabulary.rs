//! The closed lists of words of the API: stages, build states and statuses,
//! roles. The control database stores the same words.

use serde::{Deserialize, Serialize};

/// A word that is not one of its list's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{value}': expected one of {expected}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// A branch's stage, as on Odoo.sh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Production,
    Staging,
    Development,
}

/// Where a build is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildState {
    /// Queued, waiting for `not_before` and a free worker.
    Pending,
    /// Owned by a worker under a lease.
    Running,
    /// Built; its instance answers at `url`.
    Serving,
    /// Was serving; its instance is gone.
    Stopped,
    /// Finished without an instance (failed, killed, or not kept).
    Done,
}

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    Success,
    Warning,
    Failed,
    Killed,
}

/// A project role, as on Odoo.sh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything on the project.
    Admin,
    /// Every branch; production read-only.
    Developer,
    /// Staging and development builds only.
    Tester,
}

macro_rules! text_enum {
    ($type:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $type {
            type Err = InvalidValue;

            fn from_str(text: &str) -> Result<$type, InvalidValue> {
                match text {
                    $($text => Ok($type::$variant),)+
                    other => Err(InvalidValue {
                        what: $what,
                        value: other.to_string(),
                        expected: concat!($("'", $text, "' "),+),
                    }),
                }
            }
        }
    };
}

text_enum!(Stage, "stage", {
    Production => "production",
    Staging => "staging",
    Development => "development",
});

text_enum!(BuildState, "build state", {
    Pending => "pending",
    Running => "running",
    Serving => "serving",
    Stopped => "stopped",
    Done => "done",
});

text_enum!(BuildStatus, "build status", {
    Success => "success",
    Warning => "warning",
    Failed => "failed",
    Killed => "killed",
});

/// What a project's development and staging branches do when a followed
/// source of Odoo moves (production never changes its Odoo by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OdooFollow {
    /// Build again at once.
    #[default]
    OnChange,
    /// Build again at most once a day.
    Daily,
    /// Wait for the branch's next push or a rebuild.
    Never,
}

text_enum!(OdooFollow, "Odoo follow policy", {
    OnChange => "on-change",
    Daily => "daily",
    Never => "never",
});

/// What made a backup of production: the schedule (its first of a month is
/// monthly, of a week weekly), a person, an update of production, an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    Daily,
    Weekly,
    Monthly,
    Manual,
    PreUpdate,
    Import,
}

text_enum!(BackupKind, "backup kind", {
    Daily => "daily",
    Weekly => "weekly",
    Monthly => "monthly",
    Manual => "manual",
    PreUpdate => "pre-update",
    Import => "import",
});

impl BackupKind {
    /// Made by the daily schedule (kept by count, not by age).
    pub fn is_scheduled(self) -> bool {
        matches!(
            self,
            BackupKind::Daily | BackupKind::Weekly | BackupKind::Monthly
        )
    }
}

/// What the restore test of a backup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// Not restore-tested yet.
    Pending,
    Ok,
    /// Damaged or not restorable: never restored.
    Failed,
}

text_enum!(Verification, "verification", {
    Pending => "pending",
    Ok => "ok",
    Failed => "failed",
});

/// Where a backup is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupState {
    /// Asked for; the worker serving production takes it.
    Requested,
    Running,
    /// Complete on disk.
    Done,
    /// Not made (nothing of it kept).
    Failed,
    /// Removed by retention or by hand.
    Deleted,
}

text_enum!(BackupState, "backup state", {
    Requested => "requested",
    Running => "running",
    Done => "done",
    Failed => "failed",
    Deleted => "deleted",
});

text_enum!(Role, "role", {
    Admin => "admin",
    Developer => "developer",
    Tester => "tester",
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Each word reads back, and is the same in JSON as in its text.
    fn round_trips<T>(values: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: Serialize + serde::de::DeserializeOwned,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for &value in values {
            let text = value.to_string();
            assert_eq!(text.parse::<T>().unwrap(), value);
            let json = serde_json::to_value(value).unwrap();
            assert_eq!(json, serde_json::Value::String(text));
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), value);
        }
    }

    #[test]
    fn words_round_trip_through_their_text_and_json() {
        round_trips(&[Stage::Production, Stage::Staging, Stage::Development]);
        round_trips(&[
            BuildState::Pending,
            BuildState::Running,
            BuildState::Serving,
            BuildState::Stopped,
            BuildState::Done,
        ]);
        round_trips(&[
            BuildStatus::Success,
            BuildStatus::Warning,
            BuildStatus::Failed,
            BuildStatus::Killed,
        ]);
        round_trips(&[Role::Admin, Role::Developer, Role::Tester]);
        round_trips(&[
            BackupKind::Daily,
            BackupKind::Weekly,
            BackupKind::Monthly,
            BackupKind::Manual,
            BackupKind::PreUpdate,
            BackupKind::Import,
        ]);
        round_trips(&[
            Verification::Pending,
            Verification::Ok,
            Verification::Failed,
        ]);
        round_trips(&[
            BackupState::Requested,
            BackupState::Running,
            BackupState::Done,
            BackupState::Failed,
            BackupState::Deleted,
        ]);
    }

    #[test]
    fn an_unknown_word_is_refused_with_the_known_ones() {
        let error = "prod".parse::<Stage>().unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid stage 'prod': expected one of 'production' 'staging' 'development' "
        );
    }
}
