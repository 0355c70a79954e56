//! `slipway ci` end to end: real git repositories, real Odoo 14.0 and 19.0 in
//! bubblewrap, real PostgreSQL. Each scenario runs on both versions.

mod common;

use common::{assert_cleaned_up, ci_json, git, repository, slipway};

const V14: &str = "14.0";
const V19: &str = "19.0";

/// `scenario::v14` and `scenario::v19`: the scenario against each Odoo version.
macro_rules! on_both_versions {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn v14() {
                super::$scenario(super::V14).await;
            }

            #[tokio::test]
            async fn v19() {
                super::$scenario(super::V19).await;
            }
        }
    };
}

async fn passing_repository_succeeds_with_its_test_count(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let run = ci_json(&repo, version, &[]);
    run.assert_status("success");
    assert_eq!(run.code(), 0);
    assert_eq!(run.json["modules"], serde_json::json!(["green_addon"]));
    assert_eq!(
        run.json["tests"],
        serde_json::json!({"run": 3, "failed": 0, "errors": 0, "skipped": 0})
    );
    assert_eq!(run.json["odoo"], version);
    assert_eq!(run.json["commit"], git(&repo, &["rev-parse", "HEAD"]));
    assert!(run.json["duration_s"].as_f64().unwrap() > 0.0);
    let log = std::path::PathBuf::from(run.json["log"].as_str().unwrap());
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("Modules loaded."),
        "full log kept on disk"
    );
    assert_eq!(run.json["sources"], serde_json::json!([]), "Debian's Odoo");
    let keys: Vec<&String> = run.json.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 10, "exactly the contract's fields: {keys:?}");
    assert_cleaned_up(&run.build_id()).await;
}

on_both_versions!(passing_repository_succeeds_with_its_test_count);

async fn failing_test_fails_and_is_named(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "failing_test");
    let run = ci_json(&repo, version, &[]);
    assert_eq!(run.json["status"], "failed", "{}", run.json);
    assert_eq!(run.code(), 1);
    assert_eq!(run.json["tests"]["run"], 2);
    assert_eq!(run.json["tests"]["failed"], 1);
    let errors = run.errors_text();
    assert!(errors.contains("test_fails"), "failed test named: {errors}");
    assert!(
        errors.contains("arithmetic is broken on purpose"),
        "traceback kept: {errors}"
    );
    assert_cleaned_up(&run.build_id()).await;

    // The human summary names it too.
    let human = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", version])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(1));
    assert!(
        stdout.contains("failed tests:") && stdout.contains("TestArithmetic.test_fails"),
        "{stdout}"
    );
}

on_both_versions!(failing_test_fails_and_is_named);

async fn module_raising_at_install_fails(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "raises_at_install");
    let run = ci_json(&repo, version, &[]);
    assert_eq!(run.json["status"], "failed", "{}", run.json);
    assert_eq!(run.code(), 1);
    assert!(
        run.errors_text()
            .contains("exploding_addon refuses to install"),
        "{}",
        run.json
    );
    assert_cleaned_up(&run.build_id()).await;
}

on_both_versions!(module_raising_at_install_fails);

async fn module_warning_at_install_is_yellow(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "warns_at_install");
    let run = ci_json(&repo, version, &[]);
    assert_eq!(run.json["status"], "warning", "{}", run.json);
    assert_eq!(run.code(), 0, "a warning does not fail the build");
    assert!(
        run.json["warnings"].to_string().contains("access rules"),
        "{}",
        run.json
    );

    // An ignore rule demotes it: green.
    let run = ci_json(&repo, version, &["--ignore-log", "no access rules"]);
    assert_eq!(run.json["status"], "success", "{}", run.json);
}

on_both_versions!(module_warning_at_install_is_yellow);

async fn missing_dependency_fails_naming_it(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "missing_dependency");
    let run = ci_json(&repo, version, &[]);
    assert_eq!(run.json["status"], "failed", "{}", run.json);
    assert_eq!(run.code(), 1);
    let errors = run.errors_text();
    assert!(
        errors.contains("no_such_module") && errors.contains("needy_addon"),
        "{errors}"
    );
    assert_cleaned_up(&run.build_id()).await;
}

on_both_versions!(missing_dependency_fails_naming_it);

async fn addons_in_sub_folders_and_submodules_are_found(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let origin = repository(temp.path(), "submodule_origin");
    let repo = repository(temp.path(), "nested");
    git(
        &repo,
        &[
            "submodule",
            "add",
            "-q",
            origin.to_str().unwrap(),
            "vendor/shared",
        ],
    );
    git(&repo, &["commit", "-qm", "vendor the shared addons"]);
    let run = ci_json(&repo, version, &[]);
    run.assert_status("success");
    assert_eq!(
        run.json["modules"],
        serde_json::json!(["nested_addon", "vendored_addon"])
    );
    assert_eq!(run.json["tests"]["run"], 2);
}

on_both_versions!(addons_in_sub_folders_and_submodules_are_found);

async fn second_build_uses_the_template(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    // Whatever the first build found, the second one must copy a template...
    let first = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", version])
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", version])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(0));
    assert!(
        stdout.contains("database: copied from template"),
        "{stdout}"
    );
    let log = stdout
        .lines()
        .find_map(|l| l.strip_prefix("log: "))
        .unwrap();
    let odoo_log = std::fs::read_to_string(log).unwrap();
    // ...so that base is not installed again: only the repository's module loads.
    assert!(
        !odoo_log.contains("Loading module base "),
        "base was reinstalled"
    );
    assert!(odoo_log.contains("green_addon"));
    // ...and --no-template installs everything.
    let scratch = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", version, "--no-template"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&scratch.stdout);
    assert_eq!(scratch.status.code(), Some(0));
    assert!(stdout.contains("installed from scratch"), "{stdout}");
}

on_both_versions!(second_build_uses_the_template);

/// Regression: Odoo 19.0 exits 0 without installing a module whose manifest
/// version belongs to another series; the build must not come out green.
#[tokio::test]
async fn v19_module_with_other_series_version_is_not_silently_skipped() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "other_series_version");
    let run = ci_json(&repo, V19, &[]);
    assert_eq!(run.json["status"], "failed", "{}", run.json);
    assert!(
        run.errors_text()
            .contains("module old_series_addon was not installed"),
        "{}",
        run.json
    );
}

#[tokio::test]
async fn v14_a_build_past_its_time_limit_is_stopped_and_failed() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let run = ci_json(&repo, V14, &["--timeout", "1", "--no-template"]);
    assert_eq!(run.json["status"], "failed", "{}", run.json);
    assert!(
        run.errors_text().contains("time limit of 1 s"),
        "{}",
        run.json
    );
    assert_cleaned_up(&run.build_id()).await;
}

#[tokio::test]
async fn v14_kept_build_serves_odoo_from_its_start_script_and_is_removed_on_request() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", V14, "--keep"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let script = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("start Odoo on it:"))
        .unwrap()
        .trim();
    let (script, url) = script.split_once("   (then open ").unwrap();
    let url = url.trim_end_matches(')');
    let id = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("remove it:"))
        .unwrap()
        .trim();
    let id = id.rsplit(' ').next().unwrap().to_string();
    let cluster = common::admin_cluster();
    assert!(cluster
        .database_exists(&format!("slipway_b_{id}"))
        .await
        .unwrap());

    let mut odoo = std::process::Command::new(script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let answered = wait_for_http_200(port, "/web/login", std::time::Duration::from_secs(60));
    odoo.kill().unwrap();
    odoo.wait().unwrap();
    assert!(answered, "the kept build's Odoo never answered on {url}");

    let listed = slipway().args(["kept", "list"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&id),
        "kept list names the build"
    );
    let removed = slipway().args(["kept", "remove", &id]).output().unwrap();
    assert_eq!(
        removed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_cleaned_up(&id).await;
}

fn wait_for_http_200(port: u16, path: &str, limit: std::time::Duration) -> bool {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut head = [0u8; 12];
            if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.0 200") {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    false
}

#[tokio::test]
async fn v14_an_external_cluster_given_by_url_is_used() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "passing");
    // The tests' own embedded cluster, reached as an external one by URL.
    let cluster = common::admin_cluster();
    slipway().args(["postgres", "start"]).output().unwrap();
    let password =
        std::fs::read_to_string(common::home().join("postgres/superuser.password")).unwrap();
    let slipway_postgres::Endpoint::Socket { dir, port } = &cluster.endpoint else {
        panic!("socket endpoint")
    };
    let url = format!(
        "host={} port={port} user=slipway password={}",
        dir.display(),
        password.trim()
    );
    let other_home = temp.path().join("home");
    let output = slipway()
        .arg("ci")
        .arg(&repo)
        .args(["--odoo", V14, "--json"])
        .env("SLIPWAY_HOME", &other_home)
        .env("SLIPWAY_DATABASE_URL", url)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["status"],
        "success",
        "{json}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !other_home.join("postgres").exists(),
        "no embedded cluster was created"
    );
}

async fn requirements_are_installed_for_the_build_not_the_image(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "requirements");
    let run = ci_json(&repo, version, &[]);
    run.assert_status("success");
    assert_eq!(run.json["tests"]["run"], 1);
    let images = common::images();
    let leaked = std::process::Command::new("find")
        .arg(&images)
        .args(["-path", "*/rootfs/*", "-name", "humanize", "-type", "d"])
        .output()
        .unwrap();
    assert!(
        leaked.stdout.is_empty(),
        "the image was modified: {}",
        String::from_utf8_lossy(&leaked.stdout)
    );
}

on_both_versions!(requirements_are_installed_for_the_build_not_the_image);

#[tokio::test]
async fn v14_requirements_that_cannot_be_installed_fail_the_build() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "bad_requirements");
    let run = ci_json(&repo, V14, &[]);
    assert_eq!(run.json["status"], "failed", "{}", run.json);
    assert!(
        run.errors_text()
            .contains("this-package-does-not-exist-slipway-4242"),
        "{}",
        run.json
    );
    assert!(run.json["log"].as_str().unwrap().ends_with("pip.log"));
    assert_cleaned_up(&run.build_id()).await;
}
