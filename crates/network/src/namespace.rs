//! Build networks: a namespace `slipway-<name>` (at `/run/netns/`, where
//! iproute2 keeps them), a veth pair whose host side `slwh<index>` carries
//! the name as its alias, and a /30 of 10.88.0.0/16: `.1` the host, `.2` the
//! build.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use crate::command::{locate, run};
use crate::firewall::{Firewall, Set, INTERFACE_PREFIX};
use crate::NetworkError;

const NAMESPACE_PREFIX: &str = "slipway-";
const NAMESPACE_DIR: &str = "/run/netns";
/// Serializes the choice of an address between slipway processes of a host.
const ALLOCATION_LOCK: &str = "/run/slipway-networks.lock";
/// /30 blocks in 10.88.0.0/16.
const MAX_NETWORKS: u32 = 16_384;

/// What a build reaches beyond the host's mail catcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// Nothing outside its own network (development, staging).
    None,
    /// The world outside the host (production; installing requirements).
    Internet,
}

/// The build networks of this host.
#[derive(Debug, Clone)]
pub struct Plumbing {
    ip: PathBuf,
    firewall: Firewall,
}

/// One build's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildNetwork {
    /// The build's name (its engine id).
    pub name: String,
    /// The namespace, to join (`setns`) before starting the sandbox.
    pub namespace: PathBuf,
    /// The host's address on the build's link: where the build reaches the
    /// mail catcher.
    pub host_address: Ipv4Addr,
    /// The build's own address: where the proxy reaches its Odoo.
    pub build_address: Ipv4Addr,
    interface: String,
}

impl Plumbing {
    /// Checks the tools and rights, and installs the firewall's rules (kept
    /// when they are there: builds keep their networks across a restart).
    /// IP forwarding is turned on for builds with egress.
    pub fn start() -> Result<Plumbing, NetworkError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(NetworkError::NeedsRoot);
        }
        let ip = locate("ip", "iproute2")?;
        let nft = locate("nft", "nftables")?;
        let firewall = Firewall::install(nft)?;
        // The address of a build that is gone is unreachable from the host,
        // at once: never sent on to the default route. Each network's /30 is
        // more specific, so its build stays reachable.
        run(
            &ip,
            &[
                "route",
                "replace",
                "unreachable",
                crate::firewall::BUILD_NETWORKS,
            ],
            None,
        )?;
        let forwarding = Path::new("/proc/sys/net/ipv4/ip_forward");
        if std::fs::read_to_string(forwarding).is_ok_and(|value| value.trim() != "1") {
            std::fs::write(forwarding, "1").map_err(|source| NetworkError::Io {
                action: "turning on IP forwarding (builds with egress are routed)".into(),
                source,
            })?;
            tracing::info!("IP forwarding turned on for the build networks' egress");
        }
        Ok(Plumbing { ip, firewall })
    }

    /// Makes the network of build `name`, reaching what `egress` says.
    pub fn create(&self, name: &str, egress: Egress) -> Result<BuildNetwork, NetworkError> {
        validate(name)?;
        // Left by a crash: started again from nothing.
        self.remove(name)?;
        let _lock = lock()?;
        let index = self.free_index()?;
        let network = BuildNetwork::at(name, index);
        if let Err(error) = self.plumb(&network) {
            let _ = self.remove(name);
            return Err(error);
        }
        // The interface's name may have served a network removed without
        // its rights taken back (a crash between the two): set them afresh.
        network.set_egress(self, egress)?;
        network.set_mail(self, false)?;
        network.set_allowed(self, &[])?;
        tracing::debug!(network = %network.name, address = %network.build_address, "build network made");
        Ok(network)
    }

    /// The network of build `name`, if it exists (after a restart).
    pub fn find(&self, name: &str) -> Result<Option<BuildNetwork>, NetworkError> {
        validate(name)?;
        Ok(self
            .interfaces()?
            .into_iter()
            .find(|(_, alias)| alias == &namespace_of(name))
            .map(|(index, _)| BuildNetwork::at(name, index)))
    }

    /// The names of the build networks that exist.
    pub fn names(&self) -> Result<Vec<String>, NetworkError> {
        let mut names: Vec<String> = match std::fs::read_dir(NAMESPACE_DIR) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|entry| {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    file.strip_prefix(NAMESPACE_PREFIX).map(str::to_string)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        Ok(names)
    }

    /// Removes the network of build `name`, if there is one: its namespace
    /// (the veth pair goes with it) and its rights.
    pub fn remove(&self, name: &str) -> Result<(), NetworkError> {
        validate(name)?;
        if let Some(network) = self.find(name)? {
            for set in [Set::Egress, Set::Mail] {
                self.firewall.set_member(set, &network.interface, false)?;
            }
            self.firewall.set_allowed(&network.interface, &[])?;
            // A namespace whose processes still run keeps its link: gone too.
            let _ = run(&self.ip, &["link", "delete", &network.interface], None);
        }
        if Path::new(NAMESPACE_DIR).join(namespace_of(name)).exists() {
            run(&self.ip, &["netns", "delete", &namespace_of(name)], None)?;
        }
        Ok(())
    }

    /// Lets builds with mail reach a catcher listening on `port` (on every
    /// address of the host; only builds and the host itself reach it).
    pub fn allow_catcher_port(&self, port: u16) -> Result<(), NetworkError> {
        self.firewall.catcher_port(port, true)
    }

    /// The catcher on `port` stopped: nothing may reach that port any more
    /// (another program may take it).
    pub fn forbid_catcher_port(&self, port: u16) -> Result<(), NetworkError> {
        self.firewall.catcher_port(port, false)
    }

    /// The host side of each build network: (index, alias).
    fn interfaces(&self) -> Result<Vec<(u32, String)>, NetworkError> {
        let listing = run(&self.ip, &["-o", "link", "show"], None)?;
        Ok(listing
            .lines()
            .filter_map(|line| {
                // "12: slwh3@if2: <...> ... alias slipway-s1a1"
                let name = line.split(": ").nth(1)?.split('@').next()?;
                let index = name.strip_prefix(INTERFACE_PREFIX)?.parse().ok()?;
                let alias = line
                    .split(" alias ")
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                Some((index, alias))
            })
            .collect())
    }

    fn free_index(&self) -> Result<u32, NetworkError> {
        let used: Vec<u32> = self
            .interfaces()?
            .into_iter()
            .map(|(index, _)| index)
            .collect();
        (0..MAX_NETWORKS)
            .find(|index| !used.contains(index))
            .ok_or(NetworkError::Exhausted(used.len()))
    }

    fn plumb(&self, network: &BuildNetwork) -> Result<(), NetworkError> {
        let namespace = namespace_of(&network.name);
        let host = format!("{}/30", network.host_address);
        let build = format!("{}/30", network.build_address);
        let gateway = network.host_address.to_string();
        let ip = |args: &[&str]| run(&self.ip, args, None).map(|_| ());
        ip(&["netns", "add", &namespace])?;
        ip(&[
            "link",
            "add",
            &network.interface,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &namespace,
        ])?;
        ip(&["link", "set", &network.interface, "alias", &namespace])?;
        ip(&["addr", "add", &host, "dev", &network.interface])?;
        ip(&["link", "set", &network.interface, "up"])?;
        ip(&["-n", &namespace, "addr", "add", &build, "dev", "eth0"])?;
        ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &namespace, "route", "add", "default", "via", &gateway])
    }
}

impl BuildNetwork {
    fn at(name: &str, index: u32) -> BuildNetwork {
        let base = u32::from(Ipv4Addr::new(10, 88, 0, 0)) + index * 4;
        BuildNetwork {
            name: name.to_string(),
            namespace: Path::new(NAMESPACE_DIR).join(namespace_of(name)),
            host_address: Ipv4Addr::from(base + 1),
            build_address: Ipv4Addr::from(base + 2),
            interface: format!("{INTERFACE_PREFIX}{index}"),
        }
    }

    /// Gives the build the outside world, or takes it away.
    pub fn set_egress(&self, plumbing: &Plumbing, egress: Egress) -> Result<(), NetworkError> {
        plumbing
            .firewall
            .set_member(Set::Egress, &self.interface, egress == Egress::Internet)
    }

    /// Makes `targets` the addresses the build may open TCP connections to
    /// beyond its egress (a project's allow-list); never the host's own
    /// addresses, another build's or the cloud's metadata service.
    pub fn set_allowed(
        &self,
        plumbing: &Plumbing,
        targets: &[SocketAddrV4],
    ) -> Result<(), NetworkError> {
        plumbing.firewall.set_allowed(&self.interface, targets)
    }

    /// Lets the build reach slipway's mail catcher, or not.
    pub fn set_mail(&self, plumbing: &Plumbing, mail: bool) -> Result<(), NetworkError> {
        plumbing
            .firewall
            .set_member(Set::Mail, &self.interface, mail)
    }
}

fn namespace_of(name: &str) -> String {
    format!("{NAMESPACE_PREFIX}{name}")
}

/// Names go into commands and file names: lowercase letters and digits.
fn validate(name: &str) -> Result<(), NetworkError> {
    let valid = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(NetworkError::InvalidName(name.to_string()))
    }
}

fn lock() -> Result<File, NetworkError> {
    let io = |source| NetworkError::Io {
        action: format!("locking {ALLOCATION_LOCK}"),
        source,
    };
    let file = File::create(ALLOCATION_LOCK).map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}
