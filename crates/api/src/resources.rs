//! What a project's builds may use and reach beyond the worker's defaults,
//! and the disk a build uses.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::{timestamp, Stage};

/// A limit or allow-list entry that cannot be: what it is, and what to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{value}': give {expected}")]
pub struct InvalidLimit {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The least memory a project may give its builds: Odoo itself, loaded,
/// needs about this much.
pub const MIN_BUILD_MEMORY_MIB: u32 = 256;
/// The most (1 TiB): a typo's safety net, not a host's size.
pub const MAX_BUILD_MEMORY_MIB: u32 = 1 << 20;

/// One address a development or staging build may open TCP connections to
/// (an integration under test): `203.0.113.7:443`. An address, not a name:
/// a build without egress has no DNS either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EgressTarget {
    pub address: Ipv4Addr,
    pub port: u16,
}

impl std::str::FromStr for EgressTarget {
    type Err = InvalidLimit;

    fn from_str(text: &str) -> Result<EgressTarget, InvalidLimit> {
        let invalid = || InvalidLimit {
            what: "egress allow-list entry",
            value: text.to_string(),
            expected: "an IPv4 address and a TCP port, e.g. 203.0.113.7:443 (a build without \
                       egress has no DNS, so a name would not resolve inside it)",
        };
        let (address, port) = text.trim().rsplit_once(':').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        if port == 0 || address.is_unspecified() || address.is_broadcast() {
            return Err(invalid());
        }
        Ok(EgressTarget { address, port })
    }
}

impl fmt::Display for EgressTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.address, self.port)
    }
}

impl Serialize for EgressTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EgressTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EgressTarget, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A project's own limits: each stage's memory (absent: the worker's
/// default for the stage), and what development and staging builds may
/// reach (nothing by default; production reaches the world anyway).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development_memory_mib: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_memory_mib: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_memory_mib: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_allow: Vec<EgressTarget>,
}

impl ProjectLimits {
    /// The memory the project gives builds of `stage` (test duplicates of
    /// production count as staging), if it says.
    pub fn memory_mib(&self, stage: Stage) -> Option<u32> {
        match stage {
            Stage::Production => self.production_memory_mib,
            Stage::Staging => self.staging_memory_mib,
            Stage::Development => self.development_memory_mib,
        }
    }

    /// Refuses memory a build cannot run in, naming the setting.
    pub fn validate(&self) -> Result<(), InvalidLimit> {
        for (what, value) in [
            ("development memory (MiB)", self.development_memory_mib),
            ("staging memory (MiB)", self.staging_memory_mib),
            ("production memory (MiB)", self.production_memory_mib),
        ] {
            if let Some(mib) = value {
                if !(MIN_BUILD_MEMORY_MIB..=MAX_BUILD_MEMORY_MIB).contains(&mib) {
                    return Err(InvalidLimit {
                        what,
                        value: mib.to_string(),
                        expected: "256 to 1048576 MiB (Odoo needs at least 256 MiB)",
                    });
                }
            }
        }
        Ok(())
    }
}

/// `PATCH /projects/{name}/limits`: absent fields stay as they are; a null
/// memory goes back to the worker's default; `egress_allow` replaces the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsChange {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub development_memory_mib: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub staging_memory_mib: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub production_memory_mib: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_allow: Option<Vec<EgressTarget>>,
}

impl LimitsChange {
    /// `limits` with this change made.
    pub fn apply(&self, limits: &ProjectLimits) -> ProjectLimits {
        ProjectLimits {
            development_memory_mib: self
                .development_memory_mib
                .unwrap_or(limits.development_memory_mib),
            staging_memory_mib: self.staging_memory_mib.unwrap_or(limits.staging_memory_mib),
            production_memory_mib: self
                .production_memory_mib
                .unwrap_or(limits.production_memory_mib),
            egress_allow: self
                .egress_allow
                .clone()
                .unwrap_or_else(|| limits.egress_allow.clone()),
        }
    }
}

/// A field that is there, null or not: `Some(None)` for null.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The disk a kept build uses, as last measured: its database and its files
/// (checkout, filestore, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUse {
    pub database_bytes: u64,
    pub files_bytes: u64,
    #[serde(with = "timestamp")]
    pub measured_at: OffsetDateTime,
}

impl DiskUse {
    pub fn total_bytes(&self) -> u64 {
        self.database_bytes.saturating_add(self.files_bytes)
    }
}

/// A size as people read it, in the largest binary unit it has at least one
/// of, one decimal when not whole: "2 GiB", "1.8 GiB", "512 MiB", "10 bytes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1 << 10;
        let (unit, name) = [(KIB << 20, "GiB"), (KIB << 10, "MiB"), (KIB, "KiB")]
            .into_iter()
            .find(|(unit, _)| self.0 >= *unit)
            .unwrap_or((1, "bytes"));
        let value = format!("{:.1}", self.0 as f64 / unit as f64);
        write!(f, "{} {name}", value.trim_end_matches(".0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_egress_target_is_an_address_and_a_port() {
        let target: EgressTarget = "203.0.113.7:443".parse().unwrap();
        assert_eq!(target.to_string(), "203.0.113.7:443");
        assert_eq!(
            serde_json::to_value(target).unwrap(),
            serde_json::json!("203.0.113.7:443")
        );
        for wrong in [
            "api.example.com:443",
            "203.0.113.7",
            "203.0.113.7:0",
            "203.0.113.7:70000",
            "0.0.0.0:25",
            "[::1]:443",
        ] {
            let error = wrong.parse::<EgressTarget>().unwrap_err().to_string();
            assert!(
                error.contains(wrong) && error.contains("e.g. 203.0.113.7:443"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_limits_change_leaves_what_it_does_not_name_and_null_resets() {
        let limits = ProjectLimits {
            development_memory_mib: Some(2048),
            staging_memory_mib: Some(4096),
            production_memory_mib: None,
            egress_allow: vec!["203.0.113.7:443".parse().unwrap()],
        };
        let change: LimitsChange = serde_json::from_str(
            r#"{"development_memory_mib": null, "production_memory_mib": 8192}"#,
        )
        .unwrap();
        assert_eq!(
            change.apply(&limits),
            ProjectLimits {
                development_memory_mib: None,
                production_memory_mib: Some(8192),
                ..limits.clone()
            }
        );
        let unknown = serde_json::from_str::<LimitsChange>(r#"{"memory": 1}"#).unwrap_err();
        assert!(unknown.to_string().contains("memory"), "{unknown}");
    }

    #[test]
    fn memory_below_what_odoo_needs_is_refused_with_its_setting_named() {
        let limits = ProjectLimits {
            staging_memory_mib: Some(100),
            ..ProjectLimits::default()
        };
        let error = limits.validate().unwrap_err().to_string();
        assert!(
            error.contains("staging memory") && error.contains("100"),
            "{error}"
        );
        assert_eq!(limits.memory_mib(Stage::Staging), Some(100));
        assert_eq!(limits.memory_mib(Stage::Development), None);
    }

    #[test]
    fn sizes_read_in_their_largest_unit() {
        assert_eq!(ByteSize(10).to_string(), "10 bytes");
        assert_eq!(ByteSize(512 << 20).to_string(), "512 MiB");
        assert_eq!(ByteSize(3 << 29).to_string(), "1.5 GiB");
        assert_eq!(ByteSize(2 << 30).to_string(), "2 GiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
    }
}
