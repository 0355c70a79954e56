//! `manifest.json` of a backup: what it holds and how to check it. Written
//! last, inside the backup's directory before the directory is renamed into
//! place: a backup without a readable manifest is no backup.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::retention::BackupKind;

/// The format of the manifest; a newer one is refused by older slipways.
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    pub format: u32,
    pub id: String,
    pub kind: BackupKind,
    /// RFC 3339, UTC: the moment of the database snapshot (the filestore
    /// files are those the snapshot references).
    pub created_at: String,
    /// The database the backup was taken of.
    pub source_database: String,
    /// The Odoo series, read from the `base` module (`14.0`).
    pub series: String,
    /// What ran the database, as the caller knows it (the build, its commit,
    /// its Odoo sources); informative.
    pub origin: BackupOrigin,
    /// `"15.0"` for a PostgreSQL 15 server.
    pub pg_version: String,
    pub database: DatabaseFile,
    /// Installed modules: their version and, where OCA's
    /// `module_auto_update` checksums are kept, their checksum.
    pub modules: BTreeMap<String, ModuleState>,
    /// Row counts of Odoo's main tables (those that exist), in the snapshot.
    pub rows: BTreeMap<String, i64>,
    pub filestore: FilestoreSummary,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupOrigin {
    pub build: Option<i64>,
    pub commit: Option<String>,
    /// `name commit` of each Odoo source (credentials never: the caller gives
    /// names and commits only).
    pub odoo_sources: Vec<String>,
    /// For an import: the name of the uploaded file.
    pub imported_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseFile {
    /// `database.dump`, pg_dump's custom format.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleState {
    pub version: Option<String>,
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilestoreSummary {
    pub files: u64,
    pub bytes: u64,
    /// Of those bytes, how many this backup added to the project's store
    /// (the rest were there already, from earlier backups).
    pub new_bytes: u64,
    /// Relative path (`ab/abcdef…`) → SHA-1 of its content.
    pub checksums: BTreeMap<String, String>,
    /// Files the database references that were not in the filestore (missing
    /// at the source already; Odoo logs an error reading them).
    pub missing: Vec<String>,
}

impl BackupManifest {
    /// Database plus filestore, as restored.
    pub fn size_bytes(&self) -> u64 {
        self.database.bytes + self.filestore.bytes
    }

    /// What the backup added to the disk: its database file and its new
    /// filestore content.
    pub fn stored_bytes(&self) -> u64 {
        self.database.bytes + self.filestore.new_bytes
    }
}
