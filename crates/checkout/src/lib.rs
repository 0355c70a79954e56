//! Checking out one exact commit of a repository, submodules included, with the
//! git CLI (it handles every transport, credential helper and submodule layout
//! users have).
//!
//! The checkout is a `--shared` clone: objects are borrowed from the source
//! repository, so even a large history costs only the working files.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Why a revision could not be resolved or checked out.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("{0} is not a git repository (run `git init` there, or give the path of one)")]
    NotARepository(PathBuf),

    #[error("{0} has no commit yet: commit your addons, then build")]
    NoCommit(PathBuf),

    #[error("commit {commit} is not in {repo}")]
    UnknownCommit { repo: PathBuf, commit: String },

    #[error("git not found: install it (`apt-get install git`)")]
    GitMissing,

    #[error(
        "the repository did not answer within {seconds} s: check that this machine can reach it"
    )]
    TimedOut { seconds: u64 },

    /// `stderr` is git's message, credentials hidden.
    #[error("`git {args}` failed: {stderr}")]
    Git { args: String, stderr: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A commit of a local repository as seen by `slipway ci`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Full 40-hex commit id.
    pub commit: String,
    /// Tracked files differ from the commit; those changes are not built.
    pub has_uncommitted_changes: bool,
    /// Where the given path lies inside the repository ("" at its root): a
    /// build of a sub-folder looks for addons only there.
    pub subdir: PathBuf,
}

/// The HEAD commit of the repository at `repo`.
pub fn resolve_head(repo: &Path) -> Result<Head, CheckoutError> {
    if !repo.is_dir() {
        return Err(CheckoutError::NotARepository(repo.to_path_buf()));
    }
    let inside = git(Some(repo), ["rev-parse", "--is-inside-work-tree"]);
    match inside {
        Ok(output) if output.status.success() => {}
        Ok(_) => return Err(CheckoutError::NotARepository(repo.to_path_buf())),
        Err(error) => return Err(error),
    }
    let head = git(
        Some(repo),
        ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
    )?;
    if !head.status.success() {
        return Err(CheckoutError::NoCommit(repo.to_path_buf()));
    }
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let status = checked(
        git(
            Some(repo),
            [
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--ignore-submodules=none",
                ".",
            ],
        )?,
        "status",
    )?;
    let prefix = checked(
        git(Some(repo), ["rev-parse", "--show-prefix"])?,
        "rev-parse --show-prefix",
    )?;
    let subdir = PathBuf::from(
        String::from_utf8_lossy(&prefix.stdout)
            .trim()
            .trim_end_matches('/'),
    );
    Ok(Head {
        commit,
        has_uncommitted_changes: !status.stdout.is_empty(),
        subdir,
    })
}

/// Where submodules may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmoduleSources {
    /// Local paths too (`slipway ci` on a developer's own checkout): submodules
    /// the source repository already fetched are taken from it, offline.
    LocalAllowed,
    /// Network URLs only (server builds): a `.gitmodules` of one project must not
    /// reach into another project's mirror on the same host.
    RemoteOnly,
}

/// Clones `source` into `dest` (which must not exist) at `commit`, detached, with
/// submodules initialised recursively, from local paths too
/// ([`SubmoduleSources::LocalAllowed`]).
pub fn checkout(source: &Path, commit: &str, dest: &Path) -> Result<(), CheckoutError> {
    checkout_with(source, commit, dest, SubmoduleSources::LocalAllowed)
}

/// [`checkout`] with a choice of where submodules may come from.
pub fn checkout_with(
    source: &Path,
    commit: &str,
    dest: &Path,
    submodules: SubmoduleSources,
) -> Result<(), CheckoutError> {
    if !is_full_commit_id(commit) {
        return Err(CheckoutError::UnknownCommit {
            repo: source.to_path_buf(),
            commit: commit.to_string(),
        });
    }
    let source_git_dir = absolute_git_dir(source)?;
    // `source` may be a sub-folder of the work tree; git clones repositories.
    let top = git(Some(source), ["rev-parse", "--show-toplevel"])?;
    let top = if top.status.success() {
        PathBuf::from(String::from_utf8_lossy(&top.stdout).trim())
    } else {
        source.to_path_buf()
    };
    checked(
        git(
            None,
            [
                OsStr::new("clone"),
                "--quiet".as_ref(),
                "--no-checkout".as_ref(),
                "--shared".as_ref(),
                top.as_os_str(),
                dest.as_os_str(),
            ],
        )?,
        "clone",
    )?;
    let switched = git(
        Some(dest),
        [
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            commit,
        ],
    )?;
    if !switched.status.success() {
        return Err(CheckoutError::UnknownCommit {
            repo: source.to_path_buf(),
            commit: commit.to_string(),
        });
    }
    init_submodules(dest, &source_git_dir, submodules)?;
    Ok(())
}

/// How long fetching a repository may take before it is given up.
pub const MIRROR_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

/// Keeps a bare mirror of `url` at `mirror`: cloned on first use (into a
/// temporary directory, renamed when complete), fetched (pruning deleted
/// branches) afterwards, within [`MIRROR_TIME_LIMIT`]. Callers serialise access
/// to one mirror.
pub fn update_mirror(url: &str, mirror: &Path) -> Result<(), CheckoutError> {
    update_mirror_within(url, mirror, MIRROR_TIME_LIMIT)
}

/// [`update_mirror`] with another time limit.
pub fn update_mirror_within(
    url: &str,
    mirror: &Path,
    limit: Duration,
) -> Result<(), CheckoutError> {
    if mirror.join("HEAD").is_file() {
        checked(
            git_within(
                Some(mirror),
                [
                    "-c",
                    "protocol.file.allow=always",
                    "fetch",
                    "--quiet",
                    "--prune",
                    "origin",
                    "+refs/heads/*:refs/heads/*",
                ],
                limit,
            )?,
            "fetch",
        )?;
        return Ok(());
    }
    let partial = mirror.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let cloned = git_within(
        None,
        [
            OsStr::new("-c"),
            "protocol.file.allow=always".as_ref(),
            "clone".as_ref(),
            "--quiet".as_ref(),
            "--mirror".as_ref(),
            url.as_ref(),
            partial.as_os_str(),
        ],
        limit,
    );
    let cloned = match cloned {
        Ok(cloned) => cloned,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(error);
        }
    };
    if !cloned.status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(git_failed("clone --mirror", &cloned));
    }
    std::fs::rename(&partial, mirror).map_err(|source| CheckoutError::Io {
        action: "renaming",
        path: partial.clone(),
        source,
    })
}

/// Initialises the submodules of the work tree `dir`, one level at a time so that
/// each level can borrow from the matching `modules/<name>` of the source.
fn init_submodules(
    dir: &Path,
    source_git_dir: &Path,
    sources: SubmoduleSources,
) -> Result<(), CheckoutError> {
    let file_protocol = match sources {
        SubmoduleSources::LocalAllowed => "protocol.file.allow=always",
        SubmoduleSources::RemoteOnly => "protocol.file.allow=never",
    };
    if !dir.join(".gitmodules").is_file() {
        return Ok(());
    }
    let listing = git(
        Some(dir),
        [
            "config",
            "--file",
            ".gitmodules",
            "--get-regexp",
            r"^submodule\..*\.path$",
        ],
    )?;
    let submodules: Vec<(String, String)> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|line| {
            let (key, path) = line.split_once(' ')?;
            let name = key.strip_prefix("submodule.")?.strip_suffix(".path")?;
            Some((name.to_string(), path.to_string()))
        })
        .collect();
    checked(
        git(Some(dir), ["submodule", "init", "--quiet"])?,
        "submodule init",
    )?;
    for (name, _) in &submodules {
        let fetched = source_git_dir.join("modules").join(name);
        if sources == SubmoduleSources::LocalAllowed && fetched.is_dir() {
            let key = format!("submodule.{name}.url");
            checked(
                git(
                    Some(dir),
                    [OsStr::new("config"), key.as_ref(), fetched.as_os_str()],
                )?,
                "config",
            )?;
        }
    }
    checked(
        git(
            Some(dir),
            [
                "-c",
                file_protocol,
                "submodule",
                "update",
                "--quiet",
                "--init",
                "--no-fetch",
            ],
        )
        .and_then(|output| {
            if output.status.success() {
                Ok(output)
            } else {
                git(
                    Some(dir),
                    [
                        "-c",
                        file_protocol,
                        "submodule",
                        "update",
                        "--quiet",
                        "--init",
                    ],
                )
            }
        })?,
        "submodule update",
    )?;
    for (name, path) in &submodules {
        init_submodules(
            &dir.join(path),
            &source_git_dir.join("modules").join(name),
            sources,
        )?;
    }
    Ok(())
}

fn absolute_git_dir(repo: &Path) -> Result<PathBuf, CheckoutError> {
    let output = git(Some(repo), ["rev-parse", "--absolute-git-dir"])?;
    if !output.status.success() {
        return Err(CheckoutError::NotARepository(repo.to_path_buf()));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

fn is_full_commit_id(commit: &str) -> bool {
    commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A git command with a predictable environment: no pager, no prompts (neither
/// a terminal nor ssh asks for anything), English messages, and every directory
/// trusted (slipway reads repositories owned by other users as root).
fn git_command<I, S>(dir: Option<&Path>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("git");
    command
        .args(["-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null"])
        .args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for variable in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_CEILING_DIRECTORIES",
    ] {
        command.env_remove(variable);
    }
    command
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "false")
        .env("SSH_ASKPASS", "false")
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env("GIT_PAGER", "cat")
        .stdin(std::process::Stdio::null());
    command
}

fn spawn_error(dir: Option<&Path>) -> impl FnOnce(std::io::Error) -> CheckoutError + '_ {
    move |error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            CheckoutError::GitMissing
        } else {
            CheckoutError::Io {
                action: "running git in",
                path: dir.map(Path::to_path_buf).unwrap_or_default(),
                source: error,
            }
        }
    }
}

fn git<I, S>(dir: Option<&Path>, args: I) -> Result<Output, CheckoutError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    git_command(dir, args).output().map_err(spawn_error(dir))
}

/// Like [`git`], for commands that talk to a remote: killed, with the helpers
/// it started (`git-remote-https`, `ssh`), once `limit` has passed.
fn git_within<I, S>(dir: Option<&Path>, args: I, limit: Duration) -> Result<Output, CheckoutError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_git(dir, args, &[], limit)
}

/// Runs git in `dir` with slipway's predictable environment (see
/// [`git_command`]) plus `envs`, killed with everything it started after
/// `limit`. Credentials reach git through `envs` (`GIT_CONFIG_*`), never
/// through its command line, which every process of the host can read.
pub fn run_git<I, S>(
    dir: Option<&Path>,
    args: I,
    envs: &[(String, String)],
    limit: Duration,
) -> Result<Output, CheckoutError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut command = git_command(dir, args);
    command.envs(envs.iter().map(|(key, value)| (key, value)));
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(spawn_error(dir))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stdout.read_to_end(&mut buffer);
        buffer
    });
    let err_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stderr.read_to_end(&mut buffer);
        buffer
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(spawn_error(dir))? {
            break status;
        }
        if Instant::now() >= deadline {
            // SAFETY: kill has no memory-safety preconditions; the negative pid
            // names the process group git leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Err(CheckoutError::TimedOut {
                seconds: limit.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `output` when git succeeded, else its error (`what` names the command).
pub fn checked(output: Output, what: &str) -> Result<Output, CheckoutError> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(git_failed(what, &output))
    }
}

/// git's own message quotes the URLs it was given, credentials included.
fn git_failed(what: &str, output: &Output) -> CheckoutError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    CheckoutError::Git {
        args: what.to_string(),
        stderr: slipway_redact::redact(stderr.trim()).into_owned(),
    }
}
