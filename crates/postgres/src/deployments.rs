//! Databases that are copied while they live: production databases, copied
//! for every update (the copy is updated, the original is the snapshot) and for
//! every staging build.
//!
//! A per-build role owns its database, and `REASSIGN OWNED` (which hands a
//! copy's objects to the copy's role) also moves the *shared* objects the old
//! role owns: the source database itself. So a database that will be copied is
//! first *settled*: the database object goes to the administrative login, and
//! its role keeps what Odoo needs (CONNECT and TEMPORARY on the database,
//! ownership of the `public` schema and of everything in it).

use std::time::Duration;

use crate::cluster::{ensure_frozen, is_source_busy, revoke_public_connect};
use crate::names::quoted;
use crate::{Cluster, PgError};

/// Sessions on a live source are disconnected, and the copy retried, at most
/// this many times (a new request can open a session between the two).
const LIVE_COPY_ATTEMPTS: u32 = 20;
const LIVE_COPY_PAUSE: Duration = Duration::from_millis(100);

impl Cluster {
    /// Makes `database` (owned by `role`) copyable with
    /// [`Cluster::copy_live_database`] while `role` keeps using it. Idempotent.
    pub async fn settle_database(&self, database: &str, role: &str) -> Result<(), PgError> {
        let (database_q, role_q) = (quoted(database)?, quoted(role)?);
        let admin = self.connect("postgres").await?;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {database_q} OWNER TO CURRENT_USER;
                 GRANT CONNECT, TEMPORARY ON DATABASE {database_q} TO {role_q};"
            ))
            .await?;
        // PostgreSQL 15's `public` schema belongs to whoever owns the database;
        // Odoo creates its tables there.
        self.connect(database)
            .await?
            .batch_execute(&format!("ALTER SCHEMA public OWNER TO {role_q}"))
            .await?;
        Ok(())
    }

    /// A copy of the settled database `source` (objects owned by `source_role`)
    /// as `database`, owned by `role`, itself settled. Sessions on `source` are
    /// disconnected for the moment of the copy: the file-level copy needs the
    /// source alone, and takes the time of copying files, not of rewriting rows.
    pub async fn copy_live_database(
        &self,
        source: &str,
        source_role: &str,
        database: &str,
        role: &str,
    ) -> Result<(), PgError> {
        let admin = self.connect("postgres").await?;
        ensure_frozen(&admin, source, source_role).await?;
        let create = format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE {} STRATEGY FILE_COPY",
            quoted(database)?,
            quoted(role)?,
            quoted(source)?
        );
        let mut attempt = 1;
        loop {
            terminate_sessions(&admin, source).await?;
            match admin.batch_execute(&create).await {
                Ok(()) => break,
                Err(error) if attempt < LIVE_COPY_ATTEMPTS && is_source_busy(&error) => {
                    attempt += 1;
                    tokio::time::sleep(LIVE_COPY_PAUSE).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
        revoke_public_connect(&admin, database).await?;
        // Nothing shared is owned by `source_role` (settled), so this moves
        // exactly the copy's objects.
        self.connect(database)
            .await?
            .batch_execute(&format!(
                "REASSIGN OWNED BY {} TO {}",
                quoted(source_role)?,
                quoted(role)?
            ))
            .await?;
        self.settle_database(database, role).await
    }

    /// Disconnects every session on `database` (e.g. before its Odoo is replaced).
    pub async fn disconnect_all(&self, database: &str) -> Result<(), PgError> {
        terminate_sessions(&self.connect("postgres").await?, database).await
    }
}

async fn terminate_sessions(admin: &tokio_postgres::Client, database: &str) -> Result<(), PgError> {
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await?;
    Ok(())
}
