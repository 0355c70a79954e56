//! Taking a backup: one snapshot of the database gives both its dump and the
//! list of filestore files it references, so the dump and the filestore belong
//! to the same moment (Odoo never rewrites a filestore file: a changed
//! attachment is a new file).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};
use sha2::Sha256;
use slipway_postgres::Cluster;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::beneath::{is_plain_relative, open_beneath};
use crate::manifest::{
    BackupManifest, BackupOrigin, DatabaseFile, FilestoreSummary, ModuleState, MANIFEST_FORMAT,
};
use crate::retention::BackupKind;
use crate::store::{Backup, ProjectBackups, DATABASE_FILE, FILESTORE, MANIFEST};
use crate::{tools, BackupError};

/// Odoo's main tables, counted in the manifest (those that exist) and
/// compared when a backup is verified.
pub const MAIN_TABLES: &[&str] = &[
    "res_company",
    "res_users",
    "res_partner",
    "ir_attachment",
    "mail_message",
    "product_template",
    "product_product",
    "crm_lead",
    "sale_order",
    "sale_order_line",
    "purchase_order",
    "account_move",
    "account_move_line",
    "stock_picking",
    "stock_move",
    "project_task",
    "hr_employee",
];

/// The database to back up and where its filestore is.
pub struct BackupSource<'a> {
    pub cluster: &'a Cluster,
    /// `pg_dump` of the server's major version (or newer).
    pub pg_dump: &'a Path,
    pub database: &'a str,
    /// A directory made by slipway, trusted (Odoo's data dir).
    pub data_dir: &'a Path,
    /// The filestore, relative to `data_dir` (`filestore/<database>`): in the
    /// build's hands, no link there is followed.
    pub filestore: &'a Path,
    pub origin: BackupOrigin,
}

/// What the snapshot says, read in the same transaction pg_dump uses.
struct Snapshot {
    id: String,
    series: String,
    pg_version: String,
    modules: BTreeMap<String, ModuleState>,
    rows: BTreeMap<String, i64>,
    files: Vec<String>,
}

/// Backs `source` up as backup `id` of `kind`. Written into a hidden
/// directory renamed into place when complete: a failure, a full disk or a
/// crash leaves no backup that looks complete (the next
/// [`ProjectBackups::remove_partial`] clears the rest). The database is only
/// read.
pub async fn create(
    backups: &ProjectBackups,
    id: &str,
    kind: BackupKind,
    source: &BackupSource<'_>,
) -> Result<Backup, BackupError> {
    let partial = backups.partial_dir(id);
    let result = write_partial(backups, id, kind, source, &partial).await;
    if result.is_err() {
        if let Err(error) = fs::remove_dir_all(&partial) {
            if error.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %partial.display(), %error, "removing an incomplete backup failed");
            }
        }
    }
    let manifest = result?;
    let dir = backups.backup_dir(id);
    if dir.exists() {
        let _ = fs::remove_dir_all(&partial);
        return Err(BackupError::io(
            "renaming the backup to",
            &dir,
            io::Error::from(io::ErrorKind::AlreadyExists),
        ));
    }
    fs::rename(&partial, &dir).map_err(|e| BackupError::io("renaming the backup to", &dir, e))?;
    sync_dir(backups.dir())?;
    Ok(Backup { dir, manifest })
}

async fn write_partial(
    backups: &ProjectBackups,
    id: &str,
    kind: BackupKind,
    source: &BackupSource<'_>,
    partial: &Path,
) -> Result<BackupManifest, BackupError> {
    let database = source.database;
    match fs::remove_dir_all(partial) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(BackupError::io("removing", partial, error)),
    }
    fs::create_dir_all(backups.dir()).map_err(|e| BackupError::io("creating", backups.dir(), e))?;
    // Backups hold password hashes and API keys: for slipway's eyes only.
    fs::set_permissions(backups.dir(), fs::Permissions::from_mode(0o700))
        .map_err(|e| BackupError::io("chmod", backups.dir(), e))?;
    fs::create_dir(partial).map_err(|e| BackupError::io("creating", partial, e))?;
    fs::set_permissions(partial, fs::Permissions::from_mode(0o700))
        .map_err(|e| BackupError::io("chmod", partial, e))?;

    let client = source
        .cluster
        .connect(database)
        .await
        .map_err(|error| BackupError::connecting(database, error))?;
    let created_at = time::OffsetDateTime::now_utc();
    let snapshot = read_snapshot(&client, database).await?;
    tracing::info!(
        database,
        backup = id,
        files = snapshot.files.len(),
        "backing up"
    );

    let dump = partial.join(DATABASE_FILE);
    let mut file_arg = OsString::from("--file=");
    file_arg.push(&dump);
    let snapshot_arg = OsString::from(format!("--snapshot={}", snapshot.id));
    tools::run(
        source.pg_dump,
        "pg_dump",
        database,
        &tools::Connection::Admin(source.cluster),
        &[
            "--format=custom".as_ref(),
            // gzip level 1, not pg_dump's 6: measured on a ~1 GB production,
            // 7 s instead of 33 s for a dump 14 % larger (docs/benchmarks.md);
            // the snapshot is held, and production read, a quarter as long.
            "--compress=1".as_ref(),
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            snapshot_arg.as_os_str(),
            file_arg.as_os_str(),
        ],
        partial,
    )
    .await?;
    // The snapshot may end: pg_dump has its data.
    client
        .batch_execute("COMMIT")
        .await
        .map_err(BackupError::sql(database))?;
    drop(client);

    let copy = FilestoreCopy {
        filestore: source.data_dir.join(source.filestore),
        data_dir: source.data_dir.to_path_buf(),
        filestore_relative: source.filestore.to_path_buf(),
        pool: backups.pool(),
        into: partial.join(FILESTORE),
        files: snapshot.files,
    };
    let dump_for_hash = dump.clone();
    let (filestore, database_file) = tokio::task::spawn_blocking(move || {
        let filestore = copy.run()?;
        let (bytes, sha256) = sha256_of(&dump_for_hash)?;
        Ok::<_, BackupError>((
            filestore,
            DatabaseFile {
                file: DATABASE_FILE.to_string(),
                bytes,
                sha256,
            },
        ))
    })
    .await
    .map_err(|error| {
        BackupError::io("copying the filestore", partial, io::Error::other(error))
    })??;

    let manifest = BackupManifest {
        format: MANIFEST_FORMAT,
        id: id.to_string(),
        kind,
        created_at: created_at
            .format(&Rfc3339)
            .expect("a UTC time formats as RFC 3339"),
        source_database: database.to_string(),
        series: snapshot.series,
        origin: source.origin.clone(),
        pg_version: snapshot.pg_version,
        database: database_file,
        modules: snapshot.modules,
        rows: snapshot.rows,
        filestore,
    };
    let manifest_path = partial.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    write_new(&manifest_path, &text)?;
    sync_filesystem(partial)?;
    Ok(manifest)
}

/// Opens the snapshot (kept open: pg_dump takes it) and reads what the
/// manifest needs in it.
async fn read_snapshot(client: &Client, database: &str) -> Result<Snapshot, BackupError> {
    let sql = BackupError::sql(database);
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(&sql)?;
    let id: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(&sql)?
        .get(0);
    let modules = match client
        .query(
            "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' ORDER BY name",
            &[],
        )
        .await
    {
        Ok(rows) => rows,
        Err(error) if error.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            return Err(BackupError::NotOdoo {
                database: database.to_string(),
                reason: "it has no ir_module_module table".to_string(),
            })
        }
        Err(error) => return Err(sql(error)),
    };
    let checksums: BTreeMap<String, String> = client
        .query_opt(
            "SELECT value FROM ir_config_parameter WHERE key = 'module_auto_update.installed_checksums'",
            &[],
        )
        .await
        .map_err(&sql)?
        .and_then(|row| serde_json::from_str(row.get::<_, &str>(0)).ok())
        .unwrap_or_default();
    let mut modules_state = BTreeMap::new();
    let mut series = None;
    for row in modules {
        let name: String = row.get(0);
        let version: Option<String> = row.get(1);
        if name == "base" {
            series = version
                .as_deref()
                .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."));
        }
        let checksum = checksums.get(&name).cloned();
        modules_state.insert(name, ModuleState { version, checksum });
    }
    let series = series.ok_or_else(|| BackupError::NotOdoo {
        database: database.to_string(),
        reason: "its base module is not installed".to_string(),
    })?;
    let server_version: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(&sql)?
        .get(0);
    let number: u32 = server_version.parse().unwrap_or(0);
    let pg_version = format!("{}.{}", number / 10000, number / 100 % 100);
    let rows = count_rows(client, database).await?;
    let files = client
        .query(
            "SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL AND store_fname <> '' ORDER BY 1",
            &[],
        )
        .await
        .map_err(&sql)?
        .into_iter()
        .map(|row| row.get::<_, String>(0))
        .collect();
    Ok(Snapshot {
        id,
        series,
        pg_version,
        modules: modules_state,
        rows,
        files,
    })
}

/// Exact row counts of the main tables that exist.
pub(crate) async fn count_rows(
    client: &Client,
    database: &str,
) -> Result<BTreeMap<String, i64>, BackupError> {
    let sql = BackupError::sql(database);
    let tables: Vec<&str> = MAIN_TABLES.to_vec();
    let existing = client
        .query(
            "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND relname = ANY($1)",
            &[&tables],
        )
        .await
        .map_err(&sql)?;
    let mut rows = BTreeMap::new();
    for row in existing {
        let table: String = row.get(0);
        // The names come from MAIN_TABLES: plain identifiers.
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM public.\"{table}\""), &[])
            .await
            .map_err(&sql)?
            .get(0);
        rows.insert(table, count);
    }
    Ok(rows)
}

struct FilestoreCopy {
    filestore: PathBuf,
    data_dir: PathBuf,
    filestore_relative: PathBuf,
    pool: PathBuf,
    into: PathBuf,
    files: Vec<String>,
}

impl FilestoreCopy {
    /// Each referenced file: hashed, added to the pool if its content is new,
    /// hard-linked into the backup.
    fn run(self) -> Result<FilestoreSummary, BackupError> {
        let mut summary = FilestoreSummary::default();
        fs::create_dir_all(&self.into).map_err(|e| BackupError::io("creating", &self.into, e))?;
        fs::create_dir_all(&self.pool).map_err(|e| BackupError::io("creating", &self.pool, e))?;
        let data = match File::open(&self.data_dir) {
            Ok(data) => Some(data),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(BackupError::io("opening", &self.data_dir, error)),
        };
        for relative in &self.files {
            if !is_plain_relative(relative) {
                return Err(BackupError::UnsafeFilestorePath {
                    path: relative.clone(),
                });
            }
            let inside = self.filestore_relative.join(relative);
            let opened = match &data {
                Some(data) => open_beneath(data, &inside),
                None => Err(io::Error::from(io::ErrorKind::NotFound)),
            };
            let mut file = match opened {
                Ok(file) => file,
                Err(error)
                    if error.kind() == io::ErrorKind::NotFound
                        || error.raw_os_error() == Some(libc::ELOOP)
                        || error.raw_os_error() == Some(libc::EXDEV) =>
                {
                    tracing::warn!(file = %self.filestore.join(relative).display(), %error, "a file the database references is not in its filestore (or is a link); left out of the backup");
                    summary.missing.push(relative.clone());
                    continue;
                }
                Err(error) => {
                    return Err(BackupError::io(
                        "opening",
                        self.filestore.join(relative),
                        error,
                    ))
                }
            };
            let source_path = self.filestore.join(relative);
            let (sha1, bytes, new) = pool_insert(&self.pool, &mut file, &source_path)?;
            let link = self.into.join(relative);
            if let Some(parent) = link.parent() {
                fs::create_dir_all(parent).map_err(|e| BackupError::io("creating", parent, e))?;
            }
            fs::hard_link(pool_path(&self.pool, &sha1), &link)
                .map_err(|e| BackupError::io("linking", &link, e))?;
            summary.files += 1;
            summary.bytes += bytes;
            if new {
                summary.new_bytes += bytes;
            }
            summary.checksums.insert(relative.clone(), sha1);
        }
        Ok(summary)
    }
}

pub(crate) fn pool_path(pool: &Path, sha1: &str) -> PathBuf {
    pool.join(&sha1[..2]).join(sha1)
}

/// Adds `file`'s content to the pool unless it is there: its SHA-1, size,
/// and whether it was new. A file already pooled is only read.
fn pool_insert(
    pool: &Path,
    file: &mut File,
    path: &Path,
) -> Result<(String, u64, bool), BackupError> {
    let (sha1, bytes) =
        hash_reader::<Sha1>(file).map_err(|e| BackupError::io("reading", path, e))?;
    let target = pool_path(pool, &sha1);
    if target.is_file() {
        return Ok((sha1, bytes, false));
    }
    file.rewind()
        .map_err(|e| BackupError::io("reading", path, e))?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".in-")
        .tempfile_in(pool)
        .map_err(|e| BackupError::io("creating a file in", pool, e))?;
    // Hashed again while copied: what is stored is what is named.
    let mut hasher = Sha1::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(BackupError::io("reading", path, error)),
        };
        hasher.update(&buffer[..read]);
        temporary
            .write_all(&buffer[..read])
            .map_err(|e| BackupError::io("writing", temporary.path(), e))?;
        copied += read as u64;
    }
    let sha1 = hex::encode(hasher.finalize());
    let target = pool_path(pool, &sha1);
    let shard = target.parent().expect("a pool path has a shard");
    fs::create_dir_all(shard).map_err(|e| BackupError::io("creating", shard, e))?;
    fs::set_permissions(temporary.path(), fs::Permissions::from_mode(0o400))
        .map_err(|e| BackupError::io("chmod", temporary.path(), e))?;
    match temporary.persist_noclobber(&target) {
        Ok(_) => Ok((sha1, copied, true)),
        // Pooled meanwhile by another backup of the project: the same content.
        Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists => {
            Ok((sha1, copied, false))
        }
        Err(error) => Err(BackupError::io("adding to the pool", target, error.error)),
    }
}

/// The hex digest and size of what `reader` holds.
pub(crate) fn hash_reader<D: Digest>(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = D::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut total = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

pub(crate) fn sha256_of(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = File::open(path).map_err(|e| BackupError::io("reading", path, e))?;
    let (sha, bytes) =
        hash_reader::<Sha256>(&mut file).map_err(|e| BackupError::io("reading", path, e))?;
    Ok((bytes, sha))
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| BackupError::io("writing", path, e))?;
    file.write_all(bytes)
        .map_err(|e| BackupError::io("writing", path, e))
}

/// Everything written on the backup's filesystem reaches the disk before the
/// backup is renamed into place (one `syncfs`, not one fsync per file).
fn sync_filesystem(dir: &Path) -> Result<(), BackupError> {
    let handle = File::open(dir).map_err(|e| BackupError::io("opening", dir, e))?;
    // SAFETY: a valid open descriptor.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
        return Err(BackupError::io("syncing", dir, io::Error::last_os_error()));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| BackupError::io("syncing", dir, e))
}
