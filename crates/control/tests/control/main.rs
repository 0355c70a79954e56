//! The control database against a real PostgreSQL: one embedded cluster for the
//! binary, one database per test.

mod accounts;
mod branches;
mod builds;
mod common;
mod deployments;
mod migrations;
mod projects;
mod queue;
mod reports;
mod serving;
