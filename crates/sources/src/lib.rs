//! The git repositories a build takes Odoo from: Odoo itself (community, or a
//! fork such as OCA/OCB), enterprise, and more addon repositories, each at an
//! exact commit.
//!
//! A repository address gets one bare mirror ([`Mirrors`]), shared by every
//! project that uses it; a revision is resolved to a commit there, fetching
//! only what the mirror lacks; a commit gets one read-only tree ([`Trees`]),
//! shared by every build that runs it. Credentials of an address reach git
//! through its environment only ([`Remote`]): never a command line, a config
//! file, a log or an error.

mod error;
mod mirror;
mod remote;
mod spec;
mod tree;

pub use error::SourceError;
pub use mirror::{resolve_remote, Mirrors, Resolved};
pub use remote::Remote;
pub use spec::{check_unique, SourceKind, SourceSpec};
pub use tree::Trees;

#[cfg(feature = "test-support")]
pub mod test_support;
