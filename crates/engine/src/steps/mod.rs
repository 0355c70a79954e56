//! The steps a build is made of, one file each. The recipes
//! ([`crate::recipes`]) put them in order; a step does one thing and records
//! everything it creates in the build's resources before creating it.
//!
//! A step the repository itself can fail (a missing dependency, requirements
//! pip cannot install) answers `Ok(None)` and has recorded why in the report:
//! that is a red build, not an error of slipway's.

pub(crate) mod code;
pub(crate) mod database;
pub(crate) mod keep;
pub(crate) mod neutralize;
pub(crate) mod odoo_run;
pub(crate) mod odoo_sources;
pub(crate) mod requirements;
pub(crate) mod template;
pub(crate) mod update_plan;
pub(crate) mod verdict;
