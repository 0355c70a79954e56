//! The production guard: the databases neutralization must never touch.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use crate::NeutralizeError;

/// The names of the databases that must never be neutralized: production's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    production: BTreeSet<String>,
}

impl Guard {
    /// A guard over these production databases.
    pub fn new<I, S>(production: I) -> Guard
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Guard {
            production: production.into_iter().map(Into::into).collect(),
        }
    }

    /// Adds a production database.
    pub fn protect(&mut self, database: impl Into<String>) {
        self.production.insert(database.into());
    }

    /// Whether `database` is a production database (names are compared
    /// exactly, as PostgreSQL does).
    pub fn protects(&self, database: &str) -> bool {
        self.production.contains(database)
    }

    /// Refuses a protected `database`, and a connection that is to a
    /// protected database or to another database than `database`; reads
    /// nothing but the connection's database name.
    pub(crate) async fn admit(
        &self,
        client: &Client,
        database: &str,
    ) -> Result<(), NeutralizeError> {
        if self.protects(database) {
            return Err(NeutralizeError::Production(database.to_string()));
        }
        let connected: String = client
            .query_one("SELECT current_database()::text", &[])
            .await?
            .get(0);
        if self.protects(&connected) {
            return Err(NeutralizeError::Production(connected));
        }
        if connected != database {
            return Err(NeutralizeError::WrongDatabase {
                expected: database.to_string(),
                connected,
            });
        }
        Ok(())
    }
}

impl<S: Into<String>> FromIterator<S> for Guard {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Guard {
        Guard::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_protects_exactly_the_production_names() {
        let mut guard: Guard = ["prod"].into_iter().collect();
        guard.protect("shop");
        assert!(guard.protects("prod"));
        assert!(guard.protects("shop"));
        assert!(!guard.protects("Prod"));
        assert!(!guard.protects("prod_staging"));
    }
}
