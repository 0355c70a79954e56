//! Backups of production, each a directory standard tools restore:
//! `database.dump` (`pg_dump --format=custom`), `filestore/` and
//! `manifest.json` (Odoo's series, the modules with their checksums, row
//! counts of the main tables, sizes, a checksum of every file). The dump and
//! the filestore come from one database snapshot. A backup is written aside
//! and renamed into place when complete; filestore files are stored once per
//! project, by content, across backups ([`store`]).
//!
//! Verification restores a backup into a scratch database and compares it
//! with its manifest ([`verify`]); a restore refuses a damaged backup or one
//! of another Odoo series ([`restore`]); [`retention`] says which backups go;
//! [`zip_import`] checks and unpacks an Odoo database-manager zip, which
//! [`import`] turns into a backup.

mod beneath;
mod create;
mod error;
mod export;
mod import;
pub mod manifest;
mod restore;
pub mod retention;
mod store;
mod tools;
mod verify;
pub mod zip_import;

pub use create::{create, BackupSource, MAIN_TABLES};
pub use error::BackupError;
pub use export::export_zip;
pub use import::{import, ImportSource};
pub use manifest::{BackupManifest, BackupOrigin};
pub use restore::{refuse_other_series, restore, RestoreTarget};
pub use retention::{BackupKind, RetentionPolicy, StoredBackup, Verification};
pub use store::{Backup, BackupStore, ProjectBackups};
pub use verify::{check_files, verify, Verified};
