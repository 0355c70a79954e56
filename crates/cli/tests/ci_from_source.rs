//! `slipway ci` on Odoo from source: stand-ins of odoo/odoo made from the
//! real Odoo of the packaged images (there is no GitHub here), run on a
//! runtime built from the stand-in's own debian/control and requirements.txt;
//! an enterprise stand-in served over HTTP with a password.

mod common;

use std::path::Path;

use common::odoo_source::{enterprise, upstream};
use common::{assert_cleaned_up, ci_json, git, home, repository, slipway};
use slipway_sources::test_support::{bare_copy, GitHttpServer};

/// The log line the stand-in's second commit adds to a core module.
const PATCH_LINE: &str = "slipway stand-in: core patched";

fn log_of(run: &common::CiRun) -> String {
    std::fs::read_to_string(run.json["log"].as_str().unwrap()).unwrap()
}

fn source<'a>(run: &'a common::CiRun, name: &str) -> &'a serde_json::Value {
    run.json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|source| source["name"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {}", run.json))
}

/// Odoo from source, pinned then followed: only the build on the branch's
/// head runs the patched core; both run on one runtime and one tree per
/// commit; the report names the exact commits.
fn a_pinned_build_runs_its_commit_and_a_followed_one_the_branch_head(series: &str) {
    let odoo = upstream(series);
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let url = odoo.repo.to_str().unwrap();

    let pinned = ci_json(
        &repo,
        series,
        &["--odoo-repo", url, "--odoo-rev", &odoo.first],
    );
    pinned.assert_status("success");
    assert_eq!(pinned.json["tests"]["run"], 3, "{}", pinned.json);
    assert_eq!(source(&pinned, "odoo")["commit"], odoo.first.as_str());
    assert_eq!(source(&pinned, "odoo")["url"], url);
    assert!(!log_of(&pinned).contains(PATCH_LINE));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(assert_cleaned_up(&pinned.build_id()));

    let followed = ci_json(&repo, series, &["--odoo-repo", url]);
    followed.assert_status("success");
    assert_eq!(source(&followed, "odoo")["commit"], odoo.second.as_str());
    assert!(
        log_of(&followed).contains(PATCH_LINE),
        "the patched core ran"
    );

    // One runtime image for both commits, one tree per commit. Only complete
    // images count: another test may be building (and failing) a runtime of
    // its own in a `.build-` directory at the same moment.
    let runtimes: Vec<String> = runtime_images(&format!("runtime-{series}-"))
        .into_iter()
        .filter(|name| name.starts_with("runtime-"))
        .collect();
    assert_eq!(runtimes.len(), 1, "{runtimes:?}");
    for commit in [&odoo.first, &odoo.second] {
        let trees: Vec<_> = glob_trees(commit);
        assert_eq!(trees.len(), 1, "one tree of {commit}: {trees:?}");
    }
}

common::on_both_versions!(a_pinned_build_runs_its_commit_and_a_followed_one_the_branch_head);

/// The trees of `commit` under the data dir.
fn glob_trees(commit: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home().join("trees"))
        .unwrap()
        .flatten()
        .map(|mirror| mirror.path().join(commit))
        .filter(|tree| tree.is_dir())
        .collect()
}

/// Every file under `dir`, as text, for looking for a secret.
fn all_text(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}

/// Regression guard for credentials: an enterprise repository behind a
/// password is fetched with it, and the password shows nowhere — not in the
/// report, the output, the logs, the mirror, or the trees.
#[test]
fn enterprise_behind_a_password_builds_and_its_password_shows_nowhere() {
    const SECRET: &str = "ent-s3cret-7f3a";
    let odoo = upstream("19.0");
    let temp = tempfile::tempdir().unwrap();
    let served = temp.path().join("served");
    bare_copy(
        &enterprise("19.0", &temp.path().join("enterprise")),
        &served,
        "enterprise.git",
    );
    let server = GitHttpServer::start(&served, "deploy", SECRET);
    let repo = repository(temp.path(), "uses_enterprise");
    let with_secret = server.url_with(&format!("deploy:{SECRET}"), "enterprise.git");

    let run = ci_json(
        &repo,
        "19.0",
        &[
            "--odoo-repo",
            odoo.repo.to_str().unwrap(),
            "--enterprise-repo",
            &with_secret,
        ],
    );
    run.assert_status("success");
    assert_eq!(run.json["tests"]["run"], 1, "{}", run.json);
    assert_eq!(
        source(&run, "enterprise")["url"],
        server.url("enterprise.git")
    );
    let everything = format!(
        "{}{}{}{}{}",
        run.json,
        run.stderr(),
        all_text(&home().join("logs").join(run.build_id())),
        all_text(&home().join("mirrors")),
        all_text(&home().join("trees")),
    );
    assert!(!everything.contains(SECRET), "the password leaked");

    // Wrong credentials: a clear error naming the repository, exit 2.
    let wrong = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "19.0", "--odoo-repo", odoo.repo.to_str().unwrap()])
        .args([
            "--enterprise-repo",
            &server.url_with("deploy:wrong-guess", "enterprise.git"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} could not be reached",
            server.url("enterprise.git")
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-guess"), "{stderr}");
}

/// Bad sources are refused before any Odoo runs, with what to do; exit 2.
#[test]
fn bad_sources_are_named_with_what_to_do() {
    let odoo = upstream("19.0");
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let url = odoo.repo.to_str().unwrap();
    let refused = |args: &[&str], expected: &str| {
        let output = slipway().arg("ci").arg(&repo).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    refused(
        &[
            "--odoo",
            "19.0",
            "--odoo-repo",
            url,
            "--odoo-rev",
            "no-such-branch",
        ],
        "has no branch, tag or commit 'no-such-branch'",
    );
    refused(
        &["--odoo", "14.0", "--odoo-repo", url],
        "has no branch, tag or commit '14.0'",
    );
    refused(
        &["--odoo", "14.0", "--odoo-repo", url, "--odoo-rev", "19.0"],
        "is Odoo 19.0 (odoo/release.py), not 14.0",
    );
    // The project's own repository is no Odoo.
    let branch = git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]);
    refused(
        &[
            "--odoo",
            "19.0",
            "--odoo-repo",
            repo.to_str().unwrap(),
            "--odoo-rev",
            &branch,
        ],
        "is not an Odoo source tree",
    );
    refused(
        &[
            "--odoo",
            "19.0",
            "--odoo-repo",
            "http://127.0.0.1:9/odoo.git",
        ],
        "http://127.0.0.1:9/odoo.git could not be reached",
    );
    refused(&["--odoo", "17.0"], "--odoo-repo");
}

/// A second project on the same Odoo commit takes everything the first one
/// made: the mirror, the tree, the runtime and the template database.
#[test]
fn a_second_project_on_the_same_odoo_commit_reuses_everything() {
    let odoo = upstream("19.0");
    let temp = tempfile::tempdir().unwrap();
    let url = odoo.repo.to_str().unwrap();
    let pinned = ["--odoo-repo", url, "--odoo-rev", &odoo.first];
    let first = ci_json(&repository(temp.path(), "passing"), "19.0", &pinned);
    assert_eq!(first.json["status"], "success", "{}", first.stderr());
    let mirrors = std::fs::read_dir(home().join("mirrors")).unwrap().count();

    let other = temp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let second = ci_json(&repository(&other, "warns_at_install"), "19.0", &pinned);
    let stderr = second.stderr();
    assert_ne!(second.json["status"], "failed", "{}\n{stderr}", second.json);
    assert_eq!(source(&second, "odoo")["commit"], odoo.first.as_str());
    assert!(stderr.contains("reusing template database"), "{stderr}");
    assert!(!stderr.contains("building template database"), "{stderr}");
    assert!(!stderr.contains("is not built yet"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(home().join("mirrors")).unwrap().count(),
        mirrors,
        "no new mirror"
    );
    assert_eq!(glob_trees(&odoo.first).len(), 1);
}

/// A requirements.txt pip cannot satisfy stops the build before Odoo runs,
/// names the step and what pip said, and leaves no runtime image behind.
#[test]
fn a_requirement_pip_cannot_install_is_named_and_nothing_is_cached() {
    let odoo = upstream("19.0");
    let temp = tempfile::tempdir().unwrap();
    let fork = temp.path().join("odoo-fork");
    let status = std::process::Command::new("git")
        .args(["clone", "--quiet", "--branch", "19.0"])
        .arg(&odoo.repo)
        .arg(&fork)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        fork.join("requirements.txt"),
        "slipway-no-such-package==1.0\n",
    )
    .unwrap();
    git(&fork, &["commit", "-qam", "a requirement nobody has"]);

    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "19.0", "--odoo-repo", fork.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("requirements.txt") && stderr.contains("slipway-no-such-package"),
        "{stderr}"
    );
    // The failed runtime is named in the message (its build log); neither it
    // nor its half-built directory is in the store.
    let at = stderr
        .find("runtime-19.0-")
        .expect("the failed image is named");
    let name = &stderr[at..at + "runtime-19.0-".len() + 16];
    assert_eq!(
        runtime_images(name),
        Vec::<String>::new(),
        "a failed runtime was kept"
    );
}

/// The runtime images of the store whose name starts with `prefix`,
/// complete or half-built: directories, not their lock files nor the logs of
/// failed builds.
fn runtime_images(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(common::images())
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(prefix))
        .collect();
    names.sort();
    names
}

/// Debian's packaged Odoo with a repository of addons beside it: enterprise
/// (or any) addons need no Odoo from source.
#[test]
fn packaged_odoo_takes_an_enterprise_repository_too() {
    let temp = tempfile::tempdir().unwrap();
    let enterprise = enterprise("19.0", &temp.path().join("enterprise"));
    let repo = repository(temp.path(), "uses_enterprise");
    let run = ci_json(
        &repo,
        "19.0",
        &["--enterprise-repo", enterprise.to_str().unwrap()],
    );
    run.assert_status("success");
    assert_eq!(run.json["tests"]["run"], 1, "{}", run.json);
    let names: Vec<&str> = run.json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|source| source["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["enterprise"]);
}
