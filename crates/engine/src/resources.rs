//! Everything a build creates (databases, roles, directories) is recorded in a
//! marker file under `<home>/runs/` before it is created, so that it is removed
//! at the end, on Ctrl-C, on a panic, and — by the reaper at the next start —
//! after a SIGKILL or a power cut.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use slipway_postgres::Cluster;

use crate::host::{process_alive, process_start_time};
use crate::{BuildError, Layout};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub pid: u32,
    pub start_time: u64,
    pub databases: Vec<String>,
    pub roles: Vec<String>,
    pub dirs: Vec<PathBuf>,
}

impl Resources {
    fn is_empty(&self) -> bool {
        self.databases.is_empty() && self.roles.is_empty() && self.dirs.is_empty()
    }
}

/// The resource record of one running build.
#[derive(Debug)]
pub struct Tracker {
    marker: PathBuf,
    state: Mutex<Resources>,
}

impl Tracker {
    pub fn new(layout: &Layout, id: &str) -> Result<Tracker, BuildError> {
        let runs = layout.runs();
        std::fs::create_dir_all(&runs).map_err(BuildError::io("creating", &runs))?;
        let pid = std::process::id();
        let resources = Resources {
            pid,
            start_time: process_start_time(pid).unwrap_or(0),
            ..Resources::default()
        };
        let tracker = Tracker {
            marker: runs.join(format!("{id}.json")),
            state: Mutex::new(resources),
        };
        tracker.persist()?;
        Ok(tracker)
    }

    pub fn database(&self, name: &str) -> Result<(), BuildError> {
        self.change(|r| r.databases.push(name.to_string()))
    }

    pub fn role(&self, name: &str) -> Result<(), BuildError> {
        self.change(|r| r.roles.push(name.to_string()))
    }

    pub fn dir(&self, path: &Path) -> Result<(), BuildError> {
        self.change(|r| r.dirs.push(path.to_path_buf()))
    }

    /// Stops tracking resources that now belong to something longer-lived (a
    /// finished template database).
    pub fn release_ownership(
        &self,
        databases: &[&str],
        roles: &[&str],
        dirs: &[&Path],
    ) -> Result<(), BuildError> {
        self.change(|r| {
            r.databases.retain(|d| !databases.contains(&d.as_str()));
            r.roles.retain(|role| !roles.contains(&role.as_str()));
            r.dirs.retain(|dir| !dirs.contains(&dir.as_path()));
        })
    }

    /// Removes everything recorded, then the marker.
    pub async fn clean_up(&self, cluster: &Cluster) -> Result<(), BuildError> {
        let resources = self.state.lock().expect("tracker lock").clone();
        remove_all(&resources, cluster).await?;
        self.change(|r| {
            *r = Resources {
                pid: r.pid,
                start_time: r.start_time,
                ..Resources::default()
            }
        })?;
        let _ = std::fs::remove_file(&self.marker);
        Ok(())
    }

    /// Leaves everything in place (`--keep`) and forgets about it.
    pub fn keep(&self) {
        let _ = std::fs::remove_file(&self.marker);
    }

    fn change(&self, edit: impl FnOnce(&mut Resources)) -> Result<(), BuildError> {
        edit(&mut self.state.lock().expect("tracker lock"));
        self.persist()
    }

    fn persist(&self) -> Result<(), BuildError> {
        let text = serde_json::to_string(&*self.state.lock().expect("tracker lock"))
            .expect("resources serialize");
        // Written beside and renamed: a crash mid-write leaves the old record.
        let temp = self.marker.with_extension("json.tmp");
        std::fs::write(&temp, text).map_err(BuildError::io("writing", &temp))?;
        std::fs::rename(&temp, &self.marker).map_err(BuildError::io("writing", &self.marker))
    }
}

async fn remove_all(resources: &Resources, cluster: &Cluster) -> Result<(), BuildError> {
    for database in &resources.databases {
        cluster.drop_database(database).await?;
    }
    for role in &resources.roles {
        cluster.drop_role(role).await?;
    }
    for dir in &resources.dirs {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(BuildError::io("removing", dir)(error)),
        }
    }
    Ok(())
}

/// Build logs older than this are removed by [`prune_logs`].
pub const LOG_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Removes build log directories last written more than `retention` ago.
/// Returns how many were removed.
pub fn prune_logs(layout: &Layout, retention: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(layout.all_logs()) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > retention);
        if old && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Kills sandboxes whose slipway died without taking them along: bubblewrap
/// processes mounting this data dir whose parent is gone (re-parented to init).
/// `--die-with-parent` and the parent-death signal catch nearly all; bubblewrap's
/// own namespace set-up leaves a short window where its inner process misses it.
pub fn kill_orphan_sandboxes(layout: &Layout) -> usize {
    let home = layout.home.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let words: Vec<String> = raw
            .split(|&b| b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let is_bwrap = words
            .first()
            .is_some_and(|program| program.ends_with("bwrap"));
        if !is_bwrap || !words.iter().any(|word| word.starts_with(home.as_str())) {
            continue;
        }
        // A build kept by `slipway ci --keep` and started by hand from its script
        // is the user's: it may well have been detached on purpose.
        if words.iter().any(|word| is_kept_ci_build(layout, word)) {
            continue;
        }
        let orphaned = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                stat[stat.rfind(')')? + 1..]
                    .split_whitespace()
                    .nth(1)
                    .map(|ppid| ppid == "1")
            })
            .unwrap_or(false);
        if orphaned {
            tracing::warn!(pid, "killing a sandbox whose slipway died");
            // SAFETY: kill has no memory-safety preconditions.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    killed
}

/// Whether `path` lies in the directory of a build kept by `slipway ci --keep`
/// (random hex ids; server builds are named `s<id>a<attempt>`).
fn is_kept_ci_build(layout: &Layout, path: &str) -> bool {
    let Ok(relative) = Path::new(path).strip_prefix(layout.builds()) else {
        return false;
    };
    let Some(id) = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
    else {
        return false;
    };
    id.bytes().all(|b| b.is_ascii_hexdigit()) && layout.build(id).start_script().is_file()
}

/// Removes what builds of dead processes left behind (their sandboxes first).
/// Returns how many runs were reaped.
pub async fn reap_orphans(layout: &Layout, cluster: &Cluster) -> Result<usize, BuildError> {
    kill_orphan_sandboxes(layout);
    let runs = layout.runs();
    let Ok(entries) = std::fs::read_dir(&runs) else {
        return Ok(0);
    };
    let mut reaped = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(resources) = serde_json::from_str::<Resources>(&text) else {
            tracing::warn!(marker = %path.display(), "unreadable build marker; leaving it for a human");
            continue;
        };
        if process_alive(resources.pid, resources.start_time) {
            continue;
        }
        if !resources.is_empty() {
            tracing::warn!(
                pid = resources.pid,
                databases = ?resources.databases,
                "removing what an interrupted build left behind"
            );
        }
        remove_all(&resources, cluster).await?;
        let _ = std::fs::remove_file(&path);
        reaped += 1;
    }
    Ok(reaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_builds_kept_by_ci_count_as_the_user_s_sandboxes() {
        let temp = tempfile::tempdir().unwrap();
        let layout = Layout::at(temp.path());
        for id in ["0a1b2c3d4e", "s12a1"] {
            std::fs::create_dir_all(layout.build(id).data()).unwrap();
            std::fs::write(layout.build(id).start_script(), "#!/bin/sh\n").unwrap();
        }
        std::fs::create_dir_all(layout.build("ffff000011").data()).unwrap();
        let data = |id: &str| layout.build(id).data().display().to_string();
        assert!(is_kept_ci_build(&layout, &data("0a1b2c3d4e")));
        assert!(
            !is_kept_ci_build(&layout, &data("s12a1")),
            "a server build is the worker's"
        );
        assert!(
            !is_kept_ci_build(&layout, &data("ffff000011")),
            "a running ci build is not kept"
        );
        assert!(!is_kept_ci_build(&layout, "/usr/lib/python3"));
    }

    #[test]
    fn logs_older_than_the_retention_are_pruned_and_recent_ones_kept() {
        let temp = tempfile::tempdir().unwrap();
        let layout = Layout::at(temp.path());
        let (old, recent) = (layout.logs("old"), layout.logs("recent"));
        for dir in [&old, &recent] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("odoo.log"), "x").unwrap();
        }
        let long_ago =
            std::time::SystemTime::now() - LOG_RETENTION - std::time::Duration::from_secs(60);
        std::fs::File::open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        assert_eq!(prune_logs(&layout, LOG_RETENTION), 1);
        assert!(!old.exists());
        assert!(recent.join("odoo.log").exists());
    }
}
