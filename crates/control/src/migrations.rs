//! Versioned schema migrations, embedded in the binary.
//!
//! Each migration runs in its own transaction together with its row in
//! `schema_migrations`, under a transaction-scoped advisory lock: processes that
//! start at the same time apply each migration exactly once, the others wait and
//! then find nothing left to do.

use tokio_postgres::Client;

use crate::ControlError;

/// The migrations, in order; version `n` is at index `n - 1`.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_resume_and_collect.sql")),
    (
        3,
        include_str!("../migrations/0003_production_and_staging.sql"),
    ),
    (4, include_str!("../migrations/0004_accounts_and_ui.sql")),
    (5, include_str!("../migrations/0005_odoo_sources.sql")),
    (6, include_str!("../migrations/0006_confinement.sql")),
    (
        7,
        include_str!("../migrations/0007_project_limits_and_disk_use.sql"),
    ),
    (
        8,
        include_str!("../migrations/0008_backups_and_test_instances.sql"),
    ),
];

/// The schema version this binary brings the database to.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// Key of the advisory lock that serializes migrations (per database): "slipway\x01".
const LOCK_KEY: i64 = 0x736c_6970_7761_7901;

/// Brings the schema to [`LATEST_VERSION`] and returns it. Re-running is a no-op;
/// safe to call from several processes at once. A database migrated by a newer
/// slipway is refused rather than used.
pub async fn migrate(client: &mut Client) -> Result<u32, ControlError> {
    loop {
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version int PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await?;
        let current: i32 = transaction
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let current = u32::try_from(current)
            .map_err(|_| ControlError::Database(format!("invalid schema version {current}")))?;
        if current > LATEST_VERSION {
            return Err(ControlError::SchemaTooNew {
                found: current,
                known: LATEST_VERSION,
            });
        }
        if current == LATEST_VERSION {
            transaction.commit().await?;
            return Ok(current);
        }
        let (version, sql) = MIGRATIONS[current as usize];
        tracing::info!(version, "migrating the control database");
        transaction.batch_execute(sql).await.map_err(|error| {
            ControlError::Database(format!(
                "migration {version} failed: {}",
                crate::error::describe(&error)
            ))
        })?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&(version as i32)],
            )
            .await?;
        transaction.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_from_one() {
        for (index, (version, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, index + 1);
            assert!(!sql.trim().is_empty());
        }
    }
}
