//! The quiet period: build a branch once its pushes have settled.
//!
//! Developers often push several times in a row (a fix, then a typo fix, then
//! a rebase). Building each commit would waste a build slot per push and bury
//! the result that matters; waiting until a branch has had no push for a
//! while builds only its last commit.
//!
//! The logic is pure: the caller passes the current time, so tests are
//! deterministic and the server chooses its clock and how it sleeps
//! ([`QuietPeriod::next_due`] says until when).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A branch of a project: what the quiet period is counted for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BranchKey {
    pub project_id: i64,
    pub branch: String,
}

impl BranchKey {
    pub fn new(project_id: i64, branch: impl Into<String>) -> Self {
        Self {
            project_id,
            branch: branch.into(),
        }
    }
}

impl From<(i64, String)> for BranchKey {
    fn from((project_id, branch): (i64, String)) -> Self {
        Self { project_id, branch }
    }
}

/// Pushes waiting for their branch to be quiet for `quiet`.
///
/// A branch that keeps receiving pushes more often than `quiet` is never due:
/// the period is timed from the last push.
#[derive(Debug, Clone)]
pub struct QuietPeriod {
    quiet: Duration,
    pending: HashMap<BranchKey, Pending>,
}

#[derive(Debug, Clone)]
struct Pending {
    commit: String,
    last_push: Instant,
}

impl QuietPeriod {
    pub fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            pending: HashMap::new(),
        }
    }

    /// How long a branch must go without a push.
    pub fn quiet(&self) -> Duration {
        self.quiet
    }

    /// Records that `key` was pushed to `commit` at `now`: the commit
    /// replaces any earlier one still waiting, and the quiet period restarts.
    pub fn push(&mut self, key: BranchKey, commit: String, now: Instant) {
        self.pending.insert(
            key,
            Pending {
                commit,
                last_push: now,
            },
        );
    }

    /// Forgets what is waiting for `key` (its branch was deleted, say), and
    /// returns the commit that was waiting.
    pub fn cancel(&mut self, key: &BranchKey) -> Option<String> {
        self.pending.remove(key).map(|pending| pending.commit)
    }

    /// The branches whose last push is at least `quiet` old at `now`, with
    /// their last commit, oldest push first; they are forgotten, so each push
    /// burst is returned once.
    pub fn due(&mut self, now: Instant) -> Vec<(BranchKey, String)> {
        let quiet = self.quiet;
        let is_due = |pending: &Pending| {
            now.checked_duration_since(pending.last_push)
                .is_some_and(|waited| waited >= quiet)
        };
        let mut due: Vec<(Instant, BranchKey)> = self
            .pending
            .iter()
            .filter(|(_, pending)| is_due(pending))
            .map(|(key, pending)| (pending.last_push, key.clone()))
            .collect();
        due.sort();
        due.into_iter()
            .filter_map(|(_, key)| {
                let pending = self.pending.remove(&key)?;
                Some((key, pending.commit))
            })
            .collect()
    }

    /// When the next branch becomes due, if any waits: the time to sleep
    /// until before calling [`QuietPeriod::due`].
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|pending| pending.last_push.checked_add(self.quiet))
            .min()
    }

    /// How many branches wait.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(60);

    fn key(project_id: i64, branch: &str) -> BranchKey {
        BranchKey::new(project_id, branch)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_burst_of_pushes_yields_its_last_commit_once() {
        let start = Instant::now();
        let mut quiet = QuietPeriod::new(QUIET);
        for i in 0..5u64 {
            quiet.push(
                key(1, "16.0-fix"),
                format!("commit-{i}"),
                start + secs(10 * i),
            );
        }
        let last_push = start + secs(40);
        assert_eq!(quiet.next_due(), Some(last_push + QUIET));

        // 60s after the first push, but not after the last one.
        assert_eq!(quiet.due(start + QUIET), vec![]);
        assert_eq!(
            quiet.due(last_push + QUIET - Duration::from_millis(1)),
            vec![]
        );
        assert_eq!(quiet.len(), 1);

        assert_eq!(
            quiet.due(last_push + QUIET),
            vec![(key(1, "16.0-fix"), "commit-4".to_string())]
        );
        assert!(quiet.is_empty());
        assert_eq!(quiet.due(last_push + secs(3600)), vec![]);
        assert_eq!(quiet.next_due(), None);
    }

    #[test]
    fn branches_and_projects_wait_independently() {
        let start = Instant::now();
        let mut quiet = QuietPeriod::new(QUIET);
        quiet.push(key(1, "main"), "a1".into(), start);
        quiet.push(key(1, "feature"), "b1".into(), start + secs(30));
        quiet.push(key(2, "main"), "c1".into(), start + secs(10));
        // A push to one branch does not delay the others.
        quiet.push(key(1, "feature"), "b2".into(), start + secs(50));

        assert_eq!(
            quiet.due(start + secs(70)),
            vec![
                (key(1, "main"), "a1".to_string()),
                (key(2, "main"), "c1".to_string()),
            ]
        );
        assert_eq!(quiet.due(start + secs(109)), vec![]);
        assert_eq!(
            quiet.due(start + secs(110)),
            vec![(key(1, "feature"), "b2".to_string())]
        );
    }

    #[test]
    fn due_entries_come_oldest_push_first() {
        let start = Instant::now();
        let mut quiet = QuietPeriod::new(QUIET);
        quiet.push(key(3, "z"), "late".into(), start + secs(5));
        quiet.push(key(9, "a"), "early".into(), start);
        let due: Vec<String> = quiet
            .due(start + secs(600))
            .into_iter()
            .map(|(_, commit)| commit)
            .collect();
        assert_eq!(due, ["early", "late"]);
    }

    #[test]
    fn cancel_forgets_a_waiting_branch() {
        let start = Instant::now();
        let mut quiet = QuietPeriod::new(QUIET);
        quiet.push(key(1, "gone"), "x".into(), start);
        quiet.push(key(1, "kept"), "y".into(), start);
        assert_eq!(quiet.cancel(&key(1, "gone")), Some("x".to_string()));
        assert_eq!(quiet.cancel(&key(1, "gone")), None);
        assert_eq!(
            quiet.due(start + QUIET),
            vec![(key(1, "kept"), "y".to_string())]
        );
    }

    #[test]
    fn a_push_after_due_starts_a_new_period() {
        let start = Instant::now();
        let mut quiet = QuietPeriod::new(QUIET);
        quiet.push(key(1, "main"), "a".into(), start);
        assert_eq!(quiet.due(start + QUIET).len(), 1);
        quiet.push(key(1, "main"), "b".into(), start + QUIET + secs(1));
        assert_eq!(quiet.due(start + QUIET + secs(2)), vec![]);
        assert_eq!(
            quiet.due(start + QUIET * 2 + secs(1)),
            vec![(key(1, "main"), "b".to_string())]
        );
    }

    #[test]
    fn a_zero_quiet_period_makes_pushes_due_at_once() {
        let now = Instant::now();
        let mut quiet = QuietPeriod::new(Duration::ZERO);
        quiet.push(key(1, "main"), "a".into(), now);
        assert_eq!(quiet.due(now), vec![(key(1, "main"), "a".to_string())]);
    }
}
