//! Build networks against the real kernel, as root (CI is root; without root
//! these tests fail, saying so): what a build reaches, and who reaches it.
//! Connections are made from threads that joined a namespace (`setns` moves
//! only the calling thread); "the internet" is a namespace the test makes.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use slipway_network::test_support::{inside, Internet};
use slipway_network::{BuildNetwork, Egress, Plumbing};

const TIMEOUT: Duration = Duration::from_millis(800);

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests make network namespaces: run them as root, as CI does"
    );
}

/// A name no other test (or run) uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{}{nanos}", std::process::id())
}

/// Removes a build network however the test ends.
struct Made<'a>(&'a Plumbing, BuildNetwork);

impl Drop for Made<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(&self.1.name);
    }
}

/// A listener answering "hello" to each connection, on `address`.
fn listen(address: SocketAddr) -> u16 {
    let listener = TcpListener::bind(address).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.write_all(b"hello");
        }
    });
    port
}

/// A listener inside the namespace at `path` (on every address there).
fn listen_inside(path: &Path) -> u16 {
    inside(path, || {
        listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    })
}

/// Whether a connection to `address` gets the listener's answer.
fn reaches(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, TIMEOUT)
        .and_then(|mut stream| {
            stream.set_read_timeout(Some(TIMEOUT))?;
            let mut answer = [0u8; 5];
            stream.read_exact(&mut answer)?;
            Ok(&answer == b"hello")
        })
        .unwrap_or(false)
}

fn reaches_from(path: &Path, address: SocketAddr) -> bool {
    inside(path, move || reaches(address))
}

#[test]
fn a_build_reaches_only_what_it_is_given_and_only_root_reaches_it() {
    require_root();
    let plumbing = Plumbing::start().unwrap();
    let made = Made(
        &plumbing,
        plumbing.create(&unique("a"), Egress::None).unwrap(),
    );
    let other = Made(
        &plumbing,
        plumbing.create(&unique("b"), Egress::None).unwrap(),
    );
    let (build, neighbour) = (&made.1, &other.1);
    assert_ne!(build.build_address, neighbour.build_address);
    let internet = Internet::make(100);

    // Listeners: the host's loopback, every address of the host, the
    // neighbour build, the internet.
    let loopback = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let host_port = listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    let neighbour_port = listen_inside(&neighbour.namespace);
    let world_port = listen_inside(&internet.namespace());
    let world = SocketAddr::from((internet.address(), world_port));
    let host = |port| SocketAddr::from((build.host_address, port));

    let from = &build.namespace;
    assert!(!reaches_from(
        from,
        SocketAddr::from((Ipv4Addr::LOCALHOST, loopback))
    ));
    assert!(
        !reaches_from(from, host(loopback)),
        "the host's loopback service"
    );
    assert!(
        !reaches_from(from, host(host_port)),
        "a host service on every address"
    );
    assert!(
        !reaches_from(
            from,
            SocketAddr::from((neighbour.build_address, neighbour_port))
        ),
        "another build"
    );
    assert!(!reaches_from(from, world), "the internet without egress");

    // Egress: the world, still not the host nor the neighbour.
    build.set_egress(&plumbing, Egress::Internet).unwrap();
    assert!(reaches_from(from, world), "the internet with egress");
    assert!(!reaches_from(from, host(host_port)));
    assert!(!reaches_from(
        from,
        SocketAddr::from((neighbour.build_address, neighbour_port))
    ));
    build.set_egress(&plumbing, Egress::None).unwrap();
    assert!(!reaches_from(from, world), "egress taken back");

    // Mail: the catcher's port on the host, and only that.
    let catcher = listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    plumbing.allow_catcher_port(catcher).unwrap();
    assert!(
        !reaches_from(from, host(catcher)),
        "no mail without being given it"
    );
    build.set_mail(&plumbing, true).unwrap();
    assert!(reaches_from(from, host(catcher)));
    assert!(!reaches_from(from, host(host_port)));
    plumbing.forbid_catcher_port(catcher).unwrap();
    assert!(
        !reaches_from(from, host(catcher)),
        "the catcher's port forgotten"
    );

    // Inbound: root (the proxy) reaches a build's Odoo; nobody else does.
    let served = listen_inside(from);
    let served_at = SocketAddr::from((build.build_address, served));
    assert!(reaches(served_at), "root reaches the build");
    let script = format!(
        "import socket; s = socket.create_connection(('{}', {}), 1); print(s.recv(5).decode())",
        build.build_address, served
    );
    let nobody = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "python3",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&nobody.stdout).contains("hello"),
        "an unprivileged local process reached a build"
    );

    // Found again by name (after a restart), then gone without a trace.
    assert_eq!(plumbing.find(&build.name).unwrap().as_ref(), Some(build));
    assert!(plumbing.names().unwrap().contains(&build.name));
    plumbing.remove(&build.name).unwrap();
    assert_eq!(plumbing.find(&build.name).unwrap(), None);
    assert!(!build.namespace.exists());
    // Its address is refused at once, never sent on to the host's default
    // route.
    let started = std::time::Instant::now();
    let error = TcpStream::connect_timeout(&served_at, TIMEOUT).unwrap_err();
    assert!(
        started.elapsed() < TIMEOUT / 2,
        "{error}: waited {:?}",
        started.elapsed()
    );
}

#[test]
fn a_network_left_by_a_crash_is_made_again_and_bad_names_are_refused() {
    require_root();
    let plumbing = Plumbing::start().unwrap();
    let name = unique("c");
    let first = Made(&plumbing, plumbing.create(&name, Egress::None).unwrap());
    let again = plumbing.create(&name, Egress::Internet).unwrap();
    assert_eq!(again.name, first.1.name);
    assert_eq!(
        plumbing
            .names()
            .unwrap()
            .iter()
            .filter(|n| **n == name)
            .count(),
        1
    );
    for bad in ["", "a/b", "UPPER", "x y", "../etc"] {
        assert!(plumbing.create(bad, Egress::None).is_err(), "{bad:?}");
    }
}

#[test]
fn regression_a_reused_interface_does_not_inherit_the_rights_of_a_network_a_crash_left() {
    require_root();
    let plumbing = Plumbing::start().unwrap();
    let internet = Internet::make(102);
    let world = SocketAddr::from((internet.address(), listen_inside(&internet.namespace())));
    // A production build's network, its namespace gone in a crash without
    // its rights taken back.
    let crashed = plumbing.create(&unique("d"), Egress::Internet).unwrap();
    crashed.set_mail(&plumbing, true).unwrap();
    let integration = SocketAddrV4::new(internet.address(), listen_inside(&internet.namespace()));
    crashed.set_allowed(&plumbing, &[integration]).unwrap();
    assert!(reaches_from(&crashed.namespace, world));
    let status = Command::new("ip")
        .args(["netns", "delete", &format!("slipway-{}", crashed.name)])
        .status()
        .unwrap();
    assert!(status.success());
    // A next build takes its interface's name (other tests may take free
    // names meanwhile: made until one does), and nothing of its rights.
    let mut made = Vec::new();
    let next = loop {
        let network = plumbing.create(&unique("e"), Egress::None).unwrap();
        let reused = network.host_address == crashed.host_address;
        made.push(Made(&plumbing, network));
        if reused {
            break made.last().unwrap().1.clone();
        }
        assert!(
            made.len() < 20,
            "the crashed network's interface was never reused"
        );
    };
    assert!(!reaches_from(&next.namespace, world), "egress inherited");
    assert!(
        !reaches_from(&next.namespace, SocketAddr::V4(integration)),
        "allow-list inherited"
    );
    let catcher = listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    plumbing.allow_catcher_port(catcher).unwrap();
    let host = SocketAddr::from((next.host_address, catcher));
    assert!(!reaches_from(&next.namespace, host), "mail inherited");
    plumbing.forbid_catcher_port(catcher).unwrap();
}

#[test]
fn a_build_without_egress_reaches_the_addresses_of_its_allow_list_and_nothing_more() {
    require_root();
    let plumbing = Plumbing::start().unwrap();
    let internet = Internet::make(103);
    let made = Made(
        &plumbing,
        plumbing.create(&unique("f"), Egress::None).unwrap(),
    );
    let other = Made(
        &plumbing,
        plumbing.create(&unique("g"), Egress::None).unwrap(),
    );
    let (build, neighbour) = (&made.1, &other.1);
    let world = |port| SocketAddrV4::new(internet.address(), port);
    let (integration, elsewhere) = (
        world(listen_inside(&internet.namespace())),
        world(listen_inside(&internet.namespace())),
    );
    let host_service = SocketAddrV4::new(
        build.host_address,
        listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
    );
    let neighbour_service =
        SocketAddrV4::new(neighbour.build_address, listen_inside(&neighbour.namespace));
    let from = |target: SocketAddrV4| reaches_from(&build.namespace, SocketAddr::V4(target));
    assert!(!from(integration), "nothing before it is allowed");

    // Listed: the host and another build stay out of reach all the same.
    build
        .set_allowed(&plumbing, &[integration, host_service, neighbour_service])
        .unwrap();
    assert!(from(integration), "the allowed address and port");
    assert!(!from(elsewhere), "another port of the same address");
    assert!(!from(host_service), "a service of the host");
    assert!(!from(neighbour_service), "another build");
    assert!(
        !reaches_from(&neighbour.namespace, SocketAddr::V4(integration)),
        "the list is the build's own"
    );

    // Replaced as a whole, then emptied.
    build.set_allowed(&plumbing, &[elsewhere]).unwrap();
    assert!(!from(integration) && from(elsewhere));
    build.set_allowed(&plumbing, &[]).unwrap();
    assert!(!from(elsewhere));
}
