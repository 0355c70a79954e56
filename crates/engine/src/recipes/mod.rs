//! The two recipes of a build, each a short sequence of [`crate::steps`]:
//! a development build (new database with demo data, install, tests) and a
//! deployment (production and staging: a database carried forward, updated).

pub(crate) mod deployment;
pub(crate) mod development;
