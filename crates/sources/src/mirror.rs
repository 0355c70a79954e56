//! One bare mirror per repository address, shared by every project and build
//! that uses it: a revision is resolved to a commit there, and a commit is
//! fetched once. The mirror's config holds the address without credentials.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use slipway_checkout::{checked, run_git};

use crate::{Remote, SourceError};

/// How long one fetch may take (a first fetch of odoo/odoo is large).
const FETCH_TIME_LIMIT: Duration = Duration::from_secs(60 * 60);
/// How long asking a remote for its refs may take.
const LIST_TIME_LIMIT: Duration = Duration::from_secs(120);
/// Local git commands on the mirror.
const LOCAL_TIME_LIMIT: Duration = Duration::from_secs(300);

/// A revision resolved to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// 40 hex digits.
    pub commit: String,
    /// The branch whose head this is, when the revision named a branch (it is
    /// followed: the next build may take a newer head).
    pub branch: Option<String>,
}

/// The bare mirrors under one directory.
#[derive(Debug, Clone)]
pub struct Mirrors {
    root: PathBuf,
}

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>) -> Mirrors {
        Mirrors { root: root.into() }
    }

    /// The mirror of `remote`: named after the address without credentials,
    /// so that every project using one repository shares it.
    pub fn path_of(&self, remote: &Remote) -> PathBuf {
        let digest = Sha256::digest(remote.plain().as_bytes());
        let slug: String = remote
            .plain()
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("repository")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .take(40)
            .collect();
        self.root
            .join(format!("{slug}-{}.git", hex::encode(&digest[..8])))
    }

    /// Resolves `rev` (a branch, a tag, or a commit, full or abbreviated) of
    /// `remote` to a commit that the mirror holds afterwards, fetching only
    /// what it lacks. One process at a time works on a mirror.
    pub fn resolve(&self, remote: &Remote, rev: &str) -> Result<Resolved, SourceError> {
        let path = self.path_of(remote);
        let _lock = lock(&self.root, &path)?;
        let mirror = Mirror::open_or_create(&path, remote)?;
        if is_full_commit(rev) && mirror.has_commit(rev)? {
            return Ok(Resolved {
                commit: rev.to_ascii_lowercase(),
                branch: None,
            });
        }
        if let Some((resolved, reference)) = mirror.list_remote()?.named(rev) {
            if !mirror.has_commit(&resolved.commit)? {
                mirror.fetch(&[format!("+{reference}:{reference}")])?;
            }
            return Ok(resolved);
        }
        if !is_hex(rev) || rev.len() < 7 {
            return Err(SourceError::UnknownRevision {
                remote: remote.plain().to_string(),
                rev: rev.to_string(),
            });
        }
        // A commit: fetched by id where the server allows it, else with
        // every branch and tag.
        if !mirror.has_commit(rev)? {
            let by_id = is_full_commit(rev) && mirror.fetch(&[rev.to_string()]).is_ok();
            if !by_id {
                mirror.fetch(&[
                    "+refs/heads/*:refs/heads/*".to_string(),
                    "+refs/tags/*:refs/tags/*".to_string(),
                ])?;
            }
        }
        match mirror.commit_of(rev)? {
            Some(commit) => Ok(Resolved {
                commit,
                branch: None,
            }),
            None => Err(SourceError::UnknownRevision {
                remote: remote.plain().to_string(),
                rev: rev.to_string(),
            }),
        }
    }
}

/// Resolves `rev` by asking the remote only (nothing fetched, no mirror): a
/// branch's head (followed), a tag's commit, or a full commit id as given
/// (checked when a build fetches it). What a queued build records.
pub fn resolve_remote(remote: &Remote, rev: &str) -> Result<Resolved, SourceError> {
    if is_full_commit(rev) {
        return Ok(Resolved {
            commit: rev.to_ascii_lowercase(),
            branch: None,
        });
    }
    let mut envs = remote.git_env();
    envs.push(("GIT_ALLOW_PROTOCOL".into(), allowed_protocols(remote)));
    let unreachable = |error: SourceError| SourceError::Unreachable {
        remote: remote.plain().to_string(),
        reason: error.to_string(),
    };
    let output = run_git(
        None,
        ["ls-remote", "--", remote.plain()],
        &envs,
        LIST_TIME_LIMIT,
    )
    .map_err(|error| unreachable(error.into()))?;
    let output = checked(output, "ls-remote").map_err(|error| unreachable(error.into()))?;
    match RemoteRefs::parse(&output).named(rev) {
        Some((resolved, _)) => Ok(resolved),
        None => Err(SourceError::UnknownRevision {
            remote: remote.plain().to_string(),
            rev: rev.to_string(),
        }),
    }
}

/// One mirror, locked by its user.
pub(crate) struct Mirror<'a> {
    path: PathBuf,
    remote: &'a Remote,
}

impl<'a> Mirror<'a> {
    fn open_or_create(path: &Path, remote: &'a Remote) -> Result<Mirror<'a>, SourceError> {
        let mirror = Mirror {
            path: path.to_path_buf(),
            remote,
        };
        if path.join("HEAD").is_file() {
            return Ok(mirror);
        }
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let created = checked(
            run_git(
                None,
                [
                    OsStr::new("init"),
                    OsStr::new("--quiet"),
                    OsStr::new("--bare"),
                    partial.as_os_str(),
                ],
                &[],
                LOCAL_TIME_LIMIT,
            )?,
            "init --bare",
        )
        .and_then(|_| {
            checked(
                run_git(
                    Some(&partial),
                    ["config", "remote.origin.url", remote.plain()],
                    &[],
                    LOCAL_TIME_LIMIT,
                )?,
                "config",
            )
        });
        if let Err(error) = created {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(error.into());
        }
        std::fs::rename(&partial, path).map_err(SourceError::io("renaming", &partial))?;
        Ok(mirror)
    }

    /// git on the mirror, with the remote's credentials in its environment.
    fn git<I, S>(&self, args: I, limit: Duration) -> Result<std::process::Output, SourceError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut envs = self.remote.git_env();
        envs.push(("GIT_ALLOW_PROTOCOL".into(), allowed_protocols(self.remote)));
        Ok(run_git(Some(&self.path), args, &envs, limit)?)
    }

    fn has_commit(&self, rev: &str) -> Result<bool, SourceError> {
        Ok(self.commit_of(rev)?.is_some())
    }

    /// The full id of `rev` in the mirror, if it holds that commit.
    fn commit_of(&self, rev: &str) -> Result<Option<String>, SourceError> {
        let output = self.git(
            [
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{rev}^{{commit}}"),
            ],
            LOCAL_TIME_LIMIT,
        )?;
        let commit = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok((output.status.success() && is_full_commit(&commit)).then_some(commit))
    }

    fn list_remote(&self) -> Result<RemoteRefs, SourceError> {
        let output = self
            .git(["ls-remote", "origin"], LIST_TIME_LIMIT)
            .map_err(|error| self.unreachable(error))?;
        let output =
            checked(output, "ls-remote").map_err(|error| self.unreachable(error.into()))?;
        Ok(RemoteRefs::parse(&output))
    }

    fn fetch(&self, refspecs: &[String]) -> Result<(), SourceError> {
        let mut args = vec!["fetch", "--quiet", "--no-tags", "origin"];
        args.extend(refspecs.iter().map(String::as_str));
        tracing::info!(remote = %self.remote, refs = ?refspecs, "fetching into the mirror");
        let output = self
            .git(&args, FETCH_TIME_LIMIT)
            .map_err(|error| self.unreachable(error))?;
        checked(output, "fetch").map_err(|error| self.unreachable(error.into()))?;
        Ok(())
    }

    fn unreachable(&self, error: SourceError) -> SourceError {
        SourceError::Unreachable {
            remote: self.remote.plain().to_string(),
            reason: error.to_string(),
        }
    }
}

/// The refs a remote advertises, name → commit.
struct RemoteRefs(Vec<(String, String)>);

impl RemoteRefs {
    /// `git ls-remote`'s lines: `<commit>\t<ref>`.
    fn parse(output: &std::process::Output) -> RemoteRefs {
        RemoteRefs(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| {
                    let (commit, name) = line.split_once('\t')?;
                    Some((name.to_string(), commit.to_string()))
                })
                .collect(),
        )
    }

    /// The branch `rev` (followed), else the tag `rev`: its commit, and the
    /// ref that holds it.
    fn named(&self, rev: &str) -> Option<(Resolved, String)> {
        let branch = format!("refs/heads/{rev}");
        if let Some(commit) = self.find(&branch) {
            let branch_name = Some(rev.to_string());
            return Some((
                Resolved {
                    commit,
                    branch: branch_name,
                },
                branch,
            ));
        }
        let tag = format!("refs/tags/{rev}");
        let commit = self.find_peeled(&tag)?;
        Some((
            Resolved {
                commit,
                branch: None,
            },
            tag,
        ))
    }

    fn find(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, commit)| commit.clone())
    }

    /// An annotated tag's commit (`^{}`), else the ref's own object.
    fn find_peeled(&self, name: &str) -> Option<String> {
        self.find(&format!("{name}^{{}}"))
            .or_else(|| self.find(name))
    }
}

/// The transports git may use: the usual network ones, and local files only
/// for a local remote (a repository's submodules could otherwise read any
/// path of the host).
fn allowed_protocols(remote: &Remote) -> String {
    if remote.is_local() {
        "file:git:http:https:ssh".to_string()
    } else {
        "git:http:https:ssh".to_string()
    }
}

fn lock(root: &Path, mirror: &Path) -> Result<File, SourceError> {
    std::fs::create_dir_all(root).map_err(SourceError::io("creating", root))?;
    let name = mirror
        .file_name()
        .map(|name| format!(".{}.lock", name.to_string_lossy()))
        .unwrap_or_else(|| ".mirror.lock".into());
    let path = root.join(name);
    let file = File::create(&path).map_err(SourceError::io("creating", &path))?;
    file.lock().map_err(SourceError::io("locking", &path))?;
    Ok(file)
}

pub(crate) fn is_full_commit(rev: &str) -> bool {
    rev.len() == 40 && is_hex(rev)
}

fn is_hex(rev: &str) -> bool {
    !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_hexdigit())
}
