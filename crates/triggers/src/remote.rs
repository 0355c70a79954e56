//! Polling: the branches of a remote repository, and what changed between two
//! polls.
//!
//! Polling works with every git host, including those that cannot reach
//! slipway to deliver a webhook. `git ls-remote` is the git CLI's own way of
//! listing refs without fetching anything, so it speaks every transport (local
//! path, `file://`, https, ssh) and uses the machine's credential helpers and
//! ssh keys exactly like a clone would.

use std::collections::BTreeMap;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use slipway_redact::redact;
use slipway_sources::Remote;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::branch::validate_branch_name;
use crate::is_object_id;

/// Why the branches of a remote could not be listed. Every variant names the
/// URL, with its password (if any) replaced by `***`.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "cannot list branches of {url}: {reason}; check the URL and that the machine can reach it"
    )]
    Unreachable { url: String, reason: String },

    #[error("cannot list branches of {url}: no answer within {}s; check the URL and that the machine can reach it", timeout.as_secs_f64())]
    Timeout { url: String, timeout: Duration },

    #[error("cannot list branches of an empty URL")]
    EmptyUrl,

    #[error("git not found: install it (`apt-get install git`)")]
    GitMissing,

    #[error("cannot list branches of {url}: running git failed: {source}")]
    Io {
        url: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot list branches of {url}: unexpected line from `git ls-remote`: {line:?}")]
    UnexpectedOutput { url: String, line: String },
}

/// The branches of the repository at `url`, branch name → commit id (40 hex
/// digits, or 64 for a SHA-256 repository).
///
/// Branch names [`validate_branch_name`] refuses are left out with a warning:
/// slipway never builds them, and leaving them out of every poll alike keeps
/// [`diff`] from reporting them as created or deleted.
///
/// A failed poll is an error, never an empty map: diffing an empty map would
/// read as "every branch was deleted".
///
/// git runs in a clean environment (no `GIT_DIR` or other variable leaking
/// from slipway's own environment), never prompts (no terminal prompt, ssh
/// confirmations and passphrases answered "no"), and only with the file,
/// git, ssh, http and https transports: `ext::` and other remote helpers,
/// which run commands of the URL's choosing, are refused. On `timeout` git is
/// killed together with the ssh or https helper it started.
pub async fn list_branches(
    url: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, String>, RemoteError> {
    let shown = redact(url).into_owned();
    if url.trim().is_empty() {
        return Err(RemoteError::EmptyUrl);
    }
    let remote = Remote::parse(url).map_err(|error| RemoteError::Unreachable {
        url: shown.clone(),
        reason: error.to_string(),
    })?;
    let output = match run_ls_remote(&remote, timeout).await {
        Ok(Some(output)) => output,
        Ok(None) => {
            return Err(RemoteError::Timeout {
                url: shown,
                timeout,
            })
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(RemoteError::GitMissing)
        }
        Err(source) => return Err(RemoteError::Io { url: shown, source }),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = match failure_reason(&stderr) {
            Some(line) => redact(line).into_owned(),
            None => format!("git exited with {}", output.status),
        };
        return Err(RemoteError::Unreachable { url: shown, reason });
    }
    parse_ls_remote(&output.stdout, &shown)
}

/// The line of git's stderr that says why it failed: the first `fatal:` line
/// (ssh may print warnings before it), else the first non-empty line; without
/// git's `fatal: ` prefix.
fn failure_reason(stderr: &str) -> Option<&str> {
    let mut lines = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.clone().next()?;
    let line = lines
        .find(|line| line.starts_with("fatal:"))
        .unwrap_or(first);
    Some(
        line.strip_prefix("fatal:")
            .or_else(|| line.strip_prefix("error:"))
            .map_or(line, str::trim_start),
    )
}

fn parse_ls_remote(
    stdout: &[u8],
    shown_url: &str,
) -> Result<BTreeMap<String, String>, RemoteError> {
    let unexpected = |line: &[u8]| RemoteError::UnexpectedOutput {
        url: shown_url.to_string(),
        line: String::from_utf8_lossy(line).into_owned(),
    };
    let mut branches = BTreeMap::new();
    for line in stdout.split(|&byte| byte == b'\n') {
        if line.is_empty() {
            continue;
        }
        let Some(tab) = line.iter().position(|&byte| byte == b'\t') else {
            return Err(unexpected(line));
        };
        let (commit, reference) = (&line[..tab], &line[tab + 1..]);
        let Some(name) = reference.strip_prefix(b"refs/heads/") else {
            return Err(unexpected(line));
        };
        let commit = std::str::from_utf8(commit)
            .ok()
            .filter(|commit| is_object_id(commit))
            .ok_or_else(|| unexpected(line))?;
        let Ok(name) = std::str::from_utf8(name) else {
            tracing::warn!(
                url = shown_url,
                branch = %String::from_utf8_lossy(name),
                "skipping a branch whose name is not UTF-8"
            );
            continue;
        };
        if let Err(error) = validate_branch_name(name) {
            tracing::warn!(url = shown_url, "skipping branch: {error}");
            continue;
        }
        branches.insert(name.to_string(), commit.to_string());
    }
    Ok(branches)
}

/// The environment variables passed through to git: where programs, the home
/// directory (its `.gitconfig`, `.ssh` and credential store) and the ssh agent
/// are, and proxy and TLS settings an operator may rely on. Anything else,
/// `GIT_DIR` or `GIT_CONFIG_*` first, could change what git does.
const KEPT_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "SSH_AUTH_SOCK",
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Runs `git ls-remote`; `Ok(None)` when it did not finish within `timeout`.
async fn run_ls_remote(remote: &Remote, timeout: Duration) -> io::Result<Option<GitOutput>> {
    let mut command = Command::new("git");
    command
        .env_clear()
        .envs(
            KEPT_VARIABLES
                .iter()
                .filter_map(|name| std::env::var_os(name).map(|value| (name, value))),
        )
        // Credentials through the environment: a command line is readable by
        // every process of the host.
        .envs(remote.git_env())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        // ssh asks through SSH_ASKPASS instead of the terminal (if any), and
        // `false` answers no: an unknown host key or a passphrase fails fast
        // instead of waiting for the timeout. git's own credential prompt
        // goes the same way.
        .env("SSH_ASKPASS", "false")
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("GIT_ASKPASS", "false")
        .args([
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "protocol.git.allow=always",
            "-c",
            "protocol.ssh.allow=always",
            "-c",
            "protocol.http.allow=always",
            "-c",
            "protocol.https.allow=always",
            "ls-remote",
            "--heads",
            "--quiet",
            "--",
            remote.plain(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills the ssh or
        // git-remote-https child too, not only git.
        .process_group(0)
        .kill_on_drop(true);
    if std::env::var_os("PATH").is_none() {
        command.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    }
    let mut process = GroupedChild::new(command.spawn()?);
    let finished = tokio::time::timeout(timeout, process.output()).await;
    match finished {
        Ok(output) => {
            process.reaped();
            output.map(Some)
        }
        Err(_elapsed) => {
            process.kill().await;
            Ok(None)
        }
    }
}

struct GitOutput {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A child process leading its own process group. Until it has been waited
/// for, dropping it (timeout, or the caller giving up on the future) kills the
/// whole group; the group id cannot have been reused meanwhile, since the
/// unreaped leader still holds it.
struct GroupedChild {
    child: Child,
    group: Option<libc::pid_t>,
}

impl GroupedChild {
    fn new(child: Child) -> Self {
        let group = child.id().and_then(|id| libc::pid_t::try_from(id).ok());
        Self { child, group }
    }

    async fn output(&mut self) -> io::Result<GitOutput> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut out = self.child.stdout.take();
        let mut err = self.child.stderr.take();
        let read_out = async {
            match out.as_mut() {
                Some(pipe) => pipe.read_to_end(&mut stdout).await.map(drop),
                None => Ok(()),
            }
        };
        let read_err = async {
            match err.as_mut() {
                Some(pipe) => pipe.read_to_end(&mut stderr).await.map(drop),
                None => Ok(()),
            }
        };
        let (status, (), ()) = tokio::try_join!(self.child.wait(), read_out, read_err)?;
        Ok(GitOutput {
            status,
            stdout,
            stderr,
        })
    }

    /// The leader was waited for: its id may now be reused, never signal it.
    fn reaped(&mut self) {
        self.group = None;
    }

    async fn kill(&mut self) {
        self.kill_group();
        // Also reaps it; an error means it already exited.
        let _ = self.child.kill().await;
        self.group = None;
    }

    fn kill_group(&mut self) {
        if let Some(group) = self.group.take() {
            // SAFETY: kill(2) has no memory-safety preconditions; a negative
            // pid addresses the process group we created for this child.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupedChild {
    fn drop(&mut self) {
        self.kill_group();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command as StdCommand;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn git(dir: &Path, args: &[&str]) -> String {
        let output = StdCommand::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "-c",
                "user.name=Slipway Test",
                "-c",
                "user.email=test@slipway.invalid",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .output()
            .expect("git is needed by this crate's tests");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// A repository with one commit on `main`.
    fn repository() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet"]);
        git(
            dir.path(),
            &["commit", "--quiet", "--allow-empty", "-m", "first"],
        );
        let head = git(dir.path(), &["rev-parse", "HEAD"]);
        (dir, head)
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(name, commit)| (name.to_string(), commit.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn lists_branches_of_a_local_repository() {
        let (dir, first) = repository();
        git(dir.path(), &["branch", "16.0-fix-invoice"]);
        git(
            dir.path(),
            &["commit", "--quiet", "--allow-empty", "-m", "second"],
        );
        let second = git(dir.path(), &["rev-parse", "HEAD"]);
        git(dir.path(), &["branch", "feature/my_thing"]);
        assert_ne!(first, second);

        let path = dir.path().to_str().unwrap();
        let branches = list_branches(path, TIMEOUT).await.unwrap();
        let expected = map(&[
            ("16.0-fix-invoice", &first),
            ("feature/my_thing", &second),
            ("main", &second),
        ]);
        assert_eq!(branches, expected);

        // The same through a file:// URL.
        let url = format!("file://{path}");
        assert_eq!(list_branches(&url, TIMEOUT).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn successive_polls_see_created_moved_and_deleted_branches() {
        let (dir, first) = repository();
        git(dir.path(), &["branch", "old"]);
        git(dir.path(), &["branch", "stays"]);
        let path = dir.path().to_str().unwrap();
        let before = list_branches(path, TIMEOUT).await.unwrap();

        git(dir.path(), &["branch", "--delete", "--force", "old"]);
        git(
            dir.path(),
            &["commit", "--quiet", "--allow-empty", "-m", "second"],
        );
        let second = git(dir.path(), &["rev-parse", "HEAD"]);
        git(dir.path(), &["branch", "new"]);
        let after = list_branches(path, TIMEOUT).await.unwrap();

        assert_eq!(
            after,
            map(&[("main", &second), ("new", &second), ("stays", &first)])
        );
        assert_ne!(before, after);
    }

    #[tokio::test]
    async fn an_empty_repository_has_no_branches() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet"]);
        let branches = list_branches(dir.path().to_str().unwrap(), TIMEOUT)
            .await
            .unwrap();
        assert!(branches.is_empty(), "{branches:?}");
    }

    #[tokio::test]
    async fn lists_two_hundred_branches() {
        let (dir, head) = repository();
        let mut updates = String::new();
        for i in 0..200 {
            updates.push_str(&format!("create refs/heads/16.0-branch-{i:03} {head}\n"));
        }
        let mut child = StdCommand::new("git")
            .current_dir(dir.path())
            .args(["update-ref", "--stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(updates.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());

        let branches = list_branches(dir.path().to_str().unwrap(), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(branches.len(), 201); // and main
        assert_eq!(branches["16.0-branch-000"], head);
        assert_eq!(branches["16.0-branch-199"], head);
        assert!(branches.values().all(|commit| commit == &head));
    }

    #[tokio::test]
    async fn skips_branches_slipway_refuses() {
        let (dir, head) = repository();
        // Valid for git, refused by slipway.
        git(dir.path(), &["branch", "fix;rm"]);
        git(dir.path(), &["branch", "$(x)"]);
        git(dir.path(), &["branch", "ok"]);
        let branches = list_branches(dir.path().to_str().unwrap(), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(branches, map(&[("main", &head), ("ok", &head)]));
    }

    #[tokio::test]
    async fn a_missing_repository_is_unreachable_with_gits_reason() {
        let error = list_branches("/nonexistent/repo", TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RemoteError::Unreachable { url, .. } if url == "/nonexistent/repo"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "cannot list branches of /nonexistent/repo: '/nonexistent/repo' does not appear \
             to be a git repository; check the URL and that the machine can reach it"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let error = list_branches("http://127.0.0.1:9/x.git", TIMEOUT)
            .await
            .unwrap_err();
        let RemoteError::Unreachable { url, reason } = &error else {
            panic!("expected Unreachable, got {error:?}");
        };
        assert_eq!(url, "http://127.0.0.1:9/x.git");
        assert!(reason.contains("127.0.0.1"), "{reason}");
        assert!(!reason.starts_with("fatal:"), "{reason}");
    }

    #[tokio::test]
    async fn passwords_never_show_in_errors() {
        let error = list_branches("https://alice:hunter2@127.0.0.1:9/x.git", TIMEOUT)
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("https://alice:***@127.0.0.1:9/x.git"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[tokio::test]
    async fn regression_a_token_without_password_never_shows_in_errors() {
        let error = list_branches("https://ghp_SECRET@127.0.0.1:9/x.git", TIMEOUT)
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("https://***@127.0.0.1:9/x.git"),
            "{message}"
        );
        assert!(!message.contains("ghp_SECRET"), "{message}");
    }

    #[tokio::test]
    async fn a_remote_that_does_not_answer_times_out() {
        // Accepts connections (the kernel does, through the backlog) and
        // never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x.git", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let error = list_branches(&url, Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RemoteError::Timeout { url: shown, .. } if *shown == url),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            error.to_string().contains("no answer within 0.5s"),
            "{error}"
        );
        // git's http helper, blocked on the connection, was killed with it.
        let mut alive = processes_mentioning(&url);
        for _ in 0..50 {
            if alive.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            alive = processes_mentioning(&url);
        }
        assert!(alive.is_empty(), "still running: {alive:?}");
        drop(listener);
    }

    /// The command lines of live processes that contain `text` (a zombie's
    /// command line reads empty).
    fn processes_mentioning(text: &str) -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
            .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
            .filter(|cmdline| cmdline.contains(text))
            .collect()
    }

    #[tokio::test]
    async fn command_transports_are_refused() {
        let marker = tempfile::tempdir().unwrap();
        let file = marker.path().join("ran");
        let url = format!("ext::sh -c touch% {}", file.display());
        let error = list_branches(&url, TIMEOUT).await.unwrap_err();
        assert!(
            matches!(error, RemoteError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("remote helper"), "{error}");
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn an_option_like_url_is_not_an_option() {
        let marker = tempfile::tempdir().unwrap();
        let file = marker.path().join("ran");
        let url = format!("--upload-pack=touch {}", file.display());
        let error = list_branches(&url, TIMEOUT).await.unwrap_err();
        assert!(
            matches!(error, RemoteError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(!file.exists());
        assert!(matches!(
            list_branches(" ", TIMEOUT).await,
            Err(RemoteError::EmptyUrl)
        ));
    }

    #[test]
    fn the_reason_is_the_fatal_line() {
        let stderr = "Warning: Permanently added 'h' (ED25519) to the list of known hosts.\n\
                      fatal: Could not read from remote repository.\n\nPlease make sure\n";
        assert_eq!(
            failure_reason(stderr),
            Some("Could not read from remote repository.")
        );
        assert_eq!(failure_reason("\nerror: boom\n"), Some("boom"));
        assert_eq!(failure_reason("  \n"), None);
    }

    #[test]
    fn malformed_output_is_an_error_not_an_empty_list() {
        let sha = "a".repeat(40);
        let good = format!("{sha}\trefs/heads/main\n");
        assert_eq!(
            parse_ls_remote(good.as_bytes(), "u").unwrap(),
            map(&[("main", &sha)])
        );
        for bad in [
            format!("{sha} refs/heads/main\n"),
            format!("{}\trefs/heads/main\n", "g".repeat(40)),
            format!("{sha}\trefs/tags/v1\n"),
        ] {
            assert!(
                matches!(
                    parse_ls_remote(bad.as_bytes(), "u"),
                    Err(RemoteError::UnexpectedOutput { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
