//! What a network of its own adds to the start of a build's run
//! (docs/benchmarks.md). Side by side, interleaved, as root:
//!
//! - the naive way: `bwrap --unshare-net` (a namespace with only a loopback,
//!   what every run had before: nothing reachable, not even the catcher);
//! - slipway's way: make the build's network (namespace, veth pair, address,
//!   firewall sets), start `bwrap` inside it (joined with `setns` before
//!   exec, as the sandbox does), and remove the network.
//!
//! Each sample runs `true` in the sandbox and waits for it.
//!
//! `cargo run --release -p slipway_network --example bench_plumbing -- [rounds]`

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use slipway_network::{Egress, Plumbing};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().unwrap())
        .unwrap_or(50);
    let plumbing = Plumbing::start().expect("root, ip and nft");
    let mut naive = Vec::with_capacity(rounds);
    let mut own = Vec::with_capacity(rounds);
    let mut make = Vec::with_capacity(rounds);
    let mut remove = Vec::with_capacity(rounds);
    for round in 0..rounds + 3 {
        let started = Instant::now();
        let status = bwrap().arg("--unshare-net").arg("true").status().unwrap();
        assert!(status.success());
        let naive_sample = started.elapsed();

        let started = Instant::now();
        let network = plumbing.create("benchplumbing", Egress::None).unwrap();
        network.set_mail(&plumbing, true).unwrap();
        let made = started.elapsed();
        let namespace = std::fs::File::open(&network.namespace).unwrap();
        let fd = namespace.as_raw_fd();
        let mut command = bwrap();
        command.arg("true");
        // SAFETY: setns is async-signal-safe; the descriptor outlives the spawn.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        assert!(command.status().unwrap().success());
        drop(namespace);
        let removing = Instant::now();
        plumbing.remove("benchplumbing").unwrap();
        let removed = removing.elapsed();
        // The first rounds warm caches (binaries, the kernel's).
        if round >= 3 {
            naive.push(naive_sample);
            own.push(started.elapsed());
            make.push(made);
            remove.push(removed);
        }
    }
    println!("{rounds} rounds, median (p90):");
    report("bwrap --unshare-net (naive)", &mut naive);
    report("own network: make + bwrap + remove", &mut own);
    report("  of which making it", &mut make);
    report("  of which removing it", &mut remove);
}

fn bwrap() -> Command {
    let mut command = Command::new("bwrap");
    command.args([
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-pid",
    ]);
    command
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<40} {:>8.2} ms ({:.2} ms)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3
    );
}
