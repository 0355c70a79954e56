//! The one nftables table of slipway: fixed rules, and sets of build
//! interfaces that say which build may reach what. A build's rights change by
//! adding its host-side interface to a set or taking it out; the rules never
//! change while builds run.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use crate::command::run;
use crate::NetworkError;

pub(crate) const TABLE: &str = "slipway";
/// The build networks' addresses: a /30 per build.
pub(crate) const BUILD_NETWORKS: &str = "10.88.0.0/16";
/// Host-side interfaces of build networks are named `slwh<index>`.
pub(crate) const INTERFACE_PREFIX: &str = "slwh";
/// Its presence says the table has these rules (bump with any change).
const VERSION_SET: &str = "rules_v2";

/// The rules. Everything not about build interfaces is accepted: the table
/// changes nothing for the host's other traffic.
fn ruleset() -> String {
    let builds = format!("\"{INTERFACE_PREFIX}*\"");
    format!(
        "table inet {TABLE} {{
  set {VERSION_SET} {{ type inet_service; }}
  # Interfaces whose build reaches the outside world (production, requirements).
  set egress {{ type ifname; }}
  # Interfaces whose build reaches slipway's mail catcher.
  set mail {{ type ifname; }}
  # Ports slipway's mail catchers listen on.
  set catcher {{ type inet_service; }}
  # Addresses a build without egress may still open TCP connections to
  # (a project's allow-list of integrations under test).
  set allowed {{ type ifname . ipv4_addr . inet_service; }}

  chain input {{
    type filter hook input priority filter; policy accept;
    iifname {builds} ct state established,related accept
    iifname @mail tcp dport @catcher accept
    # Nothing else of the host: not its API, not PostgreSQL, not the loopback.
    iifname {builds} drop
    # The catcher listens on every address; only builds and the host reach it.
    tcp dport @catcher iifname != \"lo\" drop
  }}

  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname {builds} ct state established,related accept
    # Nobody opens a connection into a build through the host.
    oifname {builds} drop
    # Egress: the world, not another build nor the cloud's metadata service.
    iifname @egress ip daddr != {{ {BUILD_NETWORKS}, 169.254.0.0/16 }} accept
    iifname . ip daddr . tcp dport @allowed ip daddr != {{ {BUILD_NETWORKS}, 169.254.0.0/16 }} accept
    iifname {builds} drop
  }}

  chain output {{
    type filter hook output priority filter; policy accept;
    oifname {builds} ct state established,related accept
    # Only root (slipway's proxy) opens connections to a build.
    oifname {builds} meta skuid != 0 drop
  }}

  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {BUILD_NETWORKS} oifname != {builds} masquerade
  }}
}}
"
    )
}

/// slipway's table in the host's nftables.
#[derive(Debug, Clone)]
pub(crate) struct Firewall {
    nft: PathBuf,
}

/// A set of the table that holds build interfaces or ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Set {
    Egress,
    Mail,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Egress => "egress",
            Set::Mail => "mail",
        }
    }
}

impl Firewall {
    /// Installs the table unless this version of it is there already (a
    /// running slipway's builds keep their rights across a restart).
    pub(crate) fn install(nft: PathBuf) -> Result<Firewall, NetworkError> {
        let firewall = Firewall { nft };
        let current = run(
            &firewall.nft,
            &["list", "set", "inet", TABLE, VERSION_SET],
            None,
        );
        if current.is_err() {
            // An older version of the table goes first: declaring the table
            // makes the deletion valid when there is none.
            let script = format!(
                "table inet {TABLE} {{}}\ndelete table inet {TABLE}\n{}",
                ruleset()
            );
            run(&firewall.nft, &["-f", "-"], Some(&script))?;
            tracing::info!(
                table = TABLE,
                "nftables rules of the build networks installed"
            );
        }
        Ok(firewall)
    }

    /// Puts `interface` in `set`, or takes it out.
    pub(crate) fn set_member(
        &self,
        set: Set,
        interface: &str,
        member: bool,
    ) -> Result<(), NetworkError> {
        let element = format!("{{ \"{interface}\" }}");
        let verb = if member { "add" } else { "delete" };
        match run(
            &self.nft,
            &[verb, "element", "inet", TABLE, set.name(), &element],
            None,
        ) {
            Ok(_) => Ok(()),
            // Taking out what is not in: nothing to do.
            Err(NetworkError::Refused { .. }) if !member => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Makes `targets` the addresses `interface` may reach beyond its rights
    /// (none: it reaches no address this way).
    pub(crate) fn set_allowed(
        &self,
        interface: &str,
        targets: &[SocketAddrV4],
    ) -> Result<(), NetworkError> {
        let element =
            |address: &Ipv4Addr, port: u16| format!("\"{interface}\" . {address} . {port}");
        let held: Vec<String> = self
            .allowed()?
            .into_iter()
            .filter(|(owner, _)| owner == interface)
            .map(|(_, target)| element(target.ip(), target.port()))
            .collect();
        let wanted: Vec<String> = targets
            .iter()
            .map(|target| element(target.ip(), target.port()))
            .collect();
        // One script, one transaction: never a moment with both or neither.
        let mut script = String::new();
        for (verb, elements) in [("delete", &held), ("add", &wanted)] {
            if !elements.is_empty() {
                script.push_str(&format!(
                    "{verb} element inet {TABLE} allowed {{ {} }}\n",
                    elements.join(", ")
                ));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        run(&self.nft, &["-f", "-"], Some(&script)).map(|_| ())
    }

    /// Every (interface, address) of the allow-list.
    pub(crate) fn allowed(&self) -> Result<Vec<(String, SocketAddrV4)>, NetworkError> {
        let listing = run(
            &self.nft,
            &["-j", "list", "set", "inet", TABLE, "allowed"],
            None,
        )?;
        let unreadable = |why: &str| NetworkError::Unreadable(format!("nft's allow-list: {why}"));
        let json: serde_json::Value =
            serde_json::from_str(&listing).map_err(|error| unreadable(&error.to_string()))?;
        let sets = json["nftables"]
            .as_array()
            .ok_or_else(|| unreadable("no nftables list"))?;
        let mut allowed = Vec::new();
        for element in sets
            .iter()
            .filter_map(|entry| entry["set"]["elem"].as_array())
            .flatten()
        {
            let parts = element["concat"]
                .as_array()
                .ok_or_else(|| unreadable("not a concatenation"))?;
            match parts.as_slice() {
                [interface, address, port] => {
                    let interface = interface.as_str().ok_or_else(|| unreadable("interface"))?;
                    let address: Ipv4Addr = address
                        .as_str()
                        .and_then(|text| text.parse().ok())
                        .ok_or_else(|| unreadable("address"))?;
                    let port = port
                        .as_u64()
                        .and_then(|port| u16::try_from(port).ok())
                        .ok_or_else(|| unreadable("port"))?;
                    allowed.push((interface.to_string(), SocketAddrV4::new(address, port)));
                }
                _ => return Err(unreadable("an element is not interface . address . port")),
            }
        }
        Ok(allowed)
    }

    /// Lets builds with mail reach a catcher listening on `port`, or no more.
    pub(crate) fn catcher_port(&self, port: u16, allowed: bool) -> Result<(), NetworkError> {
        let element = format!("{{ {port} }}");
        let verb = if allowed { "add" } else { "delete" };
        match run(
            &self.nft,
            &[verb, "element", "inet", TABLE, "catcher", &element],
            None,
        ) {
            Ok(_) => Ok(()),
            Err(NetworkError::Refused { .. }) if !allowed => Ok(()),
            Err(error) => Err(error),
        }
    }
}
