//! Odoo database-manager zips, checked and unpacked.
//!
//! The zip is what Odoo's `/web/database/backup` (format zip), Odoo.sh and
//! Odoo Online hand out, and what slipway's own dumps are: `dump.sql` (plain
//! SQL), `manifest.json`, and the filestore's files under `filestore/`. It
//! comes from a user's upload, so it is untrusted: every entry is checked
//! against the central directory before anything is written, and the real
//! bytes are counted while inflating, since headers can lie.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// Bounds on what an uploaded zip may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Total bytes of `dump.sql` and the filestore, declared and actual.
    pub max_bytes: u64,
    /// Entries in the central directory, directories and skipped ones
    /// included: each costs memory and a file.
    pub max_entries: u64,
    /// Largest uncompressed/compressed ratio of an entry above 1 MiB; deflate
    /// tops out near 1032:1, so a higher ratio is a crafted entry.
    pub max_ratio: u64,
}

impl Default for UnpackLimits {
    /// 64 GiB, 2 000 000 entries, 1000:1: above the largest real databases,
    /// far below what fills a disk.
    fn default() -> Self {
        UnpackLimits {
            max_bytes: 64 << 30,
            max_entries: 2_000_000,
            max_ratio: 1000,
        }
    }
}

/// What the zip's manifest.json says (only what slipway needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipManifest {
    /// `major_version`, e.g. `"14.0"`; `"saas~17.2"` style kept as is.
    pub series: String,
    pub db_name: Option<String>,
    /// The PostgreSQL the dump came from, `"15.0"` for 15.x.
    pub pg_version: Option<String>,
    /// Installed modules and their version (null when unknown).
    pub modules: BTreeMap<String, Option<String>>,
}

/// A zip unpacked: `dump.sql` and the filestore, ready to restore.
#[derive(Debug)]
pub struct UnpackedZip {
    pub manifest: ZipManifest,
    /// `<into>/dump.sql`.
    pub sql: PathBuf,
    /// `<into>/filestore`, created even if the zip holds no file for it.
    pub filestore: PathBuf,
    /// Filestore files written.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What to give instead, said by most errors.
const GIVE_ZIP: &str = "give a zip made by Odoo's database manager (Backup, format zip)";

/// Why a zip is not imported. `zip` is the zip's file name.
#[derive(Debug, thiserror::Error)]
pub enum ZipImportError {
    #[error("{zip} is not a zip archive: {reason} — {GIVE_ZIP}")]
    NotAZip { zip: String, reason: String },

    #[error(
        "{zip} has no dump.sql at its top level, so it is not an Odoo database dump — {GIVE_ZIP}"
    )]
    NoDumpSql { zip: String },

    #[error(
        "{zip} has no manifest.json at its top level, which Odoo's database manager always \
         writes — {GIVE_ZIP}"
    )]
    NoManifest { zip: String },

    #[error(
        "{zip}'s manifest.json is unusable: {reason} — give the zip as Odoo's database manager \
         wrote it, unchanged"
    )]
    BadManifest { zip: String, reason: String },

    #[error(
        "{zip} holds an Odoo {found} database; this project runs {expected}{} — import a backup \
         of an Odoo {expected} database, or upgrade the database to {expected} first",
        series_note(.found, .expected)
    )]
    WrongSeries {
        zip: String,
        found: String,
        expected: String,
    },

    #[error(
        "{zip} holds an entry named {entry:?}, which is unsafe to unpack ({reason}) — {GIVE_ZIP}"
    )]
    UnsafeEntry {
        zip: String,
        entry: String,
        reason: &'static str,
    },

    #[error(
        "{zip} holds a symbolic link, {entry:?}; Odoo's zips hold none and slipway unpacks no \
         links — {GIVE_ZIP}"
    )]
    Symlink { zip: String, entry: String },

    #[error(
        "{zip}'s entry {entry:?} is encrypted, and slipway imports no encrypted zip — give the \
         zip unencrypted, as Odoo's database manager writes it"
    )]
    Encrypted { zip: String, entry: String },

    #[error(
        "{zip}'s entry {entry:?} is compressed with {method}, which slipway does not read (only \
         stored and deflated entries, as Odoo writes them) — {GIVE_ZIP}"
    )]
    UnsupportedCompression {
        zip: String,
        entry: String,
        method: String,
    },

    #[error(
        "{zip} holds {entries} entries, more than the {limit} allowed; refused as a likely zip \
         bomb — if the filestore really has that many files, raise the import's entry limit"
    )]
    TooManyEntries {
        zip: String,
        entries: u64,
        limit: u64,
    },

    #[error(
        "{zip} unpacks to at least {}, more than the {} allowed; refused — if the database \
         really is that large, raise the import's size limit",
        Size(*.bytes),
        Size(*.limit)
    )]
    TooLarge { zip: String, bytes: u64, limit: u64 },

    #[error(
        "{zip}'s entry {entry:?} inflates {} to {} (more than {limit}:1); refused as a likely \
         zip bomb — {GIVE_ZIP}",
        Size(*.compressed),
        Size(*.size)
    )]
    Ratio {
        zip: String,
        entry: String,
        size: u64,
        compressed: u64,
        limit: u64,
    },

    #[error(
        "{zip}'s entry {entry:?} inflates to more than the {declared} bytes its header declares: \
         the zip is corrupt or crafted — make the backup again"
    )]
    LargerThanDeclared {
        zip: String,
        entry: String,
        declared: u64,
    },

    #[error("{zip} is damaged: {reason} — download it or make the backup again")]
    Corrupt { zip: String, reason: String },

    #[error(
        "no space left in {} while unpacking {zip} — free at least {} there and retry",
        .dir.display(),
        Size(*.needed)
    )]
    DiskFull {
        zip: String,
        dir: PathBuf,
        /// What the zip unpacks to, all told.
        needed: u64,
    },

    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Said when the series differ only by being a SaaS release of the same major.
fn series_note(found: &str, expected: &str) -> String {
    let major = |series: &str| {
        let series = series.strip_prefix("saas~").unwrap_or(series);
        series.split('.').next().unwrap_or(series).to_string()
    };
    if major(found) == major(expected) {
        format!(" ({found} and {expected} are different series)")
    } else {
        String::new()
    }
}

/// Bytes for people: `200.0 MiB`.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        if self.0 < 1024 {
            return write!(f, "{} bytes", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

/// The ratio check leaves small entries alone: a 1 MiB bomb is no bomb.
const RATIO_FLOOR: u64 = 1 << 20;
/// Odoo's manifest is a few KiB; more is not a manifest.
const MANIFEST_MAX: u64 = 16 << 20;
/// Copy buffer: memory stays bounded whatever the entry's size.
const CHUNK: usize = 256 * 1024;
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFDIR: u32 = 0o040_000;

/// Where an entry goes.
#[derive(Debug)]
enum Kind {
    /// A directory entry: directories are made as files need them.
    Dir,
    Sql,
    Manifest,
    /// A filestore file, by its path under `filestore/`.
    Filestore(String),
    /// Another top-level entry: Odoo's restore ignores those, so do we.
    Other,
}

/// An entry to write.
struct Planned {
    index: usize,
    name: String,
    /// Its path under `into`'s `filestore`, or `None` for `dump.sql`.
    filestore: Option<String>,
    size: u64,
}

/// What the check of the central directory found.
struct Plan {
    manifest: ZipManifest,
    entries: Vec<Planned>,
    /// Declared bytes of the planned entries.
    bytes: u64,
}

type Archive = ZipArchive<BufReader<File>>;

/// Checks `zip` (an Odoo database-manager zip) and unpacks it into `into`
/// (an existing empty directory). `series`: the project's Odoo series; a zip
/// of another series is refused. Everything is checked against the central
/// directory BEFORE anything is written (names, sizes, counts, dump.sql and
/// manifest.json present, manifest readable, series), then entries are
/// written with the real bytes counted while inflating (headers can lie):
/// more than an entry declares, or than the limits, stops with an error. On
/// error, `into` is left empty (whatever was unpacked removed).
pub fn unpack(
    zip: &Path,
    series: &str,
    into: &Path,
    limits: &UnpackLimits,
) -> Result<UnpackedZip, ZipImportError> {
    let name = zip_name(zip);
    let file = File::open(zip).map_err(|source| ZipImportError::Io {
        action: "open",
        path: zip.to_path_buf(),
        source,
    })?;
    let mut archive = match ZipArchive::new(BufReader::with_capacity(64 * 1024, file)) {
        Ok(archive) => archive,
        Err(ZipError::Io(source)) if !is_data_error(&source) => {
            return Err(ZipImportError::Io {
                action: "read",
                path: zip.to_path_buf(),
                source,
            })
        }
        Err(error) => {
            return Err(ZipImportError::NotAZip {
                reason: not_a_zip_reason(zip, &error),
                zip: name,
            })
        }
    };
    let plan = check(&mut archive, &name, zip, series, limits)?;

    let mut created = Created::default();
    match write(&mut archive, &plan, &name, zip, into, limits, &mut created) {
        Ok((files, bytes)) => {
            tracing::debug!(zip = %zip.display(), files, bytes, "zip unpacked");
            Ok(UnpackedZip {
                manifest: plan.manifest,
                sql: into.join("dump.sql"),
                filestore: into.join("filestore"),
                files,
                bytes,
            })
        }
        Err(error) => {
            created.remove(into);
            Err(error)
        }
    }
}

/// The central directory, checked; the manifest read. Nothing is written.
fn check(
    archive: &mut Archive,
    name: &str,
    zip: &Path,
    series: &str,
    limits: &UnpackLimits,
) -> Result<Plan, ZipImportError> {
    let count = archive.len() as u64;
    if count > limits.max_entries {
        return Err(ZipImportError::TooManyEntries {
            zip: name.to_string(),
            entries: count,
            limit: limits.max_entries,
        });
    }
    // The zip crate keeps one entry per name: a second one would be
    // unchecked and unwritten, or written over the first.
    if archive.has_duplicate_names() {
        return Err(ZipImportError::Corrupt {
            zip: name.to_string(),
            reason: "two entries have the same name".to_string(),
        });
    }

    let mut entries = Vec::new();
    let mut bytes: u64 = 0;
    let mut sql = false;
    let mut manifest_index = None;
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).map_err(|error| {
            zip_error(
                name,
                zip,
                format!("entry {index} of the central directory"),
                error,
            )
        })?;
        let raw = entry.name_raw();
        let entry_name = String::from_utf8_lossy(raw).into_owned();
        let mode = entry.unix_mode().map(|mode| mode & S_IFMT);
        if mode == Some(S_IFLNK) {
            return Err(ZipImportError::Symlink {
                zip: name.to_string(),
                entry: entry_name,
            });
        }
        let kind =
            classify(raw, mode == Some(S_IFDIR)).map_err(|reason| ZipImportError::UnsafeEntry {
                zip: name.to_string(),
                entry: entry_name.clone(),
                reason,
            })?;
        if matches!(kind, Kind::Dir) {
            continue;
        }
        if entry.encrypted() {
            return Err(ZipImportError::Encrypted {
                zip: name.to_string(),
                entry: entry_name,
            });
        }
        if matches!(kind, Kind::Other) {
            tracing::debug!(zip = %zip.display(), entry = %entry_name, "unknown entry skipped");
            continue;
        }
        let method = entry.compression();
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(ZipImportError::UnsupportedCompression {
                zip: name.to_string(),
                entry: entry_name,
                method: method.to_string(),
            });
        }
        let (size, compressed) = (entry.size(), entry.compressed_size());
        if size > RATIO_FLOOR && size / compressed.max(1) >= limits.max_ratio.saturating_add(1) {
            return Err(ZipImportError::Ratio {
                zip: name.to_string(),
                entry: entry_name,
                size,
                compressed,
                limit: limits.max_ratio,
            });
        }
        let filestore = match kind {
            Kind::Sql => {
                sql = true;
                None
            }
            Kind::Manifest => {
                manifest_index = Some(index);
                continue;
            }
            Kind::Filestore(path) => Some(path),
            Kind::Dir | Kind::Other => unreachable!("skipped above"),
        };
        bytes = bytes.saturating_add(size);
        if bytes > limits.max_bytes {
            return Err(ZipImportError::TooLarge {
                zip: name.to_string(),
                bytes,
                limit: limits.max_bytes,
            });
        }
        entries.push(Planned {
            index,
            name: entry_name,
            filestore,
            size,
        });
    }
    if !sql {
        return Err(ZipImportError::NoDumpSql {
            zip: name.to_string(),
        });
    }
    let Some(manifest_index) = manifest_index else {
        return Err(ZipImportError::NoManifest {
            zip: name.to_string(),
        });
    };
    check_tree(&entries, name)?;

    let manifest = read_manifest(archive, manifest_index, name, zip)?;
    if manifest.series.trim() != series.trim() {
        return Err(ZipImportError::WrongSeries {
            zip: name.to_string(),
            found: manifest.series,
            expected: series.trim().to_string(),
        });
    }
    Ok(Plan {
        manifest,
        entries,
        bytes,
    })
}

/// An entry's kind, or why its name is unsafe. `dir_mode`: its unix mode
/// says directory.
fn classify(raw: &[u8], dir_mode: bool) -> Result<Kind, &'static str> {
    let Ok(name) = std::str::from_utf8(raw) else {
        return Err("the name is not UTF-8");
    };
    if name.is_empty() {
        return Err("an empty name");
    }
    if name.contains('\0') {
        return Err("a NUL byte in the name");
    }
    if name.contains('\\') {
        return Err("a backslash in the name");
    }
    if name.starts_with('/') {
        return Err("an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err("a drive letter");
    }
    let is_dir = name.ends_with('/') || dir_mode;
    let path = name.strip_suffix('/').unwrap_or(name);
    // Only plain components: `..` escapes, and `.` or `//` would let two
    // names reach one file.
    for component in path.split('/') {
        match component {
            ".." => return Err("a `..` component"),
            "." => return Err("a `.` component"),
            "" => return Err("an empty component"),
            _ => {}
        }
    }
    if is_dir {
        return Ok(Kind::Dir);
    }
    Ok(match path.split_once('/') {
        None if path == "dump.sql" => Kind::Sql,
        None if path == "manifest.json" => Kind::Manifest,
        Some(("filestore", rest)) => Kind::Filestore(rest.to_string()),
        _ => Kind::Other,
    })
}

/// Refuses a filestore path that is both a file and another file's
/// directory: one of them could not be written.
fn check_tree(entries: &[Planned], name: &str) -> Result<(), ZipImportError> {
    let files: HashSet<&str> = entries
        .iter()
        .filter_map(|entry| entry.filestore.as_deref())
        .collect();
    for path in &files {
        for (at, _) in path.match_indices('/') {
            let parent = &path[..at];
            if files.contains(parent) {
                return Err(ZipImportError::Corrupt {
                    zip: name.to_string(),
                    reason: format!("filestore/{parent} is both a file and a directory"),
                });
            }
        }
    }
    Ok(())
}

fn read_manifest(
    archive: &mut Archive,
    index: usize,
    name: &str,
    zip: &Path,
) -> Result<ZipManifest, ZipImportError> {
    let bad = |reason: String| ZipImportError::BadManifest {
        zip: name.to_string(),
        reason,
    };
    let mut file = archive
        .by_index(index)
        .map_err(|error| zip_error(name, zip, "entry \"manifest.json\"".to_string(), error))?;
    if file.size() > MANIFEST_MAX {
        return Err(bad(format!(
            "it is {}, and Odoo's is a few KiB",
            Size(file.size())
        )));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MANIFEST_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| read_error(name, zip, "manifest.json", file.size(), error))?;
    drop(file);
    let json: Value =
        serde_json::from_slice(&bytes).map_err(|error| bad(format!("it is not JSON ({error})")))?;
    parse_manifest(&json).map_err(bad)
}

/// Only what slipway needs, as Odoo's `dump_db_manifest` writes it.
fn parse_manifest(json: &Value) -> Result<ZipManifest, String> {
    let Some(object) = json.as_object() else {
        return Err("it is not a JSON object".to_string());
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(other) => Err(format!("{key} is {other}, not a string")),
        }
    };
    let series = match text("major_version")? {
        Some(series) if !series.trim().is_empty() => series.trim().to_string(),
        // Without major_version, a version that is a series (`14.0`,
        // `saas~17.2`) says the same; `14.0rc1` or `17.0+e` is not trusted.
        _ => match text("version")? {
            Some(version) if looks_like_series(&version) => version,
            _ => {
                return Err(
                    "it has no major_version (the Odoo series, such as \"14.0\")".to_string(),
                )
            }
        },
    };
    let modules = match object.get("modules") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(modules)) => modules
            .iter()
            .map(|(module, version)| match version {
                Value::Null => Ok((module.clone(), None)),
                Value::String(version) => Ok((module.clone(), Some(version.clone()))),
                other => Err(format!("the version of module {module} is {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("modules is not an object".to_string()),
    };
    Ok(ZipManifest {
        series,
        db_name: text("db_name")?,
        pg_version: text("pg_version")?,
        modules,
    })
}

/// `14.0`, `saas~17.2`.
fn looks_like_series(version: &str) -> bool {
    let version = version.strip_prefix("saas~").unwrap_or(version);
    let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    matches!(version.split_once('.'), Some((major, minor)) if numeric(major) && numeric(minor))
}

/// What was created in `into`, to be removed on error.
#[derive(Default)]
struct Created {
    sql: bool,
    filestore: bool,
}

impl Created {
    /// Leaves `into` as it was; only what create_new made is ours to remove.
    fn remove(&self, into: &Path) {
        if self.sql {
            let path = into.join("dump.sql");
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "could not remove a partly unpacked file");
            }
        }
        if self.filestore {
            let path = into.join("filestore");
            if let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), %error, "could not remove a partly unpacked filestore");
            }
        }
    }
}

/// Writes the planned entries; the filestore's files and bytes.
fn write(
    archive: &mut Archive,
    plan: &Plan,
    name: &str,
    zip: &Path,
    into: &Path,
    limits: &UnpackLimits,
    created: &mut Created,
) -> Result<(u64, u64), ZipImportError> {
    let io_error = |action: &'static str, path: &Path, source: io::Error| {
        if is_disk_full(&source) {
            ZipImportError::DiskFull {
                zip: name.to_string(),
                dir: into.to_path_buf(),
                needed: plan.bytes,
            }
        } else {
            ZipImportError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut dirs = DirBuilder::new();
    dirs.mode(0o700);
    let filestore = into.join("filestore");
    dirs.create(&filestore)
        .map_err(|e| io_error("create", &filestore, e))?;
    created.filestore = true;
    let mut made: HashSet<String> = HashSet::new();

    let mut buffer = vec![0; CHUNK];
    let mut total: u64 = 0;
    let (mut files, mut bytes) = (0, 0);
    for planned in &plan.entries {
        let path = match &planned.filestore {
            None => into.join("dump.sql"),
            Some(relative) => {
                // Parents one level at a time, each made here: none existed.
                for (at, _) in relative.match_indices('/') {
                    let parent = &relative[..at];
                    if !made.contains(parent) {
                        let dir = filestore.join(parent);
                        dirs.create(&dir).map_err(|e| io_error("create", &dir, e))?;
                        made.insert(parent.to_string());
                    }
                }
                filestore.join(relative)
            }
        };
        // create_new: never over, nor through a symlink to, anything.
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| io_error("create", &path, e))?;
        if planned.filestore.is_none() {
            created.sql = true;
        }
        let mut entry = archive
            .by_index(planned.index)
            .map_err(|error| zip_error(name, zip, format!("entry {:?}", planned.name), error))?;
        let mut copied: u64 = 0;
        loop {
            let read = match entry.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read as u64,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(read_error(name, zip, &planned.name, planned.size, error))
                }
            };
            copied += read;
            total += read;
            // The zip crate stops at the declared size too; counted here
            // all the same, as the limits are ours.
            if copied > planned.size {
                return Err(ZipImportError::LargerThanDeclared {
                    zip: name.to_string(),
                    entry: planned.name.clone(),
                    declared: planned.size,
                });
            }
            if total > limits.max_bytes {
                return Err(ZipImportError::TooLarge {
                    zip: name.to_string(),
                    bytes: total,
                    limit: limits.max_bytes,
                });
            }
            out.write_all(&buffer[..read as usize])
                .map_err(|e| io_error("write", &path, e))?;
        }
        if copied < planned.size {
            return Err(ZipImportError::Corrupt {
                zip: name.to_string(),
                reason: format!(
                    "entry {:?} holds {copied} bytes where its header declares {}",
                    planned.name, planned.size
                ),
            });
        }
        if planned.filestore.is_some() {
            files += 1;
            bytes += copied;
        }
    }
    Ok((files, bytes))
}

/// The zip's file name, as the user knows it.
fn zip_name(zip: &Path) -> String {
    match zip.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => zip.display().to_string(),
    }
}

/// An error of the zip's content (rather than of reading the disk).
fn is_data_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT)
    )
}

/// A zip crate error about `what` (an entry): the disk's, or the zip's.
fn zip_error(name: &str, zip: &Path, what: String, error: ZipError) -> ZipImportError {
    match error {
        ZipError::Io(source) if !is_data_error(&source) => ZipImportError::Io {
            action: "read",
            path: zip.to_path_buf(),
            source,
        },
        error => ZipImportError::Corrupt {
            zip: name.to_string(),
            reason: format!("{what}: {error}"),
        },
    }
}

/// An error while inflating `entry`.
fn read_error(
    name: &str,
    zip: &Path,
    entry: &str,
    declared: u64,
    error: io::Error,
) -> ZipImportError {
    // The zip crate's own check of the declared size (see its Crc32Reader).
    if error
        .to_string()
        .contains("larger than its declared uncompressed size")
    {
        return ZipImportError::LargerThanDeclared {
            zip: name.to_string(),
            entry: entry.to_string(),
            declared,
        };
    }
    if is_data_error(&error) {
        ZipImportError::Corrupt {
            zip: name.to_string(),
            reason: format!("entry {entry:?}: {error}"),
        }
    } else {
        ZipImportError::Io {
            action: "read",
            path: zip.to_path_buf(),
            source: error,
        }
    }
}

/// What the file is instead, from its first bytes, for the user.
fn not_a_zip_reason(zip: &Path, error: &ZipError) -> String {
    let mut head = Vec::with_capacity(512);
    if let Ok(file) = File::open(zip) {
        let _ = file.take(512).read_to_end(&mut head);
    }
    if head.is_empty() {
        "the file is empty".to_string()
    } else if head.starts_with(b"PGDMP") {
        "it is a pg_dump custom-format file (a .dump), which is not accepted: it lacks the \
         filestore"
            .to_string()
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "it is gzip-compressed (a .gz or .tar.gz)".to_string()
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        "it is a tar archive".to_string()
    } else if head.starts_with(b"PK\x03\x04") {
        format!(
            "it starts as a zip but its central directory is unreadable ({error}); the file is \
             probably truncated"
        )
    } else if looks_textual(&head) {
        "it is a text file (a plain .sql dump is not accepted: it lacks the filestore)".to_string()
    } else {
        error.to_string()
    }
}

/// No control characters but whitespace; a character cut at the end of the
/// sample is forgiven.
fn looks_textual(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::OnceLock;

    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    use super::*;

    fn deflated() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    fn manifest(series: &str) -> Vec<u8> {
        serde_json::to_vec_pretty(&serde_json::json!({
            "odoo_dump": "1",
            "db_name": "acme",
            "version": series,
            "version_info": [14, 0, 0, "final", 0, ""],
            "major_version": series,
            "pg_version": "15.0",
            "modules": {"base": "14.0.1.3", "web": null},
        }))
        .unwrap()
    }

    const SQL: &[u8] = b"SET statement_timeout = 0;\nCREATE TABLE res_users (password varchar);\n";
    const FILE_A: &[u8] = b"first attachment";
    const FILE_B: &[u8] = b"second attachment, a bit longer";

    /// A zip of `entries`, in order, deflated.
    fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in entries {
            writer.start_file(*name, deflated()).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn odoo_entries(series: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("dump.sql".to_string(), SQL.to_vec()),
            ("manifest.json".to_string(), manifest(series)),
            (
                "filestore/3f/3f786850e387550fdab836ed7e6dc881de23001b".to_string(),
                FILE_A.to_vec(),
            ),
            (
                "filestore/89/89e6c98d92887913cadf06b2adb97f26cde4849b".to_string(),
                FILE_B.to_vec(),
            ),
        ]
    }

    fn as_refs(entries: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
        entries
            .iter()
            .map(|(name, content)| (name.as_str(), content.as_slice()))
            .collect()
    }

    /// A temporary directory holding `acme.zip` (of `bytes`) and an empty
    /// `into`.
    struct Setup {
        dir: tempfile::TempDir,
    }

    impl Setup {
        fn new(bytes: &[u8]) -> Setup {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("acme.zip"), bytes).unwrap();
            std::fs::create_dir(dir.path().join("into")).unwrap();
            Setup { dir }
        }

        fn zip(&self) -> PathBuf {
            self.dir.path().join("acme.zip")
        }

        fn dest(&self) -> PathBuf {
            self.dir.path().join("into")
        }

        fn unpack(&self, limits: &UnpackLimits) -> Result<UnpackedZip, ZipImportError> {
            unpack(&self.zip(), "14.0", &self.dest(), limits)
        }

        fn unpack_default(&self) -> Result<UnpackedZip, ZipImportError> {
            self.unpack(&UnpackLimits::default())
        }

        /// `into` is empty, and nothing was written beside it.
        fn assert_nothing_written(&self) {
            let left: Vec<_> = std::fs::read_dir(self.dest())
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            assert!(left.is_empty(), "left in into: {left:?}");
            let mut beside: Vec<_> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect();
            beside.sort();
            assert_eq!(beside, ["acme.zip", "into"]);
        }
    }

    /// Replaces every occurrence of `from` by `to` (same length) in `bytes`:
    /// a name or a field in both the local header and the central directory.
    fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
        assert_eq!(from.len(), to.len());
        let mut count = 0;
        let mut at = 0;
        while let Some(offset) = bytes[at..]
            .windows(from.len())
            .position(|window| window == from)
        {
            let start = at + offset;
            bytes[start..start + from.len()].copy_from_slice(to);
            at = start + from.len();
            count += 1;
        }
        count
    }

    #[test]
    fn a_valid_zip_unpacks() {
        let mut entries = odoo_entries("14.0");
        // Directory entries are ignored; Odoo writes none, other tools do.
        entries.insert(2, ("filestore/3f/".to_string(), Vec::new()));
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in &entries {
            if name.ends_with('/') {
                writer.add_directory(name.as_str(), deflated()).unwrap();
            } else {
                writer.start_file(name.as_str(), deflated()).unwrap();
                writer.write_all(content).unwrap();
            }
        }
        let setup = Setup::new(&writer.finish().unwrap().into_inner());

        let unpacked = setup.unpack_default().unwrap();

        assert_eq!(
            unpacked.manifest,
            ZipManifest {
                series: "14.0".to_string(),
                db_name: Some("acme".to_string()),
                pg_version: Some("15.0".to_string()),
                modules: BTreeMap::from([
                    ("base".to_string(), Some("14.0.1.3".to_string())),
                    ("web".to_string(), None),
                ]),
            }
        );
        assert_eq!(unpacked.sql, setup.dest().join("dump.sql"));
        assert_eq!(unpacked.filestore, setup.dest().join("filestore"));
        assert_eq!(unpacked.files, 2);
        assert_eq!(unpacked.bytes, (FILE_A.len() + FILE_B.len()) as u64);
        assert_eq!(std::fs::read(&unpacked.sql).unwrap(), SQL);
        let a = unpacked
            .filestore
            .join("3f/3f786850e387550fdab836ed7e6dc881de23001b");
        let b = unpacked
            .filestore
            .join("89/89e6c98d92887913cadf06b2adb97f26cde4849b");
        assert_eq!(std::fs::read(&a).unwrap(), FILE_A);
        assert_eq!(std::fs::read(&b).unwrap(), FILE_B);
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        for file in [&unpacked.sql, &a, &b] {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        for dir in [
            unpacked.filestore.clone(),
            unpacked.filestore.join("3f"),
            unpacked.filestore.join("89"),
        ] {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
        // manifest.json is read, not written.
        let mut top: Vec<_> = std::fs::read_dir(setup.dest())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["dump.sql", "filestore"]);
    }

    #[test]
    fn an_empty_filestore_is_created() {
        let setup = Setup::new(&zip_bytes(&[
            ("dump.sql", SQL),
            ("manifest.json", &manifest("14.0")),
        ]));
        let unpacked = setup.unpack_default().unwrap();
        assert!(unpacked.filestore.is_dir());
        assert_eq!((unpacked.files, unpacked.bytes), (0, 0));
    }

    #[test]
    fn a_text_file_is_not_a_zip() {
        let setup = Setup::new(b"-- PostgreSQL database dump\nSET client_encoding = 'UTF8';\n");
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::NotAZip { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with("acme.zip is not a zip archive: "),
            "{message}"
        );
        assert!(message.contains("text file"), "{message}");
        assert!(message.contains("Backup, format zip"), "{message}");
        setup.assert_nothing_written();
    }

    #[test]
    fn a_pg_dump_custom_file_is_not_a_zip() {
        let mut dump = b"PGDMP\x01\x0e\x00\x04\x08\x01\x01".to_vec();
        dump.extend_from_slice(&[0; 600]);
        let setup = Setup::new(&dump);
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::NotAZip { .. }), "{error:?}");
        assert!(error.to_string().contains(".dump"), "{error}");
    }

    #[test]
    fn a_truncated_zip_is_not_a_zip() {
        let entries = odoo_entries("14.0");
        let bytes = zip_bytes(&as_refs(&entries));
        let setup = Setup::new(&bytes[..bytes.len() / 2]);
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::NotAZip { .. }), "{error:?}");
        assert!(error.to_string().contains("truncated"), "{error}");
    }

    #[test]
    fn a_zip_without_dump_sql_is_refused() {
        let setup = Setup::new(&zip_bytes(&[
            ("manifest.json", &manifest("14.0")),
            ("filestore/aa/aa", b"x"),
        ]));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::NoDumpSql { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("acme.zip has no dump.sql"),
            "{error}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn a_zip_without_manifest_is_refused() {
        let setup = Setup::new(&zip_bytes(&[("dump.sql", SQL)]));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::NoManifest { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("manifest.json"), "{error}");
        setup.assert_nothing_written();
    }

    #[test]
    fn a_manifest_that_is_not_json_is_refused() {
        let setup = Setup::new(&zip_bytes(&[
            ("dump.sql", SQL),
            ("manifest.json", b"{not json"),
        ]));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::BadManifest { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("not JSON"), "{error}");
        setup.assert_nothing_written();
    }

    #[test]
    fn a_manifest_without_major_version_falls_back_to_a_series_like_version() {
        let setup = Setup::new(&zip_bytes(&[
            ("dump.sql", SQL),
            ("manifest.json", br#"{"version": "14.0"}"#),
        ]));
        let unpacked = setup.unpack_default().unwrap();
        assert_eq!(unpacked.manifest.series, "14.0");
        assert_eq!(unpacked.manifest.db_name, None);

        let setup = Setup::new(&zip_bytes(&[
            ("dump.sql", SQL),
            ("manifest.json", br#"{"version": "14.0+e", "db_name": "x"}"#),
        ]));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::BadManifest { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("major_version"), "{error}");
        setup.assert_nothing_written();
    }

    #[test]
    fn another_series_is_refused() {
        let entries = odoo_entries("16.0");
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::WrongSeries { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("acme.zip holds an Odoo 16.0 database; this project runs 14.0 — "),
            "{error}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn a_saas_release_is_another_series() {
        let entries = odoo_entries("saas~14.3");
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::WrongSeries { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("saas~14.3"), "{error}");
        assert!(error.to_string().contains("different series"), "{error}");

        let unpacked = unpack(
            &setup.zip(),
            "saas~14.3",
            &setup.dest(),
            &UnpackLimits::default(),
        )
        .unwrap();
        assert_eq!(unpacked.manifest.series, "saas~14.3");
    }

    fn assert_unsafe(name: &str) {
        let mut entries = odoo_entries("14.0");
        entries.push((name.to_string(), b"evil".to_vec()));
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        let error = setup.unpack_default().unwrap_err();
        match &error {
            ZipImportError::UnsafeEntry { zip, entry, .. } => {
                assert_eq!(zip, "acme.zip");
                assert_eq!(entry, name);
            }
            other => panic!("{name}: {other:?}"),
        }
        setup.assert_nothing_written();
    }

    #[test]
    fn parent_components_are_refused_and_nothing_written() {
        assert_unsafe("../evil");
        assert_unsafe("filestore/../../evil");
        assert_unsafe("filestore/aa/../../../evil");
    }

    #[test]
    fn absolute_and_odd_names_are_refused() {
        assert_unsafe("/abs");
        assert_unsafe("/tmp/evil");
        assert_unsafe("filestore\\..\\evil");
        assert_unsafe("filestore/aa//bb");
        assert_unsafe("filestore/./aa");
        assert_unsafe("C:/evil");
    }

    #[test]
    fn a_nul_in_a_name_is_refused() {
        // The zip crate writes any name; NUL is patched in afterwards.
        let mut entries = odoo_entries("14.0");
        entries.push(("filestore/aa/bXc".to_string(), b"x".to_vec()));
        let mut bytes = zip_bytes(&as_refs(&entries));
        assert_eq!(patch(&mut bytes, b"aa/bXc", b"aa/b\0c"), 2);
        let setup = Setup::new(&bytes);
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(error, ZipImportError::UnsafeEntry { .. }),
            "{error:?}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn a_symlink_is_refused() {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in odoo_entries("14.0") {
            writer.start_file(name, deflated()).unwrap();
            writer.write_all(&content).unwrap();
        }
        writer
            .add_symlink("filestore/aa/link", "/etc/passwd", deflated())
            .unwrap();
        let setup = Setup::new(&writer.finish().unwrap().into_inner());
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(&error, ZipImportError::Symlink { entry, .. } if entry == "filestore/aa/link"),
            "{error:?}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn an_encrypted_entry_is_refused() {
        use zip::unstable::write::FileOptionsExt;
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in odoo_entries("14.0") {
            writer.start_file(name, deflated()).unwrap();
            writer.write_all(&content).unwrap();
        }
        let options = deflated().with_deprecated_encryption(b"secret").unwrap();
        writer.start_file("filestore/aa/secret", options).unwrap();
        writer.write_all(b"hidden").unwrap();
        let setup = Setup::new(&writer.finish().unwrap().into_inner());
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(&error, ZipImportError::Encrypted { entry, .. } if entry == "filestore/aa/secret"),
            "{error:?}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn unknown_top_level_entries_are_skipped() {
        let mut entries = odoo_entries("14.0");
        entries.push(("README.txt".to_string(), b"hello".to_vec()));
        entries.push(("other/dump.sql".to_string(), b"not this one".to_vec()));
        entries.push(("filestore".to_string(), b"a file, not the dir".to_vec()));
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        let unpacked = setup.unpack_default().unwrap();
        assert_eq!(unpacked.files, 2);
        assert_eq!(std::fs::read(&unpacked.sql).unwrap(), SQL);
        assert!(unpacked.filestore.is_dir());
        assert!(!setup.dest().join("README.txt").exists());
        assert!(!setup.dest().join("other").exists());
    }

    #[test]
    fn too_many_entries_are_refused() {
        let entries = odoo_entries("14.0");
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        let limits = UnpackLimits {
            max_entries: 3,
            ..UnpackLimits::default()
        };
        let error = setup.unpack(&limits).unwrap_err();
        assert!(
            matches!(
                error,
                ZipImportError::TooManyEntries {
                    entries: 4,
                    limit: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut entries = odoo_entries("14.0");
        entries.push(("filestore/aa/one".to_string(), b"1".to_vec()));
        entries.push(("filestore/aa/two".to_string(), b"2".to_vec()));
        let mut bytes = zip_bytes(&as_refs(&entries));
        assert_eq!(
            patch(&mut bytes, b"filestore/aa/two", b"filestore/aa/one"),
            2
        );
        let setup = Setup::new(&bytes);
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::Corrupt { .. }), "{error:?}");
        assert!(error.to_string().contains("same name"), "{error}");
        setup.assert_nothing_written();
    }

    #[test]
    fn a_path_both_file_and_directory_is_refused() {
        let mut entries = odoo_entries("14.0");
        entries.push(("filestore/aa".to_string(), b"file".to_vec()));
        entries.push(("filestore/aa/bb".to_string(), b"under it".to_vec()));
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::Corrupt { .. }), "{error:?}");
        assert!(
            error.to_string().contains("filestore/aa is both"),
            "{error}"
        );
        setup.assert_nothing_written();
    }

    const BOMB_SIZE: u64 = 200 << 20;

    /// dump.sql, manifest.json, then 200 MiB of zeros deflated (~200 KiB),
    /// written once in chunks and shared by the tests.
    fn bomb() -> &'static [u8] {
        static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
        BOMB.get_or_init(|| {
            let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
            writer.start_file("dump.sql", deflated()).unwrap();
            writer.write_all(SQL).unwrap();
            writer.start_file("manifest.json", deflated()).unwrap();
            writer.write_all(&manifest("14.0")).unwrap();
            writer
                .start_file("filestore/00/zeros", deflated().large_file(false))
                .unwrap();
            let zeros = vec![0; 1 << 20];
            for _ in 0..BOMB_SIZE >> 20 {
                writer.write_all(&zeros).unwrap();
            }
            writer.finish().unwrap().into_inner()
        })
    }

    #[test]
    fn a_high_ratio_entry_is_refused_before_writing() {
        assert!(bomb().len() < 1 << 20, "{}", bomb().len());
        let setup = Setup::new(bomb());
        let limits = UnpackLimits {
            max_ratio: 100,
            ..UnpackLimits::default()
        };
        let error = setup.unpack(&limits).unwrap_err();
        match &error {
            ZipImportError::Ratio {
                entry, size, limit, ..
            } => {
                assert_eq!(entry, "filestore/00/zeros");
                assert_eq!(*size, BOMB_SIZE);
                assert_eq!(*limit, 100);
            }
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains("zip bomb"), "{error}");
        setup.assert_nothing_written();
    }

    #[test]
    fn more_than_max_bytes_is_refused_before_writing() {
        let setup = Setup::new(bomb());
        let limits = UnpackLimits {
            max_bytes: 10 << 20,
            max_ratio: 1_000_000,
            ..UnpackLimits::default()
        };
        let error = setup.unpack(&limits).unwrap_err();
        assert!(
            matches!(error, ZipImportError::TooLarge { limit, .. } if limit == 10 << 20),
            "{error:?}"
        );
        assert!(error.to_string().contains("10.0 MiB"), "{error}");
        setup.assert_nothing_written();
    }

    /// The zip with `filestore/cd/liar` (1000 `x`, deflated) declaring
    /// `declared` bytes in both its local header and the central directory.
    fn liar(declared: u32) -> Vec<u8> {
        let mut entries = odoo_entries("14.0");
        entries.push(("filestore/cd/liar".to_string(), vec![b'x'; 1000]));
        let mut bytes = zip_bytes(&as_refs(&entries));
        let real = 1000u32.to_le_bytes();
        let name = b"filestore/cd/liar";
        // Uncompressed size: 22 bytes into a local header, 24 into a
        // central directory header; the name follows at 30 and 46.
        let mut patched = 0;
        for (signature, size_at, name_at) in [(b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)] {
            let header = bytes
                .windows(name_at + name.len())
                .position(|w| &w[..4] == signature && &w[name_at..] == name)
                .unwrap();
            assert_eq!(bytes[header + size_at..header + size_at + 4], real);
            bytes[header + size_at..header + size_at + 4].copy_from_slice(&declared.to_le_bytes());
            patched += 1;
        }
        assert_eq!(patched, 2);
        bytes
    }

    #[test]
    fn an_entry_larger_than_declared_is_refused_and_into_left_empty() {
        // dump.sql and the first files are written before the liar is met.
        let setup = Setup::new(&liar(10));
        let error = setup.unpack_default().unwrap_err();
        assert!(
            matches!(
                &error,
                ZipImportError::LargerThanDeclared { entry, declared: 10, .. }
                    if entry == "filestore/cd/liar"
            ),
            "{error:?}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn an_entry_smaller_than_declared_is_refused() {
        let setup = Setup::new(&liar(2000));
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::Corrupt { .. }), "{error:?}");
        setup.assert_nothing_written();
    }

    #[test]
    fn a_damaged_entry_midway_leaves_into_empty() {
        // Stored, so a flipped byte of content fails the CRC, not inflating.
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in odoo_entries("14.0") {
            writer.start_file(name, deflated()).unwrap();
            writer.write_all(&content).unwrap();
        }
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        writer.start_file("filestore/ee/damaged", stored).unwrap();
        writer.write_all(b"0123456789 intact content").unwrap();
        let mut bytes = writer.finish().unwrap().into_inner();
        assert_eq!(
            patch(&mut bytes, b"0123456789 intact", b"0123456789 broken"),
            1
        );
        let setup = Setup::new(&bytes);
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::Corrupt { .. }), "{error:?}");
        assert!(
            error.to_string().contains("filestore/ee/damaged"),
            "{error}"
        );
        setup.assert_nothing_written();
    }

    #[test]
    fn an_existing_dump_sql_is_not_overwritten_nor_removed() {
        let entries = odoo_entries("14.0");
        let setup = Setup::new(&zip_bytes(&as_refs(&entries)));
        std::fs::write(setup.dest().join("dump.sql"), b"mine").unwrap();
        let error = setup.unpack_default().unwrap_err();
        assert!(matches!(error, ZipImportError::Io { .. }), "{error:?}");
        assert_eq!(
            std::fs::read(setup.dest().join("dump.sql")).unwrap(),
            b"mine"
        );
        assert!(!setup.dest().join("filestore").exists());
    }

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(Size(10).to_string(), "10 bytes");
        assert_eq!(Size(10 << 20).to_string(), "10.0 MiB");
        assert_eq!(Size(64 << 30).to_string(), "64.0 GiB");
    }
}
