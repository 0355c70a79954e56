//! A network of its own for every build: a network namespace joined to the
//! host by a veth pair, and one nftables table that says what crosses it.
//!
//! From inside, a build reaches its own loopback, PostgreSQL through the
//! socket mounted into its sandbox (no network needed), slipway's mail catcher
//! when it is given mail ([`BuildNetwork::set_mail`]), and — only when it is
//! given egress ([`Egress::Internet`]: production, and the step installing
//! Python requirements) — the world outside the host. Never the host's own
//! services (slipway's API, PostgreSQL over TCP, anything on the loopback) and
//! never another build. From the host, only root (slipway's proxy, which
//! applies the roles) opens connections to a build: no port on the loopback
//! that any local process could open.
//!
//! The plumbing is the kernel's, driven by iproute2 (`ip`) and nftables
//! (`nft`), as an administrator would: nothing stays in slipway's memory, so a
//! restarted slipway finds its builds' networks where they were.

mod command;
mod error;
mod firewall;
mod namespace;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::NetworkError;
pub use namespace::{BuildNetwork, Egress, Plumbing};
