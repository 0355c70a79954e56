//! The bubblewrap backend against the host's own root filesystem as image.

use std::path::Path;
use std::time::{Duration, Instant};

use slipway_sandbox::{Bubblewrap, Exit, HostUser, Mount, Network, Sandbox, SandboxSpec};

const LIMIT: Duration = Duration::from_secs(30);

fn spec(mounts: Vec<Mount>, network: Network) -> SandboxSpec {
    let run_as = (unsafe { libc::geteuid() } == 0).then_some(HostUser {
        uid: 65534,
        gid: 65534,
    });
    SandboxSpec {
        rootfs: "/".into(),
        mounts,
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("ONLY_THIS".into(), "1".into()),
        ],
        workdir: "/tmp".into(),
        network,
        uid: 1234,
        gid: 1234,
        run_as,
        hostname: "sandbox-test".into(),
        cgroups: Vec::new(),
    }
}

async fn run(spec: &SandboxSpec, script: &str) -> (Exit, Vec<String>) {
    let sandbox = Bubblewrap::locate().expect("bwrap installed");
    let mut running = sandbox
        .spawn(spec, &["/bin/sh".into(), "-c".into(), script.into()])
        .unwrap();
    let mut lines = Vec::new();
    while let Some(line) = running.lines.recv().await {
        lines.push(line);
    }
    (running.wait(LIMIT).await.unwrap(), lines)
}

fn world_writable_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

#[tokio::test]
async fn root_is_read_only_and_only_the_writable_mount_takes_writes() {
    let data = world_writable_dir();
    let source = world_writable_dir();
    std::fs::write(source.path().join("code.py"), "print()\n").unwrap();
    let spec = spec(
        vec![
            Mount::read_write(data.path(), "/mnt/data"),
            Mount::read_only(source.path(), "/mnt/src"),
        ],
        Network::Isolated,
    );
    let (exit, lines) = run(
        &spec,
        "touch /usr/x 2>/dev/null && echo usr-writable; touch /mnt/src/y 2>/dev/null && echo src-writable; \
         touch /newdir 2>/dev/null && echo root-writable; cat /mnt/src/code.py; echo hi > /mnt/data/out && echo data-ok",
    )
    .await;
    assert_eq!(exit, Exit::Code(0), "{lines:?}");
    assert_eq!(lines, vec!["print()", "data-ok"]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("out")).unwrap(),
        "hi\n"
    );
    assert!(!source.path().join("y").exists());
}

#[tokio::test]
async fn environment_is_exactly_the_given_one_and_identity_is_mapped() {
    let (exit, lines) = run(
        &spec(vec![], Network::Isolated),
        "env | sort; id -u; hostname",
    )
    .await;
    assert_eq!(exit, Exit::Code(0));
    let env: Vec<_> = lines.iter().filter(|l| l.contains('=')).cloned().collect();
    // The shell adds PWD (and may add SHLVL/_); nothing of the caller's.
    assert!(env.contains(&"ONLY_THIS=1".to_string()), "{lines:?}");
    assert!(
        !env.iter()
            .any(|l| l.starts_with("HOME=") || l.starts_with("CARGO")),
        "{env:?}"
    );
    assert!(lines.contains(&"1234".to_string()), "{lines:?}");
    assert!(lines.contains(&"sandbox-test".to_string()), "{lines:?}");
}

#[tokio::test]
async fn tmp_is_private() {
    let marker = format!("slipway-sandbox-test-{}", std::process::id());
    let (exit, _) = run(
        &spec(vec![], Network::Isolated),
        &format!("echo x > /tmp/{marker}"),
    )
    .await;
    assert_eq!(exit, Exit::Code(0));
    assert!(!Path::new("/tmp").join(&marker).exists());
}

#[tokio::test]
async fn isolated_network_cannot_reach_a_host_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let script = format!("bash -c '{probe}' 2>/dev/null; true");
    let (_, lines) = run(&spec(vec![], Network::Isolated), &script).await;
    assert!(!lines.contains(&"connected".to_string()));
    let (_, lines) = run(&spec(vec![], Network::Host), &script).await;
    assert!(
        lines.contains(&"connected".to_string()),
        "host network must reach it: {lines:?}"
    );
}

#[tokio::test]
async fn a_command_past_its_time_limit_is_killed_with_everything_inside() {
    let sandbox = Bubblewrap::locate().unwrap();
    let spec = spec(vec![], Network::Isolated);
    let mut running = sandbox
        .spawn(
            &spec,
            &[
                "/bin/sh".into(),
                "-c".into(),
                "sleep 3003 & sleep 3003".into(),
            ],
        )
        .unwrap();
    let pid = running.pid().unwrap();
    let started = Instant::now();
    assert_eq!(
        running.wait(Duration::from_millis(500)).await.unwrap(),
        Exit::TimedOut
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    assert_no_process_runs("sleep 3003");
}

#[tokio::test]
async fn regression_a_sandbox_killed_while_it_starts_leaves_nothing_running() {
    // Killed within its first milliseconds, bubblewrap used to leave its
    // child — the sandbox's PID 1, not yet bound to die with its parent —
    // running with everything inside (about one start in eight here).
    let sandbox = Bubblewrap::locate().unwrap();
    let spec = spec(vec![], Network::Isolated);
    for attempt in 0..60u64 {
        let mut running = sandbox
            .spawn(&spec, &["/bin/sh".into(), "-c".into(), "sleep 302".into()])
            .unwrap();
        let limit = Duration::from_millis(attempt % 15);
        let _ = running.wait(limit).await;
    }
    assert_no_process_runs("sleep 302");
}

#[tokio::test]
async fn dropping_the_handle_kills_the_sandbox() {
    let sandbox = Bubblewrap::locate().unwrap();
    let spec = spec(vec![], Network::Isolated);
    let running = sandbox
        .spawn(&spec, &["/bin/sh".into(), "-c".into(), "sleep 301".into()])
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(running);
    assert_no_process_runs("sleep 301");
}

#[test]
fn mount_targets_outside_mnt_and_run_are_refused() {
    let sandbox = Bubblewrap::locate().unwrap();
    let spec = spec(
        vec![Mount::read_write("/tmp", "/usr/lib/evil")],
        Network::Isolated,
    );
    let error = sandbox.arguments(&spec, &["true".into()]).unwrap_err();
    assert!(error.to_string().contains("/usr/lib/evil"), "{error}");
    let spec = self::spec(
        vec![Mount::read_write("/tmp", "/mnt/../etc")],
        Network::Isolated,
    );
    assert!(sandbox.arguments(&spec, &["true".into()]).is_err());
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}

/// Looks at every process of the host: each test sleeps for a duration of
/// its own, unlike anything else on the machine (a `sleep 300` of a shell
/// on the host once failed this check in CI).
fn assert_no_process_runs(cmdline: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " ").trim() == cmdline)
                .unwrap_or(false)
        });
        if !found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{cmdline}` still runs after the sandbox was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
