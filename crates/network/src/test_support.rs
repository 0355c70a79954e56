//! For tests of what builds reach: a network namespace standing for the world
//! outside the host, and work done from inside a namespace.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A namespace standing for the world outside the host: a veth to the host,
/// the host at `.1`, the namespace at `.2` of the documentation block
/// `198.51.<octet>.0/30` (TEST-NET-2: no real host has it). Removed on drop.
pub struct Internet {
    name: String,
    host_side: String,
    octet: u8,
}

impl Internet {
    /// Makes it; `octet` tells apart tests that run at the same time.
    pub fn make(octet: u8) -> Internet {
        let name = format!("inet{octet}-{}", std::process::id());
        let host_side = format!("inet{octet}h");
        // Left by a test that was killed.
        let _ = Command::new("ip")
            .args(["link", "delete", &host_side])
            .stderr(std::process::Stdio::null())
            .status();
        let host = format!("198.51.{octet}.1");
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_side, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        ip(&["addr", "add", &format!("{host}/30"), "dev", &host_side]);
        ip(&["link", "set", &host_side, "up"]);
        let inside = format!("198.51.{octet}.2/30");
        ip(&["-n", &name, "addr", "add", &inside, "dev", "eth0"]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&["-n", &name, "route", "add", "default", "via", &host]);
        Internet {
            name,
            host_side,
            octet,
        }
    }

    /// Its namespace, for [`inside`].
    pub fn namespace(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Its address, as builds see it.
    pub fn address(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(198, 51, self.octet, 2)
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "delete", &self.host_side])
            .status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

/// Runs `work` on a thread inside the network namespace at `path` (`setns`
/// moves only the calling thread; sockets made there stay there).
pub fn inside<T: Send + 'static>(path: &Path, work: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(path).unwrap();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: moves this thread only into a namespace file we opened.
        let joined = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
        work()
    })
    .join()
    .unwrap()
}
