//! What a build may use, and the defaults the platform derives from the host.

use std::fmt;

use slipway_api::ByteSize;

use crate::LimitsError;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// cgroup v2's `cpu.weight` range and default (v1's `cpu.shares` are mapped from it).
pub const MIN_CPU_WEIGHT: u32 = 1;
pub const MAX_CPU_WEIGHT: u32 = 10_000;
pub const DEFAULT_CPU_WEIGHT: u32 = 100;

/// The smallest CPU cap: the kernel's smallest CFS quota is 1 ms per period, and
/// slipway's period is 100 ms.
const MIN_CPU_MAX: f64 = 0.01;

/// What one build's processes, together, may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Hard memory limit in bytes (page cache included): past it, the kernel
    /// reclaims and, failing that, kills a process of the build (OOM).
    pub memory_max: u64,
    /// Memory above which the build is throttled and reclaimed hard, before it
    /// reaches `memory_max` (v2 `memory.high`; v1 has only the weaker soft limit,
    /// used under global memory pressure). `None`: no such threshold.
    pub memory_high: Option<u64>,
    /// Share of the CPU under contention, relative to other groups: 1 to 10000,
    /// 100 being the default every other process has (v2 `cpu.weight`).
    pub cpu_weight: u32,
    /// Hard cap in cores (1.5 = one and a half cores' worth of time), even when
    /// the host is idle. `None`: no cap.
    pub cpu_max: Option<f64>,
    /// Most tasks (processes and threads) the build may have at once.
    pub pids_max: u32,
}

impl Limits {
    /// For a development build (a developer's branch): several run side by side
    /// on one worker, next to production, staging, PostgreSQL and the worker.
    ///
    /// - Memory: a quarter of the host, at least 1 GiB (what Odoo needs to
    ///   install a few modules and run their tests) and at most 4 GiB (a
    ///   development database is small, demo data or a trimmed copy: past that it
    ///   is a leak, not a need). Well under half the host, so two runaways cannot
    ///   take it all.
    /// - `memory_high` at 90 %: the build is slowed and its page cache reclaimed
    ///   before it is killed, so one that is near its limit without leaking (a
    ///   big module install) survives.
    /// - CPU weight 50: half a default share under contention, so production and
    ///   the worker are served first. Capped at half the cores (at least one):
    ///   Odoo's test runner is one Python process, one core lets it progress, and
    ///   the cap keeps the other half free for production even when the weight
    ///   alone would let a busy loop have the whole host.
    /// - 1024 tasks (threads count): Odoo with its workers, wkhtmltopdf, git
    ///   and tests that spawn stay far below; a fork bomb stops there.
    pub fn for_development(host_memory: u64, cores: u32) -> Limits {
        let memory = round_to_mib((host_memory / 4).clamp(GIB, 4 * GIB));
        Limits {
            memory_max: memory,
            memory_high: Some(ninety_percent(memory)),
            cpu_weight: 50,
            cpu_max: Some(share_of_cores(cores, 0.5)),
            pids_max: 1024,
        }
    }

    /// For a staging build: a neutralized copy of production, to try a change on
    /// real data before it is deployed.
    ///
    /// - Memory: a third of the host, at least 2 GiB and at most 8 GiB: it loads
    ///   production's data, so it needs more than a development build, but it
    ///   serves no customer and there may be several.
    /// - `memory_high` at 90 %, for the same reason as development.
    /// - Default CPU weight (100), capped at three quarters of the cores (at
    ///   least one): enough to judge the change's speed, a quarter left for
    ///   production.
    /// - 1024 tasks, as development.
    pub fn for_staging(host_memory: u64, cores: u32) -> Limits {
        let memory = round_to_mib((host_memory / 3).clamp(2 * GIB, 8 * GIB));
        Limits {
            memory_max: memory,
            memory_high: Some(ninety_percent(memory)),
            cpu_weight: DEFAULT_CPU_WEIGHT,
            cpu_max: Some(share_of_cores(cores, 0.75)),
            pids_max: 1024,
        }
    }

    /// For production: what the host is for. The limits only keep a production
    /// bug from taking the host down with the worker and PostgreSQL.
    ///
    /// - Memory: half the host, at least 2 GiB, no ceiling: the most of any
    ///   kind. The other half is for PostgreSQL (its shared buffers and the page
    ///   cache Odoo's speed depends on), the worker and the other builds.
    /// - No `memory_high`: throttling a live site makes it slow for customers;
    ///   it is reclaimed at the hard limit only.
    /// - CPU weight 400: four times a default share and eight times a
    ///   development build's under contention; no cap, so it may use every idle
    ///   core.
    /// - 4096 tasks: a multi-worker Odoo with its gevent process and cron
    ///   threads, each thread counting.
    pub fn for_production(host_memory: u64, cores: u32) -> Limits {
        let _ = cores; // Production is not capped: the weight decides under contention.
        Limits {
            memory_max: round_to_mib((host_memory / 2).max(2 * GIB)),
            memory_high: None,
            cpu_weight: 400,
            cpu_max: None,
            pids_max: 4096,
        }
    }

    /// These limits with `bytes` of memory: the throttling threshold, if
    /// there is one, stays at 90 % of it.
    pub fn with_memory(&self, bytes: u64) -> Limits {
        Limits {
            memory_max: bytes,
            memory_high: self.memory_high.map(|_| ninety_percent(bytes)),
            ..self.clone()
        }
    }

    /// The hard memory limit as people read it: "2 GiB", "1.5 GiB".
    pub fn memory_max_text(&self) -> String {
        ByteSize(self.memory_max).to_string()
    }

    /// Refuses limits the kernel would refuse or that make no sense.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let invalid = |why: String| Err(LimitsError::InvalidLimits(why));
        if self.memory_max < MIB {
            return invalid(format!(
                "memory_max is {} bytes: at least 1 MiB",
                self.memory_max
            ));
        }
        if self.memory_max > i64::MAX as u64 {
            return invalid(format!("memory_max {} is too large", self.memory_max));
        }
        if let Some(high) = self.memory_high {
            if high == 0 || high > self.memory_max {
                return invalid(format!(
                    "memory_high ({high}) must be above 0 and at most memory_max ({})",
                    self.memory_max
                ));
            }
        }
        if !(MIN_CPU_WEIGHT..=MAX_CPU_WEIGHT).contains(&self.cpu_weight) {
            return invalid(format!(
                "cpu_weight is {}: from {MIN_CPU_WEIGHT} to {MAX_CPU_WEIGHT}",
                self.cpu_weight
            ));
        }
        if let Some(cores) = self.cpu_max {
            if !cores.is_finite() || !(MIN_CPU_MAX..=1e6).contains(&cores) {
                return invalid(format!(
                    "cpu_max is {cores} cores: from {MIN_CPU_MAX} to a million"
                ));
            }
        }
        if self.pids_max == 0 {
            return invalid("pids_max is 0: a build needs at least one process".into());
        }
        Ok(())
    }

    /// v1's `cpu.shares` for `cpu_weight`: proportional, so that the default
    /// weight 100 is the default 1024 shares (as systemd maps `CPUWeight=`),
    /// within the kernel's 2 to 262144.
    pub(crate) fn cpu_shares(&self) -> u64 {
        let weight = u64::from(self.cpu_weight);
        ((weight * 1024 + 50) / 100).clamp(2, 262_144)
    }

    /// The CFS quota in microseconds per [`CPU_PERIOD_US`] for `cpu_max`.
    pub(crate) fn cpu_quota_us(&self) -> Option<u64> {
        self.cpu_max
            .map(|cores| ((cores * CPU_PERIOD_US as f64).round() as u64).max(1000))
    }
}

/// The CFS period slipway's CPU caps are expressed in: the kernel's default.
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

fn round_to_mib(bytes: u64) -> u64 {
    bytes / MIB * MIB
}

fn ninety_percent(bytes: u64) -> u64 {
    round_to_mib(bytes / 10 * 9)
}

fn share_of_cores(cores: u32, share: f64) -> f64 {
    (f64::from(cores.max(1)) * share).max(1.0)
}

/// "2 GiB memory, 1.5 cores, 512 processes"; the throttling threshold and a CPU
/// weight other than the default are said when set.
impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} memory", ByteSize(self.memory_max))?;
        if let Some(high) = self.memory_high {
            write!(f, " (throttled above {})", ByteSize(high))?;
        }
        match self.cpu_max {
            Some(cores) if decimal(cores) == "1" => write!(f, ", 1 core")?,
            Some(cores) => write!(f, ", {} cores", decimal(cores))?,
            None => write!(f, ", all cores")?,
        }
        if self.cpu_weight != DEFAULT_CPU_WEIGHT {
            write!(f, " (CPU weight {})", self.cpu_weight)?;
        }
        write!(f, ", {} processes", self.pids_max)
    }
}

/// At most two decimals, without trailing zeros: 1.5, 2, 0.25.
fn decimal(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The host's memory in bytes (`MemTotal` of /proc/meminfo); 0 if it cannot be
/// read, which the `for_*` defaults turn into their floors.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| parse_mem_total(&meminfo))
        .unwrap_or(0)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * KIB)
}

/// The cores this process may use (its CPU affinity and, as std reads them, its
/// own cgroup's CPU quota), at least 1.
pub fn available_cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory_max: u64, cpu_max: Option<f64>, pids_max: u32) -> Limits {
        Limits {
            memory_max,
            memory_high: None,
            cpu_weight: DEFAULT_CPU_WEIGHT,
            cpu_max,
            pids_max,
        }
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(
            limits(2 * GIB, Some(1.5), 512).to_string(),
            "2 GiB memory, 1.5 cores, 512 processes"
        );
        assert_eq!(
            limits(512 * MIB, Some(1.0), 64).to_string(),
            "512 MiB memory, 1 core, 64 processes"
        );
        let dev = Limits {
            memory_high: Some(1843 * MIB),
            cpu_weight: 50,
            cpu_max: None,
            ..limits(2 * GIB, None, 1024)
        };
        assert_eq!(
            dev.to_string(),
            "2 GiB memory (throttled above 1.8 GiB), all cores (CPU weight 50), 1024 processes"
        );
        assert_eq!(
            limits(3 * GIB / 2, Some(0.2), 8).to_string(),
            "1.5 GiB memory, 0.2 cores, 8 processes"
        );
    }

    #[test]
    fn weight_maps_to_shares_proportionally() {
        let shares = |cpu_weight| {
            Limits {
                cpu_weight,
                ..limits(GIB, None, 1)
            }
            .cpu_shares()
        };
        assert_eq!(shares(100), 1024);
        assert_eq!(shares(50), 512);
        assert_eq!(shares(400), 4096);
        assert_eq!(shares(1), 10);
        assert_eq!(shares(10_000), 102_400);
    }

    #[test]
    fn quota_is_per_100_ms_and_at_least_1_ms() {
        assert_eq!(limits(GIB, Some(1.5), 1).cpu_quota_us(), Some(150_000));
        assert_eq!(limits(GIB, Some(0.2), 1).cpu_quota_us(), Some(20_000));
        assert_eq!(limits(GIB, Some(0.01), 1).cpu_quota_us(), Some(1_000));
        assert_eq!(limits(GIB, None, 1).cpu_quota_us(), None);
    }

    #[test]
    fn validation_refuses_nonsense() {
        assert!(limits(GIB, Some(1.0), 10).validate().is_ok());
        assert!(limits(1000, None, 10).validate().is_err());
        assert!(limits(GIB, Some(0.0), 10).validate().is_err());
        assert!(limits(GIB, Some(f64::NAN), 10).validate().is_err());
        assert!(limits(GIB, None, 0).validate().is_err());
        let weight = |cpu_weight| Limits {
            cpu_weight,
            ..limits(GIB, None, 1)
        };
        assert!(weight(0).validate().is_err());
        assert!(weight(10_001).validate().is_err());
        let high = Limits {
            memory_high: Some(2 * GIB),
            ..limits(GIB, None, 1)
        };
        assert!(high.validate().is_err());
    }

    #[test]
    fn presets_rank_production_first_and_keep_development_small() {
        for host in [
            0,
            512 * MIB,
            2 * GIB,
            8 * GIB,
            24 * GIB,
            64 * GIB,
            512 * GIB,
        ] {
            for cores in [0, 1, 2, 16] {
                let dev = Limits::for_development(host, cores);
                let staging = Limits::for_staging(host, cores);
                let production = Limits::for_production(host, cores);
                for preset in [&dev, &staging, &production] {
                    preset.validate().unwrap();
                }
                assert!(dev.memory_max <= staging.memory_max);
                assert!(staging.memory_max <= production.memory_max);
                assert!(dev.cpu_weight < staging.cpu_weight);
                assert!(staging.cpu_weight < production.cpu_weight);
                assert!((GIB..=4 * GIB).contains(&dev.memory_max));
                if host >= 4 * GIB {
                    assert!(dev.memory_max <= host / 4, "{host}: {dev}");
                }
                assert_eq!((dev.pids_max, staging.pids_max), (1024, 1024));
                assert_eq!(production.pids_max, 4096);
                assert!(dev.cpu_max.unwrap() >= 1.0);
            }
        }
        let dev = Limits::for_development(24 * GIB, 2);
        assert_eq!(dev.memory_max, 4 * GIB);
        assert_eq!(dev.cpu_max, Some(1.0));
        assert_eq!(Limits::for_development(2 * GIB, 8).memory_max, GIB);
    }

    #[test]
    fn mem_total_is_in_kib() {
        let meminfo = "MemTotal:       24683772 kB\nMemFree:        15761496 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(24683772 * 1024));
        assert!(host_memory() > 0);
        assert!(available_cores() >= 1);
    }
}
