//! Connections to the control-plane database, reused: each new session costs a
//! SCRAM handshake, which would dominate short API calls.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use slipway_postgres::{Cluster, PgError};
use tokio_postgres::Client;

use crate::ControlError;

/// Idle sessions kept for reuse.
const IDLE_SESSIONS: usize = 16;
/// The control-plane database's name in the cluster.
pub const CONTROL_DATABASE: &str = "slipway_control";

/// The control-plane database and a small pool of sessions to it.
#[derive(Clone)]
pub struct ControlDb {
    pub cluster: Cluster,
    pub database: String,
    idle: Arc<Mutex<Vec<Client>>>,
}

/// A session from the pool; goes back when dropped (unless it broke).
pub struct Session {
    client: Option<Client>,
    idle: Arc<Mutex<Vec<Client>>>,
}

impl ControlDb {
    pub fn new(cluster: Cluster, database: impl Into<String>) -> ControlDb {
        ControlDb {
            cluster,
            database: database.into(),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Creates the database if missing and brings its schema up to date.
    pub async fn prepare(cluster: Cluster, database: &str) -> Result<ControlDb, ControlError> {
        let exists = cluster.database_exists(database).await.map_err(pg)?;
        if !exists {
            let admin = cluster.connect("postgres").await.map_err(pg)?;
            let create = format!(
                "CREATE DATABASE \"{}\"",
                slipway_postgres::validate_identifier(database).map_err(pg)?
            );
            if let Err(error) = admin.batch_execute(&create).await {
                // Another process created it meanwhile.
                if error.as_db_error().map(|e| e.code())
                    != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                {
                    return Err(pg(PgError::from(error)));
                }
            }
        }
        let mut client = cluster.connect(database).await.map_err(pg)?;
        crate::migrate(&mut client).await?;
        Ok(ControlDb::new(cluster, database))
    }

    pub async fn session(&self) -> Result<Session, ControlError> {
        let reused = {
            let mut idle = self.idle.lock().expect("pool lock");
            let mut found = None;
            while let Some(client) = idle.pop() {
                if !client.is_closed() {
                    found = Some(client);
                    break;
                }
            }
            found
        };
        let client = match reused {
            Some(client) => client,
            None => self.cluster.connect(&self.database).await.map_err(pg)?,
        };
        Ok(Session {
            client: Some(client),
            idle: self.idle.clone(),
        })
    }
}

impl Deref for Session {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("session holds a client until dropped")
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("session holds a client until dropped")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                let mut idle = self.idle.lock().expect("pool lock");
                if idle.len() < IDLE_SESSIONS {
                    idle.push(client);
                }
            }
        }
    }
}

fn pg(error: PgError) -> ControlError {
    ControlError::Database(error.to_string())
}
