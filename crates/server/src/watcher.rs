//! The watcher: polls each project's repository (`git ls-remote`) on its
//! interval, or at once when a webhook asks, records branch changes and has
//! [`crate::queueing`] queue their builds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_control::ControlDb;
use slipway_control::{BranchChanges, Project};
use tokio::sync::{mpsc, watch, Mutex};

/// `git ls-remote` of one repository may take this long.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the watcher looks for projects whose poll is due.
const TICK: Duration = Duration::from_millis(500);

/// Why a poll of a project's repository stopped.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Listing the repository's branches failed (its message hides credentials).
    #[error(transparent)]
    Remote(#[from] slipway_triggers::RemoteError),
    #[error(transparent)]
    Control(#[from] slipway_control::ControlError),
}

/// Asks the watcher to poll a project now.
#[derive(Clone)]
pub struct PollRequests(mpsc::UnboundedSender<i64>);

impl PollRequests {
    pub fn request(&self, project_id: i64) {
        let _ = self.0.send(project_id);
    }
}

pub struct Watcher {
    control: ControlDb,
    requests: mpsc::UnboundedReceiver<i64>,
    last_poll: HashMap<i64, Instant>,
    /// The first round polls every project (pushes made while slipway was
    /// down); a project added later was polled by its addition.
    first_round_done: bool,
    in_flight: Arc<Mutex<HashSet<i64>>>,
}

impl Watcher {
    pub fn new(control: ControlDb) -> (Watcher, PollRequests) {
        let (sender, requests) = mpsc::unbounded_channel();
        let watcher = Watcher {
            control,
            requests,
            last_poll: HashMap::new(),
            first_round_done: false,
            in_flight: Arc::default(),
        };
        (watcher, PollRequests(sender))
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        // Catch up with pushes made while slipway was down, before anything else.
        self.poll_due().await;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(project_id) = self.requests.recv() => self.poll_by_id(project_id).await,
                _ = tokio::time::sleep(TICK) => self.poll_due().await,
            }
        }
    }

    async fn poll_due(&mut self) {
        let projects = match self.control.session().await {
            Ok(session) => slipway_control::list_projects(&session).await,
            Err(error) => Err(error),
        };
        let projects = match projects {
            Ok(projects) => projects,
            Err(error) => {
                tracing::warn!(%error, "cannot list projects to poll");
                return;
            }
        };
        let now = Instant::now();
        let first_round = !std::mem::replace(&mut self.first_round_done, true);
        for project in projects {
            if !first_round && !self.last_poll.contains_key(&project.id) {
                self.last_poll.insert(project.id, now);
                continue;
            }
            let interval = Duration::from_secs(
                u64::try_from(project.settings.poll_interval_s.max(1)).unwrap_or(60),
            );
            let due = self
                .last_poll
                .get(&project.id)
                .is_none_or(|last| now.duration_since(*last) >= interval);
            if due {
                self.spawn_poll(project);
            }
        }
    }

    async fn poll_by_id(&mut self, project_id: i64) {
        let project = match self.control.session().await {
            Ok(session) => slipway_control::get_project_by_id(&session, project_id).await,
            Err(error) => Err(error),
        };
        match project {
            Ok(project) => self.spawn_poll(project),
            Err(error) => tracing::warn!(project_id, %error, "cannot poll the project"),
        }
    }

    /// One poll per project at a time; a slow repository never delays others.
    fn spawn_poll(&mut self, project: Project) {
        self.last_poll.insert(project.id, Instant::now());
        let (control, in_flight) = (self.control.clone(), self.in_flight.clone());
        tokio::spawn(async move {
            if !in_flight.lock().await.insert(project.id) {
                return;
            }
            if let Err(error) = poll(&control, &project).await {
                tracing::warn!(project = %project.name, %error, "polling the repository failed");
            }
            in_flight.lock().await.remove(&project.id);
        });
    }
}

/// Lists the repository's branches, records the changes, queues builds.
pub async fn poll(control: &ControlDb, project: &Project) -> Result<BranchChanges, PollError> {
    let heads = slipway_triggers::list_branches(&project.repo_url, LIST_TIMEOUT).await?;
    let mut session = control.session().await?;
    let changes = slipway_control::sync_branches(&mut session, project.id, &heads).await?;
    crate::queueing::queue_pushed(&session, project, &changes).await?;
    crate::queueing::queue_moved_sources(&session, project).await?;
    for branch in &changes.deleted {
        let serving = slipway_control::serving_builds_of_branch(&session, branch.id).await?;
        for build in serving {
            slipway_control::mark_stopped(&session, build.id, "its branch was deleted").await?;
        }
    }
    Ok(changes)
}
