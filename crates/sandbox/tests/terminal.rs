//! Interactive terminals in the bubblewrap backend, against the host's own root
//! filesystem as image.
//!
//! Every step waits for a marker in the output (with a deadline) rather than for
//! time to pass. Markers are written so that the terminal's echo of the typed
//! command does not contain them (`"is-""a-tty"`, `$((40+2))`).

use std::path::Path;
use std::time::{Duration, Instant};

use slipway_sandbox::{
    Bubblewrap, Exit, HostUser, Network, Sandbox, SandboxError, SandboxSpec, Terminal, TerminalSize,
};

const DEADLINE: Duration = Duration::from_secs(20);
const SIZE: TerminalSize = TerminalSize {
    rows: 33,
    cols: 101,
};

fn spec() -> SandboxSpec {
    let run_as = (unsafe { libc::geteuid() } == 0).then_some(HostUser {
        uid: 65534,
        gid: 65534,
    });
    SandboxSpec {
        rootfs: "/".into(),
        mounts: vec![],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("ONLY_THIS".into(), "1".into()),
        ],
        workdir: "/tmp".into(),
        network: Network::Isolated,
        uid: 1234,
        gid: 1234,
        run_as,
        hostname: "sandbox-test".into(),
        cgroups: Vec::new(),
    }
}

/// A terminal and everything read from it so far.
struct Session {
    terminal: Terminal,
    output: Vec<u8>,
    /// How much of `output` earlier `expect`s have consumed.
    seen: usize,
}

impl Session {
    fn start(spec: &SandboxSpec, argv: &[&str], size: TerminalSize) -> Session {
        let sandbox = Bubblewrap::locate().expect("bwrap installed");
        let argv: Vec<String> = argv.iter().map(|word| word.to_string()).collect();
        Session {
            terminal: sandbox.spawn_terminal(spec, &argv, size).unwrap(),
            output: Vec::new(),
            seen: 0,
        }
    }

    /// An interactive `sh` that answers.
    async fn shell(size: TerminalSize) -> Session {
        let mut session = Session::start(&spec(), &["/bin/sh", "-i"], size);
        session.type_line(r#"echo "shell-""ready""#).await;
        session.expect("shell-ready").await;
        session
    }

    async fn type_line(&self, line: &str) {
        self.terminal
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Reads until `marker` appears after what earlier calls consumed.
    async fn expect(&mut self, marker: &str) {
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(at) = find(&self.output[self.seen..], marker.as_bytes()) {
                    self.seen += at + marker.len();
                    return true;
                }
                if self.read_some().await == 0 {
                    return false;
                }
            }
        })
        .await;
        assert!(
            found == Ok(true),
            "`{marker}` did not appear ({}); output so far:\n{}",
            if found.is_err() {
                "timed out"
            } else {
                "terminal closed"
            },
            String::from_utf8_lossy(&self.output)
        );
    }

    /// Reads until the terminal closes.
    async fn expect_end(&mut self) {
        let ended =
            tokio::time::timeout(DEADLINE, async { while self.read_some().await > 0 {} }).await;
        assert!(
            ended.is_ok(),
            "the terminal did not close; output:\n{}",
            String::from_utf8_lossy(&self.output)
        );
    }

    async fn read_some(&mut self) -> usize {
        let mut buf = [0; 4096];
        let read = self.terminal.read(&mut buf).await.unwrap();
        self.output.extend_from_slice(&buf[..read]);
        read
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[tokio::test]
async fn the_shell_sees_a_tty_of_the_requested_size() {
    let mut session = Session::shell(SIZE).await;
    session
        .type_line(r#"tty -s && echo "is-""a-tty"; echo "size:$(stty size):end""#)
        .await;
    session.expect("is-a-tty").await;
    session.expect("size:33 101:end").await;
    // Password prompts (psql, getpass) open the controlling terminal by name.
    session
        .type_line(r#"echo x > /dev/tty && echo "dev-""tty-ok""#)
        .await;
    session.expect("dev-tty-ok").await;
}

#[tokio::test]
async fn input_reaches_the_shell_and_its_output_comes_back() {
    let mut session = Session::shell(SIZE).await;
    session.type_line("echo marker-$((40+2))").await;
    session.expect("marker-42").await;
    // Line editing is the terminal's: the erased character never reaches the shell.
    session.type_line("echo fixed-$((1+2))x\x7f").await;
    session.expect("fixed-3\r\n").await;
}

#[tokio::test]
async fn resizing_changes_the_size_and_signals_the_foreground_program() {
    let mut session = Session::shell(SIZE).await;
    // A foreground job that reports SIGWINCH (dash runs the trap while in `wait`).
    session
        .type_line(
            r#"sh -c 'trap "echo winch-$((40+2)); kill \$!; exit" WINCH; sleep 1004 & echo trap-$((1+1)); wait'"#,
        )
        .await;
    session.expect("trap-2").await;
    session
        .terminal
        .resize(TerminalSize {
            rows: 50,
            cols: 120,
        })
        .unwrap();
    session.expect("winch-42").await;
    session.type_line(r#"echo "size:$(stty size):end""#).await;
    session.expect("size:50 120:end").await;
}

#[tokio::test]
async fn sizes_are_clamped() {
    let mut session = Session::shell(TerminalSize { rows: 0, cols: 0 }).await;
    session.type_line(r#"echo "size:$(stty size):end""#).await;
    session.expect("size:1 1:end").await;
    session
        .terminal
        .resize(TerminalSize {
            rows: 5000,
            cols: 20,
        })
        .unwrap();
    session.type_line(r#"echo "size:$(stty size):end""#).await;
    session.expect("size:1000 20:end").await;
}

#[tokio::test]
async fn ctrl_c_interrupts_the_foreground_job_and_the_shell_goes_on() {
    let mut session = Session::shell(SIZE).await;
    session.type_line("sleep 1001").await;
    let sleeper = wait_for_process("sleep 1001");
    session.terminal.write_all(&[0x03]).await.unwrap();
    wait_until_gone(sleeper);
    // 130 = 128 + SIGINT: the job died of the interrupt.
    session.type_line(r#"echo "status-$?-""after""#).await;
    session.expect("status-130-after").await;
}

#[tokio::test]
async fn ctrl_c_reaches_a_program_without_job_control_and_only_it() {
    // Like `psql` or `odoo shell` started directly: it handles SIGINT and goes on
    // (dash's `read` fails when interrupted, hence the loop).
    let script = r#"trap "echo caught-\$((40+2))" INT; echo ready-$((1+1))
        until read line; do :; done; echo read-$line"#;
    let mut session = Session::start(&spec(), &["/bin/sh", "-c", script], SIZE);
    session.expect("ready-2").await;
    session.terminal.write_all(&[0x03]).await.unwrap();
    session.expect("caught-42").await;
    session.type_line("more").await;
    session.expect("read-more").await;
    session.expect_end().await;
    assert_eq!(
        session.terminal.wait(DEADLINE).await.unwrap(),
        Exit::Code(0)
    );

    // One that does not handle it dies of it, and the sandbox ends with it.
    let mut session = Session::start(&spec(), &["/bin/cat"], SIZE);
    session.type_line("echoed").await;
    session.expect("echoed\r\nechoed").await;
    session.terminal.write_all(&[0x03]).await.unwrap();
    session.expect_end().await;
    assert_eq!(
        session.terminal.wait(DEADLINE).await.unwrap(),
        Exit::Code(128 + libc::SIGINT)
    );
}

#[tokio::test]
async fn exit_closes_the_terminal_and_gives_the_exit_code() {
    let mut session = Session::shell(SIZE).await;
    session.type_line("exit 3").await;
    session.expect_end().await;
    // Reading past the end keeps saying so.
    assert_eq!(session.terminal.read(&mut [0; 16]).await.unwrap(), 0);
    assert_eq!(
        session.terminal.wait(DEADLINE).await.unwrap(),
        Exit::Code(3)
    );
}

#[tokio::test]
async fn dropping_the_terminal_kills_everything_inside() {
    let session = Session::shell(SIZE).await;
    session.type_line("sleep 1002 &").await;
    let sleeper = wait_for_process("sleep 1002");
    let bwrap = session.terminal.pid().unwrap();
    drop(session);
    wait_until_gone(sleeper);
    wait_until_gone(bwrap);
}

#[tokio::test]
async fn the_environment_is_exactly_the_specs_plus_term() {
    let mut session = Session::start(&spec(), &["/usr/bin/env"], SIZE);
    session.expect_end().await;
    assert_eq!(
        env_lines(&session.output),
        // bubblewrap sets PWD to the working directory.
        [
            "ONLY_THIS=1",
            "PATH=/usr/bin:/bin",
            "PWD=/tmp",
            "TERM=xterm-256color"
        ]
    );

    let mut spec = spec();
    spec.env.push(("TERM".into(), "vt100".into()));
    let mut session = Session::start(&spec, &["/usr/bin/env"], SIZE);
    session.expect_end().await;
    assert_eq!(
        env_lines(&session.output),
        [
            "ONLY_THIS=1",
            "PATH=/usr/bin:/bin",
            "PWD=/tmp",
            "TERM=vt100"
        ]
    );
    assert_eq!(
        session.terminal.wait(DEADLINE).await.unwrap(),
        Exit::Code(0)
    );
}

#[tokio::test]
async fn an_image_without_the_session_helper_is_refused() {
    let image = tempfile::tempdir().unwrap();
    std::fs::create_dir(image.path().join("usr")).unwrap();
    let mut spec = spec();
    spec.rootfs = image.path().into();
    let error = Bubblewrap::locate()
        .unwrap()
        .spawn_terminal(&spec, &["/bin/sh".into()], SIZE)
        .err()
        .expect("refused");
    assert!(
        matches!(error, SandboxError::SessionHelperMissing(_)),
        "{error}"
    );
}

fn env_lines(output: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(output)
        .lines()
        .map(|line| line.trim_end_matches('\r').to_string())
        .filter(|line| !line.is_empty())
        .collect();
    lines.sort();
    lines
}

/// Host PID of the one process whose command line is `cmdline`, once it runs.
fn wait_for_process(cmdline: &str) -> u32 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let found: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse().ok()?;
                let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
                let line = String::from_utf8_lossy(&raw).replace('\0', " ");
                (line.trim() == cmdline).then_some(pid)
            })
            .collect();
        match found[..] {
            [pid] => return pid,
            [] => {}
            _ => panic!("several `{cmdline}` run: {found:?}"),
        }
        assert!(Instant::now() < deadline, "`{cmdline}` never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `pid` no longer runs (gone, or a zombie nobody reaped yet).
fn wait_until_gone(pid: u32) {
    let deadline = Instant::now() + DEADLINE;
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.contains(") Z "))
        .unwrap_or(true)
}
