//! The web UI, the API's rules and the proxy's access, in-process against a
//! real PostgreSQL: every page, every role rule, and the bad input each
//! should survive. (Real Odoo and a real browser are the end-to-end tests'.)

mod backups;
mod common;
mod credentials;
mod limits;
mod live;
mod mails;
mod odoo_sources;
mod pages;
mod proxy;
mod queueing;
mod roles;
