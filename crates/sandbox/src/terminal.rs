//! An interactive terminal inside a sandbox, for the web shell (xterm.js over a
//! websocket): `odoo shell`, `psql` against the build's own database.
//!
//! Why this differs from [`Sandbox::spawn`](crate::Sandbox::spawn): a build step
//! gets pipes and its output is read as lines. A person at a shell needs a
//! *terminal*: programs check `isatty` to prompt and edit lines, the kernel's line
//! discipline turns Ctrl-C into SIGINT for the foreground job, and a window size
//! reaches full-screen programs (`psql`'s pager, `less`). So the sandbox gets the
//! slave side of a fresh pseudo-terminal as stdin/stdout/stderr and as its
//! controlling terminal, and the caller holds the master: raw bytes both ways.
//!
//! Whose controlling terminal it is matters. If bubblewrap (outside the sandbox's
//! PID namespace) led the terminal's session (`setsid` + `TIOCSCTTY` before exec),
//! its process group would be the foreground one: Ctrl-C in a program without job
//! control (`psql` or `odoo shell` started directly) would kill bubblewrap and so
//! the whole sandbox, and a job-control shell could not hand the terminal back at
//! exit (dash then exits 2, "Cannot set tty process group"), the group being
//! invisible from inside the namespace. So bubblewrap starts in a session of its
//! own with no controlling terminal, and inside, the image's `setsid --ctty`
//! ([`SESSION_HELPER`], util-linux, essential in Debian) makes the program the
//! leader of a new session, takes the terminal and execs the program.
//!
//! bubblewrap's `--new-session` is not used for terminals: it would make the
//! program a process-group leader, which `setsid(1)` escapes only by forking. The
//! flag exists against `TIOCSTI` injection into the *caller's* terminal; here the
//! terminal is a fresh PTY of our own that holds only this sandbox's session, so
//! there is nothing of anyone else's to inject into.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::process::Child;

use crate::process::{kill_namespaces, kill_sandbox, wait_for_exit};
use crate::spec::SandboxSpec;
use crate::{Exit, SandboxError};

/// `TERM` given to the sandbox when the spec sets none: what xterm.js emulates.
pub const DEFAULT_TERM: &str = "xterm-256color";

/// The image's program that starts the terminal's session inside the sandbox.
pub const SESSION_HELPER: &str = "/usr/bin/setsid";

/// Character cells of a terminal window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub rows: u16,
    pub cols: u16,
}

impl TerminalSize {
    /// Largest number of rows or columns passed on; sizes come from a browser and
    /// a huge one would make full-screen programs allocate for nothing.
    pub const MAX: u16 = 1000;

    /// The size with each side brought into `1..=MAX` (0 breaks programs that
    /// divide by the width).
    pub fn clamped(self) -> TerminalSize {
        TerminalSize {
            rows: self.rows.clamp(1, Self::MAX),
            cols: self.cols.clamp(1, Self::MAX),
        }
    }

    fn winsize(self) -> libc::winsize {
        let size = self.clamped();
        libc::winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }
}

/// An interactive program running in a sandbox on a pseudo-terminal. Dropping it
/// kills the whole sandbox.
///
/// `read` and `write_all` take `&self`, so a websocket handler can drive both
/// directions at once (e.g. `tokio::join!` of a terminal→socket loop and a
/// socket→terminal loop borrowing the same `Terminal`), then `wait` for the exit.
/// Both directions must be driven: a shell whose output nobody reads stops
/// reading its input.
pub struct Terminal {
    // Declared first so that it drops first: the sandbox is killed before its
    // terminal hangs up under it.
    child: Child,
    master: AsyncFd<OwnedFd>,
}

impl Terminal {
    pub(crate) fn new(child: Child, master: OwnedFd) -> io::Result<Terminal> {
        // SAFETY: an `OwnedFd` stays open on the same descriptor until dropped.
        let master = unsafe { AsyncFd::register(master) }.map_err(|error| error.into_parts().1)?;
        Ok(Terminal { child, master })
    }

    /// Host PID of the sandbox's outermost process.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Reads what the sandbox wrote to its terminal (including the echo of typed
    /// input). 0 means the terminal has closed: no process inside holds it any
    /// more, normally because the program ended; [`Terminal::wait`] tells how.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|master| read_fd(master.as_raw_fd(), buf)) {
                Err(_would_block) => continue,
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
                // Linux reports a master whose slave side is closed by everyone
                // with EIO, after any output still buffered: that is the end.
                Ok(Err(error)) if error.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(result) => return result,
            }
        }
    }

    /// Types `data` into the terminal (keys as bytes: `\r` for Enter, `0x03` for
    /// Ctrl-C). Waits while the terminal's input queue is full.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|master| write_fd(master.as_raw_fd(), data)) {
                Err(_would_block) => continue,
                Ok(Ok(written)) => data = &data[written..],
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(error)) if error.raw_os_error() == Some(libc::EIO) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the terminal has closed",
                    ));
                }
                Ok(Err(error)) => return Err(error),
            }
        }
        Ok(())
    }

    /// Changes the window size (clamped, see [`TerminalSize::clamped`]); the
    /// foreground program gets SIGWINCH.
    pub fn resize(&self, size: TerminalSize) -> io::Result<()> {
        set_window_size(self.master.get_ref().as_raw_fd(), size)
    }

    /// Waits for the sandbox to end, killing it once `limit` has passed.
    pub async fn wait(&mut self, limit: Duration) -> Result<Exit, SandboxError> {
        wait_for_exit(&mut self.child, limit).await
    }

    /// Kills the sandbox and every process inside.
    pub async fn kill(&mut self) {
        kill_sandbox(&mut self.child).await;
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // bubblewrap itself goes with `kill_on_drop`; its sandbox first.
        kill_namespaces(&mut self.child);
    }
}

/// A fresh pseudo-terminal: the master stays with us, the slave becomes the
/// sandbox's stdin/stdout/stderr.
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Pty {
    /// Opens a pseudo-terminal of `size`; the master is non-blocking.
    ///
    /// Not `openpty(3)`: it returns descriptors without close-on-exec, and a
    /// sandbox started meanwhile by another thread would inherit them (bwrap
    /// passes descriptors on), i.e. another build could read and type into this
    /// terminal. `posix_openpt` and `TIOCGPTPEER` (Linux ≥ 4.13) set
    /// `O_CLOEXEC` atomically; `TIOCGPTPEER` also needs no path lookup in `/dev/pts`.
    pub fn open(size: TerminalSize) -> io::Result<Pty> {
        // SAFETY: plain system calls; each descriptor is owned as soon as it exists.
        unsafe {
            let master = cvt(libc::posix_openpt(
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            ))?;
            let master = OwnedFd::from_raw_fd(master);
            cvt(libc::grantpt(master.as_raw_fd()))?;
            cvt(libc::unlockpt(master.as_raw_fd()))?;
            let slave = cvt(libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            let slave = OwnedFd::from_raw_fd(slave);
            // xterm.js sends UTF-8: with IUTF8 the line discipline erases a whole
            // character on backspace, not one byte of it.
            let mut termios: libc::termios = std::mem::zeroed();
            cvt(libc::tcgetattr(slave.as_raw_fd(), &mut termios))?;
            termios.c_iflag |= libc::IUTF8;
            cvt(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &termios))?;
            set_window_size(master.as_raw_fd(), size)?;
            Ok(Pty { master, slave })
        }
    }
}

/// In the child between fork and exec: a session of its own without controlling
/// terminal, leaving the terminal free for the session started inside (and the
/// sandbox out of reach of signals from slipway's own terminal, if any).
/// Async-signal-safe.
pub(crate) fn leave_session() -> io::Result<()> {
    // SAFETY: setsid is an async-signal-safe system call.
    cvt(unsafe { libc::setsid() })?;
    Ok(())
}

/// `argv` as run through [`SESSION_HELPER`] in the image at `rootfs`: it becomes
/// a session leader inside the sandbox with stdin (the terminal) as controlling
/// terminal, then execs `argv` (no fork: the program stays bubblewrap's child and
/// its exit status is the sandbox's).
pub(crate) fn in_own_session(rootfs: &Path, argv: &[String]) -> Result<Vec<String>, SandboxError> {
    if argv.is_empty() {
        return Err(SandboxError::EmptyCommand);
    }
    let helper = rootfs.join(SESSION_HELPER.trim_start_matches('/'));
    if std::fs::symlink_metadata(&helper).is_err() {
        return Err(SandboxError::SessionHelperMissing(helper));
    }
    let mut wrapped = vec![SESSION_HELPER.to_string(), "--ctty".into(), "--".into()];
    wrapped.extend(argv.iter().cloned());
    Ok(wrapped)
}

/// `spec` with `TERM` set for the terminal if its environment has none; the
/// environment is otherwise left exactly as given.
pub(crate) fn with_default_term(spec: &SandboxSpec) -> Cow<'_, SandboxSpec> {
    if spec.env.iter().any(|(key, _)| key == "TERM") {
        return Cow::Borrowed(spec);
    }
    let mut spec = spec.clone();
    spec.env.push(("TERM".into(), DEFAULT_TERM.into()));
    Cow::Owned(spec)
}

fn set_window_size(master: RawFd, size: TerminalSize) -> io::Result<()> {
    let winsize = size.winsize();
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer.
    cvt(unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &winsize) })?;
    Ok(())
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let read = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    cvt_size(read)
}

fn write_fd(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `data.len()` bytes from `data`.
    let written = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    cvt_size(written)
}

fn cvt(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

fn cvt_size(result: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(result).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_clamped_to_at_least_one_and_at_most_max() {
        let size = TerminalSize { rows: 0, cols: 0 }.clamped();
        assert_eq!(size, TerminalSize { rows: 1, cols: 1 });
        let size = TerminalSize {
            rows: 40,
            cols: u16::MAX,
        }
        .clamped();
        assert_eq!(
            size,
            TerminalSize {
                rows: 40,
                cols: TerminalSize::MAX
            }
        );
    }

    #[test]
    fn a_terminal_can_be_shared_with_tasks() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Terminal>();
    }

    #[tokio::test]
    async fn master_reads_what_the_slave_writes_and_eio_is_the_end() {
        let pty = Pty::open(TerminalSize { rows: 2, cols: 3 }).unwrap();
        let slave = std::fs::File::from(pty.slave);
        let child = tokio::process::Command::new("true").spawn().unwrap();
        let terminal = Terminal::new(child, pty.master).unwrap();
        std::io::Write::write_all(&mut &slave, b"hi\n").unwrap();
        drop(slave);
        let mut output = Vec::new();
        let mut buf = [0; 64];
        loop {
            let read = terminal.read(&mut buf).await.unwrap();
            if read == 0 {
                break;
            }
            output.extend_from_slice(&buf[..read]);
        }
        // ONLCR: the line discipline turns \n into \r\n, as a terminal expects.
        assert_eq!(output, b"hi\r\n");
    }
}
