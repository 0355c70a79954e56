//! Why a database was not neutralized.

/// Why a database was not neutralized. Whatever the error, the database is
/// left as it was: the whole neutralization is one transaction.
#[derive(Debug, thiserror::Error)]
pub enum NeutralizeError {
    #[error("refusing to neutralize database '{0}': it is a production database")]
    Production(String),

    #[error(
        "refusing to neutralize database '{expected}': the connection is to database '{connected}'"
    )]
    WrongDatabase { expected: String, connected: String },

    #[error(
        "neutralizing database '{database}' failed at step {step}, nothing was changed: {message}"
    )]
    Step {
        database: String,
        step: &'static str,
        /// PostgreSQL's own words (tokio-postgres's error only says "db error").
        message: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("PostgreSQL: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),

    #[error("writing the neutralize log: {0}")]
    Log(#[source] std::io::Error),
}

impl NeutralizeError {
    /// `step` of the neutralization of `database` failed.
    pub(crate) fn step(
        database: &str,
        step: &'static str,
        source: tokio_postgres::Error,
    ) -> NeutralizeError {
        NeutralizeError::Step {
            database: database.to_string(),
            step,
            message: pg_message(&source),
            source,
        }
    }
}

/// PostgreSQL's own words for an error (tokio-postgres's `Display` only says
/// "db error").
fn pg_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => error.to_string(),
    }
}
