//! What changed, as it happens: one LISTEN session per server turns the
//! control database's notifications into events for live pages (server-sent
//! events) and for the proxy's caches.

use std::time::Duration;

use slipway_control::ControlDb;
use slipway_control::Notification;
use tokio::sync::broadcast;

/// Events a slow page may fall behind by before it is told to reload
/// everything ([`LiveEvent::Resync`]).
const BUFFER: usize = 1024;
/// Pause before listening again after the session was lost.
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// One change, with what pages need to know whether it concerns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveEvent {
    /// A build was queued, changed state, or its start was requested.
    Build {
        id: i64,
        project_id: i64,
        branch_id: i64,
    },
    /// Branches of the project were added, deleted or changed stage.
    Branches { project_id: i64 },
    /// Sessions, accounts, roles or tokens changed.
    Access,
    /// Events may have been missed (the LISTEN session was lost): everything
    /// may have changed.
    Resync,
}

/// Hands out subscriptions to the live events.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<LiveEvent>,
}

impl Hub {
    /// A hub fed by nothing yet (tests feed it with [`Hub::publish`]).
    pub fn new() -> Hub {
        let (sender, _) = broadcast::channel(BUFFER);
        Hub { sender }
    }

    /// Starts listening to the control database, for the life of the process.
    pub fn start(control: ControlDb) -> Hub {
        let hub = Hub::new();
        tokio::spawn(hub.clone().listen_forever(control));
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }

    /// How many listen now: open live pages, plus the proxy's caches.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    pub fn publish(&self, event: LiveEvent) {
        // Nobody subscribed is fine.
        let _ = self.sender.send(event);
    }

    async fn listen_forever(self, control: ControlDb) {
        loop {
            let config = control.cluster.admin_config(&control.database);
            match slipway_control::listen_all(&config).await {
                Ok(mut notifications) => {
                    // Whatever happened while nobody listened.
                    self.publish(LiveEvent::Resync);
                    while let Some(notification) = notifications.recv().await {
                        if let Some(event) = resolve(&control, notification).await {
                            self.publish(event);
                        }
                    }
                    tracing::warn!("the live events' LISTEN session ended; listening again");
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot LISTEN for live events; retrying");
                }
            }
            // Caches must not trust what they hold while nobody listens.
            self.publish(LiveEvent::Resync);
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

/// A notification with the project and branch a page filters on.
async fn resolve(control: &ControlDb, notification: Notification) -> Option<LiveEvent> {
    match notification {
        Notification::Access => Some(LiveEvent::Access),
        Notification::Branches(project_id) => Some(LiveEvent::Branches { project_id }),
        Notification::Build(id) => {
            let session = control.session().await.ok()?;
            match slipway_control::get_build(&session, id).await {
                Ok(build) => Some(LiveEvent::Build {
                    id,
                    project_id: build.project_id,
                    branch_id: build.branch_id,
                }),
                // Removed with its project meanwhile: the project's pages resync.
                Err(_) => Some(LiveEvent::Resync),
            }
        }
    }
}
