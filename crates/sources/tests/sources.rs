//! Mirrors, revisions and trees against real git repositories: local ones,
//! and one served over HTTP with a password.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use slipway_sources::test_support::{bare_copy, GitHttpServer};
use slipway_sources::{resolve_remote, Mirrors, Remote, SourceError, Trees};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A repository whose branch `19.0` has two commits, the first tagged
/// `v1` (annotated); the two commit ids.
fn repository(dir: &Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "19.0"]);
    std::fs::create_dir_all(dir.join("odoo/addons/base")).unwrap();
    std::fs::write(dir.join("odoo/release.py"), "version_info = (19, 0)\n").unwrap();
    std::fs::write(dir.join("odoo-bin"), "#!/usr/bin/env python3\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "first"]);
    git(dir, &["tag", "-a", "v1", "-m", "version 1"]);
    let first = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("odoo/release.py"), "version_info = (19, 0, 1)\n").unwrap();
    git(dir, &["commit", "-qam", "second"]);
    (first, git(dir, &["rev-parse", "HEAD"]))
}

/// Every file of a directory tree, for looking for a secret in it.
fn all_text(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    text
}

#[test]
fn branches_are_followed_and_tags_and_commits_pinned() {
    let temp = tempfile::tempdir().unwrap();
    let origin = temp.path().join("odoo");
    let (first, second) = repository(&origin);
    let mirrors = Mirrors::new(temp.path().join("mirrors"));
    let remote = Remote::parse(origin.to_str().unwrap()).unwrap();

    let branch = mirrors.resolve(&remote, "19.0").unwrap();
    assert_eq!(branch.commit, second);
    assert_eq!(branch.branch.as_deref(), Some("19.0"));
    let tag = mirrors.resolve(&remote, "v1").unwrap();
    assert_eq!((tag.commit.as_str(), tag.branch), (first.as_str(), None));
    let short = mirrors.resolve(&remote, &first[..10]).unwrap();
    assert_eq!(short.commit, first);

    // A pinned commit the mirror holds needs no remote at all.
    std::fs::rename(&origin, temp.path().join("moved")).unwrap();
    assert_eq!(mirrors.resolve(&remote, &second).unwrap().commit, second);
    let gone = mirrors.resolve(&remote, "19.0").unwrap_err();
    assert!(matches!(gone, SourceError::Unreachable { .. }), "{gone}");
    std::fs::rename(temp.path().join("moved"), &origin).unwrap();

    let unknown = mirrors.resolve(&remote, "18.0").unwrap_err().to_string();
    assert!(
        unknown.contains("has no branch, tag or commit '18.0'") && unknown.contains("odoo"),
        "{unknown}"
    );
}

#[test]
fn a_commit_gets_one_tree_shared_by_its_builds_and_collected_when_unused() {
    let temp = tempfile::tempdir().unwrap();
    let origin = temp.path().join("odoo");
    let (first, second) = repository(&origin);
    let mirrors = Mirrors::new(temp.path().join("mirrors"));
    let trees = Trees::new(temp.path().join("trees"));
    let remote = Remote::parse(origin.to_str().unwrap()).unwrap();
    let mirror = mirrors.path_of(&remote);
    mirrors.resolve(&remote, &first).unwrap();
    mirrors.resolve(&remote, "19.0").unwrap();

    let old = trees.tree(&mirror, &first).unwrap();
    let new = trees.tree(&mirror, &second).unwrap();
    assert_eq!(
        std::fs::read_to_string(old.join("odoo/release.py")).unwrap(),
        "version_info = (19, 0)\n"
    );
    assert_eq!(
        std::fs::read_to_string(new.join("odoo/release.py")).unwrap(),
        "version_info = (19, 0, 1)\n"
    );
    assert!(
        !old.join(".git").exists(),
        "a tree is files, not a repository"
    );
    // The second build of a commit takes the same tree, untouched.
    std::fs::write(old.join("marker"), "").unwrap();
    assert_eq!(trees.tree(&mirror, &first).unwrap(), old);
    assert!(old.join("marker").exists());

    let in_use: HashSet<PathBuf> = [new.clone()].into();
    assert_eq!(
        trees.collect(&in_use, Duration::from_secs(3600)),
        0,
        "too recent"
    );
    assert_eq!(trees.collect(&in_use, Duration::ZERO), 1);
    assert!(!old.exists() && new.exists());
}

#[test]
fn a_private_repository_is_reached_with_credentials_that_are_kept_nowhere() {
    const SECRET: &str = "s3cret-token-4242";
    let temp = tempfile::tempdir().unwrap();
    let (_, head) = repository(&temp.path().join("work"));
    let served = temp.path().join("served");
    bare_copy(&temp.path().join("work"), &served, "enterprise.git");
    let server = GitHttpServer::start(&served, "deploy", SECRET);
    let mirrors = Mirrors::new(temp.path().join("mirrors"));

    let with =
        Remote::parse(&server.url_with(&format!("deploy:{SECRET}"), "enterprise.git")).unwrap();
    assert_eq!(with.plain(), server.url("enterprise.git"));
    let resolved = mirrors.resolve(&with, "19.0").unwrap();
    assert_eq!(resolved.commit, head);
    let mirror = mirrors.path_of(&with);
    let kept = all_text(&mirror);
    assert!(kept.contains(&server.url("enterprise.git")));
    assert!(
        !kept.contains(SECRET),
        "the secret is in the mirror's files"
    );

    for userinfo in ["deploy:wrong", ""] {
        let remote = if userinfo.is_empty() {
            Remote::parse(&server.url("enterprise.git")).unwrap()
        } else {
            Remote::parse(&server.url_with(userinfo, "enterprise.git")).unwrap()
        };
        let error = mirrors.resolve(&remote, "19.0").unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, SourceError::Unreachable { .. }),
            "{message}"
        );
        assert!(
            message.contains(&server.url("enterprise.git")) && !message.contains("wrong"),
            "{message}"
        );
    }
    assert!(server.refused() >= 2);
}

#[test]
fn an_address_nothing_answers_at_is_named_in_the_error() {
    let temp = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(temp.path().join("mirrors"));
    // Port 9 (discard) on the loopback: connection refused.
    let remote = Remote::parse("http://TOKEN99@127.0.0.1:9/odoo.git").unwrap();
    let message = mirrors.resolve(&remote, "19.0").unwrap_err().to_string();
    assert!(
        message.starts_with("http://127.0.0.1:9/odoo.git could not be reached"),
        "{message}"
    );
    assert!(!message.contains("TOKEN99"), "{message}");
    // Nothing half-made is left behind for the next try.
    let left: Vec<_> = std::fs::read_dir(temp.path().join("mirrors"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name())
        .filter(|name| name.to_string_lossy().contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// What a queued build records: the remote's answer, nothing fetched.
#[test]
fn a_queued_build_resolves_revisions_by_asking_the_remote_only() {
    let temp = tempfile::tempdir().unwrap();
    let origin = temp.path().join("odoo");
    let (first, second) = repository(&origin);
    let remote = Remote::parse(origin.to_str().unwrap()).unwrap();
    let branch = resolve_remote(&remote, "19.0").unwrap();
    assert_eq!(
        (branch.commit.as_str(), branch.branch.as_deref()),
        (second.as_str(), Some("19.0"))
    );
    assert_eq!(resolve_remote(&remote, "v1").unwrap().commit, first);
    // A full commit id is taken as given; the build's fetch checks it.
    assert_eq!(
        resolve_remote(&remote, &first.to_uppercase())
            .unwrap()
            .commit,
        first
    );
    let error = resolve_remote(&remote, &first[..10]).unwrap_err();
    assert!(
        matches!(error, SourceError::UnknownRevision { .. }),
        "{error}"
    );
    assert!(!temp.path().join("mirrors").exists(), "nothing fetched");
}
