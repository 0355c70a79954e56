//! A started sandbox: its merged output as lines, waiting with a wall-clock limit,
//! and killing it (also when the handle is dropped).

use std::io::{BufRead, BufReader, PipeReader};
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::mpsc;

use crate::SandboxError;

/// Lines buffered between the reader thread and the consumer; the reader blocks
/// (and so does the sandboxed process, on a full pipe) rather than grow memory.
const LINE_BUFFER: usize = 4096;
/// Longest line kept whole; Odoo can log megabyte-long lines (e.g. a dumped
/// record set) and one line must not take the memory of a build.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How a sandboxed command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed because it ran past its wall-clock limit.
    TimedOut,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
            Exit::TimedOut => f.write_str("timed out"),
        }
    }
}

/// A running sandboxed command. Dropping it kills the sandbox.
pub struct Running {
    child: Child,
    /// Merged stdout and stderr, one entry per line (without the newline, lossily
    /// decoded, cut at [`MAX_LINE_BYTES`]). Ends when the command's output closes.
    pub lines: mpsc::Receiver<String>,
}

impl Running {
    pub(crate) fn new(child: Child, output: PipeReader) -> Running {
        let (sender, lines) = mpsc::channel(LINE_BUFFER);
        std::thread::Builder::new()
            .name("sandbox-output".into())
            .spawn(move || forward_lines(output, sender))
            .expect("spawning the output reader thread");
        Running { child, lines }
    }

    /// Host PID of the sandbox's outermost process.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the command has ended (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the command to end, killing it once `limit` has passed.
    pub async fn wait(&mut self, limit: Duration) -> Result<Exit, SandboxError> {
        wait_for_exit(&mut self.child, limit).await
    }

    /// Kills the sandbox and every process inside (see [`kill_sandbox`]).
    pub async fn kill(&mut self) {
        kill_sandbox(&mut self.child).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // bubblewrap itself goes with `kill_on_drop`; its sandbox first.
        kill_namespaces(&mut self.child);
    }
}

/// Kills a sandbox for certain: its namespaces, then bubblewrap.
pub(crate) async fn kill_sandbox(child: &mut Child) {
    kill_namespaces(child);
    let _ = child.kill().await;
}

/// Longest wait for bubblewrap to stop before its children are looked for.
/// A stop is delivered only when bubblewrap leaves the kernel: on a machine
/// busy with disk writes (an image build beside the tests) that took more
/// than 100 ms, the children were listed before bubblewrap's last clone and
/// one sandbox outlived the kill.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Kills the children of a running bubblewrap: each is the PID 1 of a
/// namespace, and all of the sandbox dies with it. Killing bubblewrap alone
/// is not enough: `--die-with-parent` is armed by its child only once that
/// child runs, so a sandbox killed early (a short time limit, a loaded
/// machine) could keep running, re-parented to init, with everything inside.
/// bubblewrap is stopped first, so that it starts nothing more meanwhile.
pub(crate) fn kill_namespaces(child: &mut Child) {
    // Only while it runs: once reaped, its pid may be someone else's.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let Some(pid) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) else {
        return;
    };
    // SAFETY: signals to our own child, which has not been reaped.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let deadline = std::time::Instant::now() + STOP_WAIT;
    while !is_stopped(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    for namespace_init in children_of(pid) {
        // SAFETY: a child of our child, listed while its parent is stopped.
        unsafe { libc::kill(namespace_init, libc::SIGKILL) };
    }
}

/// Whether the process is stopped (or gone).
fn is_stopped(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            matches!(
                stat_fields(&stat).first(),
                Some(&"T") | Some(&"t") | Some(&"Z")
            )
        })
        .unwrap_or(true)
}

/// The processes whose parent is `parent`.
fn children_of(parent: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid: libc::pid_t = stat_fields(&stat).get(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold
/// spaces and parentheses): state, ppid, …
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// Waits for `child` to end, killing it (and so the sandbox) once `limit` has
/// passed.
pub(crate) async fn wait_for_exit(
    child: &mut Child,
    limit: Duration,
) -> Result<Exit, SandboxError> {
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => {
            let status = status.map_err(|source| SandboxError::Io {
                action: "waiting for the sandbox",
                source,
            })?;
            use std::os::unix::process::ExitStatusExt;
            Ok(match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Signal(0),
            })
        }
        Err(_elapsed) => {
            tracing::warn!(pid = ?child.id(), limit_s = limit.as_secs(), "sandbox ran past its time limit; killing it");
            kill_sandbox(child).await;
            Ok(Exit::TimedOut)
        }
    }
}

fn forward_lines(output: PipeReader, sender: mpsc::Sender<String>) {
    let mut reader = BufReader::new(output);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match read_capped_line(&mut reader, &mut buffer) {
            Ok(0) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buffer).into_owned();
                if sender.blocking_send(line).is_err() {
                    // Nobody listens anymore; keep draining so the child never
                    // blocks on a full pipe.
                    let _ = std::io::copy(&mut reader, &mut std::io::sink());
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Reads one line into `buffer` (without `\n`, `\r` trimmed), keeping at most
/// [`MAX_LINE_BYTES`] and discarding the rest of an overlong line. Returns the
/// number of bytes consumed (0 at end of input).
fn read_capped_line(reader: &mut impl BufRead, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
            Some(index) => (&available[..index], true),
            None => (available, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(buffer.len());
        buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len() + usize::from(found_newline);
        reader.consume(used);
        consumed += used;
        if found_newline {
            if buffer.last() == Some(&b'\r') {
                buffer.pop();
            }
            return Ok(consumed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_lines_are_cut_and_the_next_line_is_intact() {
        let mut input = vec![b'x'; MAX_LINE_BYTES * 3];
        input.extend_from_slice(b"\nnext\r\n");
        let mut reader = BufReader::with_capacity(1000, input.as_slice());
        let mut buffer = Vec::new();
        assert!(read_capped_line(&mut reader, &mut buffer).unwrap() > MAX_LINE_BYTES);
        assert_eq!(buffer.len(), MAX_LINE_BYTES);
        buffer.clear();
        read_capped_line(&mut reader, &mut buffer).unwrap();
        assert_eq!(buffer, b"next");
        buffer.clear();
        assert_eq!(read_capped_line(&mut reader, &mut buffer).unwrap(), 0);
    }

    #[test]
    fn stat_fields_are_read_past_a_command_name_with_parentheses() {
        let stat = "42 (odoo (worker) 1) S 7 42 42 0";
        assert_eq!(stat_fields(stat)[..2], ["S", "7"]);
        assert!(stat_fields("garbage").is_empty());
    }

    #[test]
    fn last_line_without_newline_is_kept() {
        let mut reader = BufReader::new(&b"a\nb"[..]);
        let mut buffer = Vec::new();
        read_capped_line(&mut reader, &mut buffer).unwrap();
        buffer.clear();
        assert_eq!(read_capped_line(&mut reader, &mut buffer).unwrap(), 1);
        assert_eq!(buffer, b"b");
    }
}
