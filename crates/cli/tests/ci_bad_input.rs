//! Bad input to `slipway ci` and `slipway image`: a clear message, exit 2, and
//! nothing left behind.

mod common;

use std::process::Output;

use common::{git, repository, require_root, slipway, FIXTURES};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_path_that_is_not_a_git_repository_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let output = slipway()
        .arg("ci")
        .arg(temp.path())
        .args(["--odoo", "14.0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("is not a git repository")
            && message.contains(&temp.path().display().to_string()),
        "{message}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout, even with errors"
    );
}

#[test]
fn a_repository_without_commit_says_so() {
    let temp = tempfile::tempdir().unwrap();
    git(temp.path(), &["init", "-q"]);
    let output = slipway()
        .arg("ci")
        .arg(temp.path())
        .args(["--odoo", "14.0", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("has no commit yet"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_series_without_a_debian_package_asks_for_odoo_s_source() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "16.0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("no package of Odoo 16.0 (only of 14.0 and 19.0)")
            && message.contains("--odoo-repo"),
        "{message}"
    );
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "sixteen"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("unknown Odoo version 'sixteen'") && message.contains("16.0"),
        "{message}"
    );
}

#[test]
fn missing_odoo_option_is_a_usage_error() {
    let output = slipway().args(["ci", FIXTURES]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--odoo"), "{}", stderr(&output));
}

#[test]
fn a_repository_without_addons_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("empty");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README.md"), "no addons here").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "readme"]);
    // A data dir of its own: what the failed build leaves is exactly what is there.
    let own_home = temp.path().join("home");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0", "--json"])
        .env("SLIPWAY_HOME", &own_home)
        .output()
        .unwrap();
    let _ = slipway()
        .args(["postgres", "stop"])
        .env("SLIPWAY_HOME", &own_home)
        .output();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("no Odoo addons found in")
            && message.contains(&repo.display().to_string()),
        "{message}"
    );
    assert!(output.stdout.is_empty());
    let left = |dir: &str| {
        std::fs::read_dir(own_home.join(dir))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    assert_eq!(left("builds"), 0, "the failed build left its directory");
    assert_eq!(left("runs"), 0, "the failed build left its run marker");
}

#[test]
fn a_manifest_syntax_error_names_file_and_line() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "manifest_syntax_error");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    // The comma is missing at the end of line 3 (Python itself would blame
    // line 4, where the glued string meets the ':').
    let expected = repo.join("broken_addon/__manifest__.py:3:");
    assert!(
        message.contains(&expected.display().to_string()),
        "{message}"
    );
    assert!(message.contains("missing ','"), "{message}");
    assert_eq!(
        message.matches("expected ','").count(),
        1,
        "said once: {message}"
    );
}

#[test]
fn unknown_module_in_modules_option_lists_the_available_ones() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0", "--modules", "nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("unknown module 'nope'") && message.contains("green_addon"),
        "{message}"
    );
}

#[test]
fn missing_postgresql_binaries_are_explained() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0"])
        .env("SLIPWAY_HOME", temp.path().join("home"))
        .env("SLIPWAY_PG_BINDIR", temp.path().join("no-postgres-here"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("PostgreSQL server binaries not found")
            && message.contains("apt-get install postgresql"),
        "{message}"
    );
}

#[test]
fn an_invalid_ignore_rule_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "missing_dependency");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0", "--ignore-log", "(unclosed"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("(unclosed"), "{}", stderr(&output));
}

#[test]
fn an_image_build_without_network_fails_cleanly() {
    require_root("debootstrap builds the image");
    let temp = tempfile::tempdir().unwrap();
    let images = temp.path().join("images");
    // Port 9 (discard) on loopback: connection refused, like a dead mirror.
    let output = slipway()
        .args([
            "image",
            "build",
            "14.0",
            "--mirror",
            "http://127.0.0.1:9/debian",
        ])
        .env("SLIPWAY_IMAGE_DIR", &images)
        .env("SLIPWAY_HOME", temp.path().join("home"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("image build step 'debootstrap' failed") && message.contains("full log:"),
        "{message}"
    );
    let left: Vec<String> = std::fs::read_dir(&images)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".lock-") && !name.ends_with(".failed.log"))
        .collect();
    assert!(left.is_empty(), "half-built image left behind: {left:?}");
    let list = slipway()
        .args(["image", "list"])
        .env("SLIPWAY_IMAGE_DIR", &images)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("no images"));
}

#[test]
fn a_sub_folder_builds_only_the_addons_under_it_and_uncommitted_changes_are_announced() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("mono");
    std::fs::create_dir_all(repo.join("broken")).unwrap();
    std::fs::create_dir_all(repo.join("needy")).unwrap();
    let copy = |fixture: &str, addon: &str, to: &str| {
        let from = std::path::Path::new(FIXTURES).join(fixture).join(addon);
        for file in ["__manifest__.py", "__init__.py"] {
            std::fs::create_dir_all(repo.join(to).join(addon)).unwrap();
            std::fs::copy(from.join(file), repo.join(to).join(addon).join(file)).unwrap();
        }
    };
    copy("manifest_syntax_error", "broken_addon", "broken");
    copy("missing_dependency", "needy_addon", "needy");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "two folders"]);
    std::fs::write(
        repo.join("needy/needy_addon/__init__.py"),
        "# edited, not committed\n",
    )
    .unwrap();
    let output = slipway()
        .arg("ci")
        .arg(repo.join("needy"))
        .args(["--odoo", "14.0", "--json"])
        .output()
        .unwrap();
    // The broken manifest in the other folder is not read: the build runs and
    // fails on needy_addon's missing dependency.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["modules"], serde_json::json!(["needy_addon"]));
    assert!(
        stderr(&output).contains("has uncommitted changes"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn ci_builds_a_missing_image_itself_and_says_so() {
    require_root("debootstrap builds the image");
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "19.0", "--mirror", "http://127.0.0.1:9/debian"])
        .env("SLIPWAY_IMAGE_DIR", temp.path().join("images"))
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(
        message.contains("image odoo-19.0-")
            && message.contains("is not built yet: building it now"),
        "{message}"
    );
    // The mirror is dead: the build stops there, as an infrastructure error.
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("debootstrap"), "{message}");
}

/// Regression: as root, `SLIPWAY_HOME=/root/slipway` died in initdb with
/// "Permission denied" on a file the `slipway` account could not reach.
#[test]
fn regression_data_dir_the_build_account_cannot_reach_is_refused_before_initdb() {
    use std::os::unix::fs::PermissionsExt;
    require_root("the build account differs from the caller only under root");
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let private = temp.path().join("root-like");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = private.join("slipway");
    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", "14.0"])
        .env("SLIPWAY_HOME", &home)
        .env_remove("SLIPWAY_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("cannot enter {} (mode 0700", private.display())),
        "{message}"
    );
    assert!(!home.join("postgres").join("data").exists(), "initdb ran");
}
