//! Odoo addons as slipway sees them: manifests, where addons live in a
//! repository, what installing some of them drags in, and content
//! checksums that tell whether a database needs an update.
//!
//! Everything here works on the files alone — no Python interpreter and no
//! Odoo import — so it can run before (and decide whether to start) any
//! Odoo process:
//!
//! - [`parse_manifest`] reads `__manifest__.py` with the exact grammar Odoo
//!   applies (`ast.literal_eval`), with errors that name the line.
//! - [`discover`] walks a checkout for addons; [`addons_paths`] derives the
//!   `--addons-path` entries.
//! - [`AddonIndex::closure`] resolves dependencies, reporting missing
//!   modules with the chain that requires them.
//! - [`addon_checksum`] is the checksum OCA's `module_auto_update` and
//!   `click-odoo-update` store in the database; [`tree_checksum`] is a fast
//!   content key for caches.

mod checksum;
mod dependencies;
mod discovery;
mod fnmatch;
mod lexer;
mod literal;
mod manifest;

pub use checksum::{
    addon_checksum, addon_hash, addon_hash_files, parse_exclude_patterns, tree_checksum,
    DEFAULT_EXCLUDE_PATTERNS,
};
pub use dependencies::{AddonIndex, DependencyError};
pub use discovery::{addons_paths, discover, Addon, DiscoveryError, MANIFEST_FILE};
pub use literal::{parse_literal, Position, Value, ValueKind};
pub use manifest::{
    parse_manifest, parse_manifest_bytes, ExternalDependencies, Manifest, ManifestError,
    ManifestErrorKind,
};
