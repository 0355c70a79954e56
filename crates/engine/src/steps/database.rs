//! Step: the build's database. Its own login role owning only it, the
//! database itself (new, a copy of a template, or a file-level copy of a kept
//! build's), and Odoo's data dir with the filestore that goes with it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use slipway_postgres::{random_secret, Cluster, DatabaseCopy};

use crate::host::{hand_over, HostAccount};
use crate::layout::{filestore_in, BuildDir};
use crate::locks::LockMode;
use crate::serving::ServedBuild;
use crate::templates::{self, TemplateKey, Templates};
use crate::{BuildError, Engine, Event, Observer, PreparedBuild};

/// Where a build's database comes from.
pub(crate) enum Origin<'a> {
    /// Empty, for Odoo to create its tables in.
    New {
        /// Made copyable while in use (a deployment's database is copied by
        /// the next deployment; see [`Cluster::settle_database`]).
        settled: bool,
    },
    /// A copy of a template database (a development build's outside
    /// dependencies, installed once).
    Template(&'a TemplateKey),
    /// A file-level copy of a kept build's database and filestore.
    CopyOf {
        build_id: &'a str,
        /// A copy that is not production gets its own uuid and secret.
        fresh_identity: bool,
    },
    /// A backup restored (refused when damaged or of another series).
    Restore {
        backup: &'a slipway_backup::Backup,
        pg_restore: &'a Path,
        series: String,
        fresh_identity: bool,
    },
}

/// The build's database, ready for Odoo.
pub(crate) struct Database {
    pub name: String,
    /// The login role Odoo connects as, owning only this database.
    pub role: String,
    /// The role's password (goes to `odoo.conf` only).
    pub password: String,
    /// Odoo's data dir (filestore, sessions), owned by the build account.
    pub data: PathBuf,
}

impl Engine {
    /// Creates the build's role and database from `origin`, and its data dir.
    /// Everything is recorded in the build's resources before it is made.
    pub(crate) async fn prepare_database(
        &self,
        build: &PreparedBuild,
        dir: &BuildDir,
        origin: Origin<'_>,
        observer: &dyn Observer,
    ) -> Result<Database, BuildError> {
        let cluster = self.cluster();
        let name = build.database();
        let password = random_secret(18);
        build.tracker.role(&name)?;
        build.tracker.database(&name)?;
        cluster.create_role(&name, &password).await?;
        let data = dir.data();
        std::fs::create_dir_all(&data).map_err(BuildError::io("creating", &data))?;
        hand_over(&data, self.account()).map_err(BuildError::io("chown", &data))?;
        let filestore = dir.filestore(&name);
        match origin {
            Origin::New { settled } => {
                observer.event(Event::Step("creating the database"));
                cluster.create_database(&name, &name).await?;
                if settled {
                    cluster.settle_database(&name, &name).await?;
                }
            }
            Origin::Template(key) => {
                observer.event(Event::Step("copying the template database"));
                let templates = Templates::new(self.layout())?;
                let _lock = templates.lock(key, LockMode::Shared).await?;
                // FILE_COPY, not PostgreSQL 15's default WAL_LOG: copying
                // through the WAL PANICs (restarts) the whole cluster when the
                // disk fills up; a file copy fails with a plain error. Both
                // measured the same speed.
                cluster
                    .copy_database(
                        &key.database(),
                        &key.role(),
                        &name,
                        &name,
                        DatabaseCopy::FileCopy,
                    )
                    .await?;
                fresh_identity(cluster, &name).await?;
                self.link_filestore(&templates.filestore(key), &filestore, &data)?;
            }
            Origin::CopyOf {
                build_id,
                fresh_identity: fresh,
            } => {
                let source = ServedBuild::read(self.layout(), build_id)?;
                observer.event(Event::Step(&format!(
                    "copying database {} and its filestore",
                    source.database
                )));
                let started = Instant::now();
                cluster
                    .copy_live_database(&source.database, &source.database, &name, &name)
                    .await?;
                let from = filestore_in(&source.data_dir, &source.database);
                self.link_filestore(&from, &filestore, &data)?;
                tracing::info!(build = %build.id, from = %source.database, ms = started.elapsed().as_millis() as u64, "database and filestore copied");
                if fresh {
                    fresh_identity(cluster, &name).await?;
                }
            }
            Origin::Restore {
                backup,
                pg_restore,
                series,
                fresh_identity: fresh,
            } => {
                observer.event(Event::Step(&format!(
                    "restoring backup {} of {}",
                    backup.manifest.id, backup.manifest.created_at
                )));
                let started = Instant::now();
                let target = slipway_backup::RestoreTarget {
                    cluster,
                    pg_restore,
                    database: &name,
                    role: &name,
                    password: &password,
                    filestore: filestore.clone(),
                    series: &series,
                };
                slipway_backup::restore(backup, &target).await?;
                // Copied by the next deployment, as any production database.
                cluster.settle_database(&name, &name).await?;
                chown_dirs(&data, self.account())?;
                tracing::info!(build = %build.id, backup = %backup.manifest.id, ms = started.elapsed().as_millis() as u64, "backup restored");
                if fresh {
                    fresh_identity(cluster, &name).await?;
                }
            }
        }
        Ok(Database {
            role: name.clone(),
            name,
            password,
            data,
        })
    }

    /// Hard-links the filestore `from` (if there is one) to `to`, and gives
    /// the build account the directories of `data` so Odoo can add files.
    fn link_filestore(&self, from: &Path, to: &Path, data: &Path) -> Result<(), BuildError> {
        if from.is_dir() {
            templates::link_tree(from, to)
                .map_err(BuildError::io("linking the filestore into", to))?;
        }
        chown_dirs(data, self.account())
    }
}

/// A copy must not share its origin's identity: Odoo uses `database.uuid` for
/// licensing/IAP and `database.secret` to sign sessions and tokens.
async fn fresh_identity(cluster: &Cluster, database: &str) -> Result<(), BuildError> {
    let client = cluster.connect(database).await?;
    client
        .batch_execute(
            "UPDATE ir_config_parameter SET value = gen_random_uuid()::text WHERE key IN ('database.uuid', 'database.secret');
             UPDATE ir_config_parameter SET value = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') WHERE key = 'database.create_date';",
        )
        .await
        .map_err(slipway_postgres::PgError::from)?;
    Ok(())
}

/// Gives the directories under `root` to the build account so Odoo can add
/// files. Files are left alone: they are hard links shared with their origin,
/// already owned by the account that wrote them.
fn chown_dirs(root: &Path, account: Option<HostAccount>) -> Result<(), BuildError> {
    if account.is_none() {
        return Ok(());
    }
    hand_over(root, account).map_err(BuildError::io("chown", root))?;
    let entries = std::fs::read_dir(root).map_err(BuildError::io("reading", root))?;
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            chown_dirs(&entry.path(), account)?;
        }
    }
    Ok(())
}
