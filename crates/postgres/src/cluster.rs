//! A reachable PostgreSQL cluster and the administrative operations slipway does on
//! it: per-build roles and databases, copies from templates, cleanup.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};

use crate::names::{literal, quoted};
use crate::PgError;

/// How a client reaches the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket directory (the embedded cluster listens on nothing else).
    Socket {
        dir: PathBuf,
        port: u16,
    },
    Tcp {
        host: String,
        port: u16,
    },
}

/// How `CREATE DATABASE ... TEMPLATE` copies a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseCopy {
    /// Block by block through the WAL (PostgreSQL 15's default): cheap for small
    /// databases, no checkpoint.
    WalLog,
    /// Whole files after a checkpoint: faster for large databases.
    FileCopy,
}

/// A cluster slipway can administer with a superuser (or CREATEROLE+CREATEDB) login.
#[derive(Clone)]
pub struct Cluster {
    pub endpoint: Endpoint,
    pub superuser: String,
    password: Option<String>,
    /// Major version of the server, when known (embedded clusters).
    pub major: Option<u32>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("endpoint", &self.endpoint)
            .field("superuser", &self.superuser)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Bounded so that an unreachable host is an error after seconds, not minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// CREATE DATABASE refuses while another session is connected to the template;
/// a finishing build may still be disconnecting.
const TEMPLATE_BUSY_RETRIES: u32 = 20;
const TEMPLATE_BUSY_PAUSE: Duration = Duration::from_millis(250);

impl Cluster {
    pub(crate) fn new(
        endpoint: Endpoint,
        superuser: String,
        password: Option<String>,
        major: Option<u32>,
    ) -> Cluster {
        Cluster {
            endpoint,
            superuser,
            password,
            major,
        }
    }

    /// An external cluster: `postgresql://user:password@host:port/` (the user must
    /// be allowed to create roles and databases).
    pub fn external(url: &str) -> Result<Cluster, PgError> {
        let invalid = |reason: &str| PgError::InvalidUrl {
            url: slipway_redact::redact(url).into_owned(),
            reason: reason.to_string(),
        };
        let config = Config::from_str(url).map_err(|e| invalid(&e.to_string()))?;
        let user = config
            .get_user()
            .ok_or_else(|| invalid("it names no user"))?
            .to_string();
        if user == "postgres" {
            // Odoo refuses to run as `postgres`; slipway's own roles are created by
            // this login, which is fine, but say it plainly where it matters.
            tracing::info!(
                "external cluster administered as 'postgres'; builds get their own roles"
            );
        }
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let endpoint = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => Endpoint::Tcp {
                host: host.clone(),
                port,
            },
            Some(tokio_postgres::config::Host::Unix(dir)) => Endpoint::Socket {
                dir: dir.clone(),
                port,
            },
            None => return Err(invalid("it names no host")),
        };
        Ok(Cluster::new(endpoint, user, password, None))
    }

    fn config(&self, database: &str, user: &str, password: Option<&str>) -> Config {
        let mut config = Config::new();
        match &self.endpoint {
            Endpoint::Socket { dir, port } => config.host_path(dir).port(*port),
            Endpoint::Tcp { host, port } => config.host(host).port(*port),
        };
        config
            .user(user)
            .dbname(database)
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("slipway");
        if let Some(password) = password {
            config.password(password);
        }
        config
    }

    /// Connection settings of an administrative session on `database` (for
    /// callers that manage the connection themselves, e.g. to LISTEN).
    pub fn admin_config(&self, database: &str) -> Config {
        self.config(database, &self.superuser, self.password.as_deref())
    }

    /// Environment for libpq's command-line tools (pg_dump, psql, pg_restore) to
    /// connect as the administrative login: `PGHOST` (a socket directory or a
    /// host name), `PGPORT`, `PGUSER` and, when there is one, `PGPASSWORD`.
    pub fn libpq_env(&self) -> Vec<(String, String)> {
        let (host, port) = match &self.endpoint {
            Endpoint::Socket { dir, port } => (dir.to_string_lossy().into_owned(), *port),
            Endpoint::Tcp { host, port } => (host.clone(), *port),
        };
        let mut env = vec![
            ("PGHOST".to_string(), host),
            ("PGPORT".to_string(), port.to_string()),
            ("PGUSER".to_string(), self.superuser.clone()),
        ];
        if let Some(password) = &self.password {
            env.push(("PGPASSWORD".to_string(), password.clone()));
        }
        env
    }

    /// An administrative session on `database`.
    pub async fn connect(&self, database: &str) -> Result<Client, PgError> {
        self.connect_as(
            database,
            &self.superuser.clone(),
            self.password.clone().as_deref(),
        )
        .await
    }

    /// A session on `database` as another role (e.g. a build's own role).
    pub async fn connect_as(
        &self,
        database: &str,
        user: &str,
        password: Option<&str>,
    ) -> Result<Client, PgError> {
        let (client, connection) = self.config(database, user, password).connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "PostgreSQL connection closed with an error");
            }
        });
        Ok(client)
    }

    /// Waits until the server accepts connections.
    pub async fn ping(&self) -> Result<(), PgError> {
        let client = self.connect("postgres").await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// A login role with a password and no privilege beyond its own objects.
    pub async fn create_role(&self, role: &str, password: &str) -> Result<(), PgError> {
        let client = self.connect("postgres").await?;
        client
            .batch_execute(&format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {}",
                quoted(role)?,
                literal(password)
            ))
            .await?;
        Ok(())
    }

    /// An empty database owned by `owner` that no other role may connect to.
    /// Collation `C` as Odoo itself creates its databases.
    pub async fn create_database(&self, database: &str, owner: &str) -> Result<(), PgError> {
        let client = self.connect("postgres").await?;
        client
            .batch_execute(&format!(
                "CREATE DATABASE {db} OWNER {owner} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'",
                db = quoted(database)?,
                owner = quoted(owner)?
            ))
            .await?;
        revoke_public_connect(&client, database).await
    }

    /// A copy of `template` owned by `owner`: every object the template's role
    /// owned is handed over, so the new role owns exactly its database.
    pub async fn copy_database(
        &self,
        template: &str,
        template_owner: &str,
        database: &str,
        owner: &str,
        method: DatabaseCopy,
    ) -> Result<(), PgError> {
        let client = self.connect("postgres").await?;
        ensure_frozen(&client, template, template_owner).await?;
        let strategy = match method {
            DatabaseCopy::WalLog => "WAL_LOG",
            DatabaseCopy::FileCopy => "FILE_COPY",
        };
        let sql = format!(
            "CREATE DATABASE {db} OWNER {owner} TEMPLATE {template} STRATEGY {strategy}",
            db = quoted(database)?,
            owner = quoted(owner)?,
            template = quoted(template)?
        );
        let mut attempt = 0;
        loop {
            match client.batch_execute(&sql).await {
                Ok(()) => break,
                Err(error) if is_source_busy(&error) && attempt < TEMPLATE_BUSY_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(TEMPLATE_BUSY_PAUSE).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
        revoke_public_connect(&client, database).await?;
        let inside = self.connect(database).await?;
        inside
            .batch_execute(&format!(
                "REASSIGN OWNED BY {} TO {}",
                quoted(template_owner)?,
                quoted(owner)?
            ))
            .await?;
        Ok(())
    }

    /// Hands the database itself to the administrative login, e.g. to freeze a
    /// template so that `REASSIGN OWNED` in its copies leaves it alone.
    pub async fn take_database_ownership(&self, database: &str) -> Result<(), PgError> {
        self.administer(format!(
            "ALTER DATABASE {} OWNER TO CURRENT_USER",
            quoted(database)?
        ))
        .await
    }

    /// Drops the database, disconnecting whoever is still on it. Missing is fine.
    pub async fn drop_database(&self, database: &str) -> Result<(), PgError> {
        self.administer(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quoted(database)?
        ))
        .await
    }

    /// Drops the role. Missing is fine.
    pub async fn drop_role(&self, role: &str) -> Result<(), PgError> {
        self.administer(format!("DROP ROLE IF EXISTS {}", quoted(role)?))
            .await
    }

    /// Runs one administrative statement on the `postgres` database.
    async fn administer(&self, sql: String) -> Result<(), PgError> {
        self.connect("postgres").await?.batch_execute(&sql).await?;
        Ok(())
    }

    pub async fn database_exists(&self, database: &str) -> Result<bool, PgError> {
        let client = self.connect("postgres").await?;
        let row = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await?;
        Ok(row.is_some())
    }

    /// The bytes `database` takes on disk (`pg_database_size`), `None` when
    /// there is no such database.
    pub async fn database_size(&self, database: &str) -> Result<Option<u64>, PgError> {
        let client = self.connect("postgres").await?;
        let row = client
            .query_opt(
                "SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1",
                &[&database],
            )
            .await?;
        Ok(row.map(|row| row.get::<_, i64>(0).unsigned_abs()))
    }

    /// Names of databases starting with `prefix`.
    pub async fn databases_with_prefix(&self, prefix: &str) -> Result<Vec<String>, PgError> {
        self.names_with_prefix(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1",
            prefix,
        )
        .await
    }

    /// Names of roles starting with `prefix`.
    pub async fn roles_with_prefix(&self, prefix: &str) -> Result<Vec<String>, PgError> {
        self.names_with_prefix(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
            prefix,
        )
        .await
    }

    async fn names_with_prefix(&self, query: &str, prefix: &str) -> Result<Vec<String>, PgError> {
        let client = self.connect("postgres").await?;
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = client.query(query, &[&pattern]).await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}

/// Refuses to copy `template` while its database object is still owned by
/// `template_owner`: `REASSIGN OWNED` in the copy also moves shared objects,
/// and the copy's role would take the template database itself.
pub(crate) async fn ensure_frozen(
    client: &Client,
    template: &str,
    template_owner: &str,
) -> Result<(), PgError> {
    let owner = client
        .query_opt(
            "SELECT datdba::regrole::text FROM pg_database WHERE datname = $1",
            &[&template],
        )
        .await?;
    match owner {
        None => Err(PgError::NoSuchDatabase(template.to_string())),
        Some(row) if row.get::<_, String>(0) == template_owner => {
            Err(PgError::TemplateNotFrozen(template.to_string()))
        }
        Some(_) => Ok(()),
    }
}

pub(crate) async fn revoke_public_connect(client: &Client, database: &str) -> Result<(), PgError> {
    client
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {} FROM PUBLIC",
            quoted(database)?
        ))
        .await?;
    Ok(())
}

pub(crate) fn is_source_busy(error: &tokio_postgres::Error) -> bool {
    error
        .as_db_error()
        .is_some_and(|db| db.code() == &tokio_postgres::error::SqlState::OBJECT_IN_USE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_urls_are_parsed_into_endpoint_and_credentials() {
        let cluster =
            Cluster::external("postgresql://admin:s3cret@db.example:5433/postgres").unwrap();
        assert_eq!(
            cluster.endpoint,
            Endpoint::Tcp {
                host: "db.example".into(),
                port: 5433
            }
        );
        assert_eq!(cluster.superuser, "admin");
        assert!(!format!("{cluster:?}").contains("s3cret"));
        let socket = Cluster::external("host=/run/postgresql user=slipway").unwrap();
        assert_eq!(
            socket.endpoint,
            Endpoint::Socket {
                dir: "/run/postgresql".into(),
                port: 5432
            }
        );
    }

    #[test]
    fn libpq_env_names_host_port_user_and_password_only_when_set() {
        let tcp = Cluster::external("postgresql://admin:s3cret@db.example:5433/postgres").unwrap();
        assert_eq!(
            tcp.libpq_env(),
            [
                ("PGHOST", "db.example"),
                ("PGPORT", "5433"),
                ("PGUSER", "admin"),
                ("PGPASSWORD", "s3cret"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let socket = Cluster::new(
            Endpoint::Socket {
                dir: "/srv/slipway/postgres/run".into(),
                port: 5432,
            },
            "slipway".into(),
            None,
            Some(15),
        );
        assert_eq!(
            socket.libpq_env(),
            [
                ("PGHOST", "/srv/slipway/postgres/run"),
                ("PGPORT", "5432"),
                ("PGUSER", "slipway"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn invalid_urls_are_refused_without_echoing_the_password() {
        let error = Cluster::external("postgresql://admin:s3cret@/")
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid PostgreSQL URL"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        assert!(Cluster::external("postgresql://host.example/")
            .unwrap_err()
            .to_string()
            .contains("no user"));
    }
}
