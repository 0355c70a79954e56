//! What the proxy remembers between requests, so that a request to a build
//! costs no database round trip: where each build and each production answers,
//! and who may open which build's address. Every entry is dropped as soon as
//! the control database announces a change that may concern it, and in any
//! case after a short time (sessions also end by expiring, unannounced).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use slipway_control::{BuildState, SecretHash, Stage};

use crate::live::{Hub, LiveEvent};
use crate::SharedState;

/// How long the proxy trusts what it remembers (an announced change drops
/// it sooner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLife {
    /// Where a build or a production answers.
    pub targets: Duration,
    /// Whether a cookie or a token opens a build.
    pub access: Duration,
}

impl CacheLife {
    pub const DEFAULT: CacheLife = CacheLife {
        targets: Duration::from_secs(10),
        access: Duration::from_secs(30),
    };

    /// Nothing remembered: every request asks the control database (how the
    /// proxy worked before; kept for comparing the two).
    pub const NONE: CacheLife = CacheLife {
        targets: Duration::ZERO,
        access: Duration::ZERO,
    };
}
/// Entries kept at most per map: past that, the map starts over.
const MAX_ENTRIES: usize = 10_000;

/// Where a label's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The served Odoo's address (slipway alone may connect to it).
    Address(std::net::SocketAddr),
    /// Production is being updated (or its server is restarting).
    Maintenance,
    /// A stopped build; `restartable` while its database is still there.
    Stopped {
        restartable: bool,
    },
    NotServing(BuildState),
    Gone(StatusCode, String),
}

/// A build as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFacts {
    pub project_id: i64,
    pub stage: Stage,
    pub target: Target,
}

/// A cached answer to "may this cookie or token open build N".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Not theirs to open: answered as if the build did not exist.
    Refused,
    /// The cookie's session ended (or it is another build's): through the UI.
    Expired,
}

struct Entry<T> {
    value: T,
    at: Instant,
}

struct Map<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    ttl: Duration,
}

impl<K: std::hash::Hash + Eq, V: Clone> Map<K, V> {
    fn new(ttl: Duration) -> Self {
        Map {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().expect("proxy cache");
        entries
            .get(key)
            .filter(|entry| entry.at.elapsed() < self.ttl)
            .map(|entry| entry.value.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("proxy cache");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                value,
                at: Instant::now(),
            },
        );
    }

    fn clear(&self) {
        self.entries.lock().expect("proxy cache").clear();
    }
}

pub struct Cache {
    builds: Map<i64, Option<BuildFacts>>,
    production: Map<String, Target>,
    access: Map<(SecretHash, i64), Decision>,
}

impl Cache {
    pub fn new(life: CacheLife) -> Cache {
        Cache {
            builds: Map::new(life.targets),
            production: Map::new(life.targets),
            access: Map::new(life.access),
        }
    }
}

/// Drops the proxy's entries as the hub announces changes.
pub fn follow(proxy: &std::sync::Arc<super::Proxy>, hub: &Hub) {
    let mut events = hub.subscribe();
    let proxy = std::sync::Arc::downgrade(proxy);
    tokio::spawn(async move {
        loop {
            let event = events.recv().await;
            let Some(proxy) = proxy.upgrade() else {
                return;
            };
            let cache = &proxy.cache;
            match event {
                Ok(LiveEvent::Build { .. }) => {
                    cache.builds.clear();
                    cache.production.clear();
                }
                Ok(LiveEvent::Branches { .. }) => {}
                Ok(LiveEvent::Access) => cache.access.clear(),
                Ok(LiveEvent::Resync)
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    cache.builds.clear();
                    cache.production.clear();
                    cache.access.clear();
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

impl Cache {
    /// The build, `None` when there is no such build.
    pub async fn build_facts(
        &self,
        state: &SharedState,
        build_id: i64,
    ) -> Result<Option<BuildFacts>, Target> {
        if let Some(facts) = self.builds.get(&build_id) {
            return Ok(facts);
        }
        let session = state.control.session().await.map_err(unreachable)?;
        let facts = match slipway_control::get_build(&session, build_id).await {
            Ok(build) => Some(BuildFacts {
                project_id: build.project_id,
                stage: build.stage,
                target: match (build.state, build.serving_address()) {
                    (BuildState::Serving, Some(address)) => Target::Address(address),
                    (BuildState::Stopped, _) => Target::Stopped {
                        restartable: build.why_not_restartable().is_none(),
                    },
                    (state, _) => Target::NotServing(state),
                },
            }),
            Err(slipway_control::ControlError::UnknownBuild(_)) => None,
            Err(error) => return Err(unreachable(error)),
        };
        self.builds.put(build_id, facts.clone());
        Ok(facts)
    }

    /// Where the build's requests go (after access was checked).
    pub async fn build(&self, state: &SharedState, build_id: i64) -> Target {
        match self.build_facts(state, build_id).await {
            Ok(Some(facts)) => facts.target,
            Ok(None) => Target::Gone(
                StatusCode::NOT_FOUND,
                format!("There is no build #{build_id}."),
            ),
            Err(target) => target,
        }
    }

    /// Where the project's production answers.
    pub async fn production(&self, state: &SharedState, project: &str) -> Target {
        if let Some(target) = self.production.get(&project.to_string()) {
            return target;
        }
        let session = match state.control.session().await {
            Ok(session) => session,
            Err(error) => return unreachable(error),
        };
        let project_row = match slipway_control::get_project(&session, project).await {
            Ok(project) => project,
            Err(slipway_control::ControlError::UnknownProject(_)) => {
                return Target::Gone(
                    StatusCode::NOT_FOUND,
                    "No project or build has this address.".into(),
                )
            }
            Err(error) => return unreachable(error),
        };
        let target = match slipway_control::production_build(&session, project_row.id).await {
            Ok(Some(build)) => match build.serving_address() {
                Some(address) => Target::Address(address),
                None => Target::Maintenance,
            },
            Ok(None) => Target::Gone(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Project {} has no production database yet: its production branch has not built successfully.",
                    project_row.name
                ),
            ),
            Err(error) => {
                tracing::error!(%error, "proxy: cannot find the production build");
                return Target::Maintenance;
            }
        };
        self.production.put(project.to_string(), target.clone());
        target
    }

    pub fn decision(&self, token: &SecretHash, build_id: i64) -> Option<Decision> {
        self.access.get(&(token.clone(), build_id))
    }

    pub fn remember(&self, token: SecretHash, build_id: i64, decision: Decision) {
        self.access.put((token, build_id), decision);
    }
}

fn unreachable(error: impl std::fmt::Display) -> Target {
    tracing::error!(%error, "proxy: control database unreachable");
    Target::Gone(
        StatusCode::SERVICE_UNAVAILABLE,
        "slipway cannot reach its database right now; try again shortly".into(),
    )
}
