//! Real git repositories: exact commits, uncommitted changes, submodules.

use std::path::Path;
use std::process::Command;

use slipway_checkout::{checkout, resolve_head, CheckoutError};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn repo_with(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    for (path, content) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "c"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository whose submodule at `path` is another local repository
/// (`origin_name`) holding `addon`; returns (origin, repository).
fn repo_with_submodule(
    dir: &Path,
    origin_name: &str,
    addon: &str,
    path: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let origin = dir.join(origin_name);
    repo_with(
        &origin,
        &[(
            &format!("{addon}/__manifest__.py"),
            &format!("{{'name': '{addon}'}}"),
        )],
    );
    let repo = dir.join("repo");
    repo_with(&repo, &[("README", "x")]);
    git(
        &repo,
        &["submodule", "add", "-q", origin.to_str().unwrap(), path],
    );
    git(&repo, &["commit", "-qm", "add submodule"]);
    (origin, repo)
}

#[test]
fn a_directory_that_is_not_a_repository_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let error = resolve_head(temp.path()).unwrap_err();
    assert!(matches!(error, CheckoutError::NotARepository(_)));
    assert!(error
        .to_string()
        .contains(&temp.path().display().to_string()));
}

#[test]
fn a_repository_without_commit_says_so() {
    let temp = tempfile::tempdir().unwrap();
    git(temp.path(), &["init", "-q"]);
    assert!(matches!(
        resolve_head(temp.path()).unwrap_err(),
        CheckoutError::NoCommit(_)
    ));
}

#[test]
fn the_exact_commit_is_checked_out_and_uncommitted_changes_are_not() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("repo");
    let first = repo_with(&repo, &[("a/__manifest__.py", "{'name': 'one'}")]);
    std::fs::write(repo.join("a/__manifest__.py"), "{'name': 'two'}").unwrap();
    git(&repo, &["commit", "-qam", "second"]);
    std::fs::write(repo.join("a/__manifest__.py"), "{'name': 'dirty'}").unwrap();

    let head = resolve_head(&repo).unwrap();
    assert!(head.has_uncommitted_changes);
    assert_ne!(head.commit, first);
    assert_eq!(head.subdir, Path::new(""));
    let from_subdir = resolve_head(&repo.join("a")).unwrap();
    assert_eq!(
        (from_subdir.commit.as_str(), from_subdir.subdir.as_path()),
        (head.commit.as_str(), Path::new("a"))
    );

    let dest = temp.path().join("at-head");
    checkout(&repo, &head.commit, &dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("a/__manifest__.py")).unwrap(),
        "{'name': 'two'}"
    );
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), head.commit);

    let dest = temp.path().join("at-first");
    checkout(&repo, &first, &dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("a/__manifest__.py")).unwrap(),
        "{'name': 'one'}"
    );
}

#[test]
fn an_unknown_commit_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("repo");
    repo_with(&repo, &[("x", "1")]);
    let error = checkout(&repo, &"0".repeat(40), &temp.path().join("dest")).unwrap_err();
    assert!(
        matches!(error, CheckoutError::UnknownCommit { .. }),
        "{error}"
    );
}

#[test]
fn submodules_are_checked_out_even_when_their_origin_is_gone() {
    let temp = tempfile::tempdir().unwrap();
    let (origin, repo) = repo_with_submodule(
        temp.path(),
        "shared-addons",
        "shared_addon",
        "vendor/shared",
    );
    let head = resolve_head(&repo).unwrap();
    assert!(!head.has_uncommitted_changes);
    // The submodule's origin disappears (offline laptop, deleted fork): its
    // objects are still in the repository's .git/modules.
    std::fs::remove_dir_all(&origin).unwrap();

    let dest = temp.path().join("dest");
    checkout(&repo, &head.commit, &dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("vendor/shared/shared_addon/__manifest__.py")).unwrap(),
        "{'name': 'shared_addon'}"
    );
}

#[test]
fn a_mirror_is_cloned_then_fetched_and_builds_check_out_from_it() {
    let temp = tempfile::tempdir().unwrap();
    let origin = temp.path().join("origin");
    let first = repo_with(&origin, &[("a/__manifest__.py", "{'name': 'one'}")]);
    let mirror = temp.path().join("mirrors/project.git");
    std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
    slipway_checkout::update_mirror(origin.to_str().unwrap(), &mirror).unwrap();
    git(&origin, &["checkout", "-qb", "feature"]);
    std::fs::write(origin.join("a/__manifest__.py"), "{'name': 'two'}").unwrap();
    git(&origin, &["commit", "-qam", "feature work"]);
    let second = git(&origin, &["rev-parse", "HEAD"]);
    slipway_checkout::update_mirror(origin.to_str().unwrap(), &mirror).unwrap();
    for (commit, name) in [(&first, "one"), (&second, "two")] {
        let dest = temp.path().join(format!("at-{name}"));
        checkout(&mirror, commit, &dest).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.join("a/__manifest__.py")).unwrap(),
            format!("{{'name': '{name}'}}")
        );
    }
    let error = slipway_checkout::update_mirror(
        "/nonexistent/repo",
        &temp.path().join("mirrors/other.git"),
    )
    .unwrap_err();
    assert!(error.to_string().contains("/nonexistent/repo"), "{error}");
    assert!(!temp.path().join("mirrors/other.git").exists());
}

/// Server builds: a `.gitmodules` pointing at a local path (say, another
/// project's mirror on the build host) is refused.
#[test]
fn remote_only_checkouts_refuse_submodules_from_local_paths() {
    let temp = tempfile::tempdir().unwrap();
    let (_secret, repo) = repo_with_submodule(
        temp.path(),
        "other-project",
        "private_addon",
        "vendor/stolen",
    );
    let head = resolve_head(&repo).unwrap();
    let mirror = temp.path().join("mirror.git");
    slipway_checkout::update_mirror(repo.to_str().unwrap(), &mirror).unwrap();
    let dest = temp.path().join("dest");
    let error = slipway_checkout::checkout_with(
        &mirror,
        &head.commit,
        &dest,
        slipway_checkout::SubmoduleSources::RemoteOnly,
    )
    .unwrap_err();
    assert!(error.to_string().contains("submodule"), "{error}");
    assert!(!dest
        .join("vendor/stolen/private_addon/__manifest__.py")
        .exists());
}

/// git quotes a submodule's URL verbatim when its clone fails; the error
/// (a build's reason, later) must not carry the token in it.
#[test]
fn regression_git_messages_never_show_a_submodule_token() {
    let temp = tempfile::tempdir().unwrap();
    let (_origin, repo) = repo_with_submodule(temp.path(), "origin", "addon", "vendor/sub");
    git(
        &repo,
        &[
            "config",
            "--file",
            ".gitmodules",
            "submodule.vendor/sub.url",
            "https://ghp_SECRET@127.0.0.1:9/sub.git",
        ],
    );
    git(&repo, &["commit", "-qam", "private submodule"]);
    let head = resolve_head(&repo).unwrap();
    let mirror = temp.path().join("mirror.git");
    slipway_checkout::update_mirror(repo.to_str().unwrap(), &mirror).unwrap();
    let error = slipway_checkout::checkout_with(
        &mirror,
        &head.commit,
        &temp.path().join("dest"),
        slipway_checkout::SubmoduleSources::RemoteOnly,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("https://***@127.0.0.1:9/sub.git"), "{error}");
    assert!(!error.contains("ghp_SECRET"), "{error}");
}

/// A remote that accepts the connection and never answers: the fetch is given
/// up at its time limit, with git's helpers, and no half mirror is left.
#[test]
fn a_remote_that_never_answers_is_given_up_at_the_time_limit() {
    let temp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _silent = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let mirror = temp.path().join("mirror.git");
    let started = std::time::Instant::now();
    let error = slipway_checkout::update_mirror_within(
        &format!("http://127.0.0.1:{port}/repo.git"),
        &mirror,
        std::time::Duration::from_secs(2),
    )
    .unwrap_err();
    assert!(
        matches!(error, CheckoutError::TimedOut { seconds: 2 }),
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(!mirror.exists());
    let leftovers = std::fs::read_dir(temp.path()).unwrap().count();
    assert_eq!(leftovers, 0, "a partial mirror was left");
}
