//! The stand-ins for Odoo's source repositories (`common::odoo_source`), which
//! the tests of builds from source clone: upstream's layout made from the
//! images' Odoo trees, two reproducible commits, reused across tests and runs;
//! and the enterprise repository with its one addon.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::odoo_source::{
    self, ENTERPRISE_ADDON, ENTERPRISE_FIELD, PATCHED_DEFAULT, PATCHED_FIELD, PATCH_LOG_LINE,
    REQUIREMENTS,
};
use common::{git, repository};

const RES_PARTNER: &str = "odoo/addons/base/models/res_partner.py";

fn major(series: &str) -> &str {
    series.split('.').next().unwrap()
}

/// Files of the repository's tip, as git records them: `(mode, path)`.
fn tracked(repo: &Path) -> Vec<(String, String)> {
    git(repo, &["ls-files", "-s"])
        .lines()
        .map(|line| {
            let (meta, path) = line.split_once('\t').unwrap();
            (
                meta.split(' ').next().unwrap().to_string(),
                path.to_string(),
            )
        })
        .collect()
}

/// Python would compile `source` (the host's Python: syntax only).
fn assert_python_parses(source: &str, what: &str) {
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), source.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{what} is not valid Python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn upstream_has_upstream_s_layout(series: &str) {
    let standin = odoo_source::upstream(series);
    let repo = &standin.repo;
    assert_eq!(standin.branch, series);
    assert_eq!(git(repo, &["symbolic-ref", "--short", "HEAD"]), series);
    assert_eq!(
        git(repo, &["status", "--porcelain"]),
        "",
        "a clean checkout"
    );

    let odoo_bin = std::fs::read_to_string(repo.join("odoo-bin")).unwrap();
    assert!(
        odoo_bin.starts_with("#!/usr/bin/env python3\n"),
        "{odoo_bin}"
    );
    assert!(odoo_bin.contains("__import__('os').environ['TZ'] = 'UTC'"));
    assert!(odoo_bin.contains("\nimport odoo"));
    assert!(odoo_bin.contains("odoo.cli.main()"));
    assert_python_parses(&odoo_bin, "odoo-bin");
    let mode = std::fs::metadata(repo.join("odoo-bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "odoo-bin is executable: {mode:o}");

    let release = std::fs::read_to_string(repo.join("odoo/release.py")).unwrap();
    assert!(
        release.contains(&format!("version_info = ({}, 0, 0, FINAL", major(series))),
        "{release}"
    );
    assert!(repo.join("odoo/addons/base/__manifest__.py").is_file());
    assert!(repo.join("addons/web/__manifest__.py").is_file());
    assert!(
        !repo.join("addons/base").exists(),
        "base lives in odoo/addons"
    );
    // 19.0 serves RPC from a server-wide addon of its own.
    assert_eq!(repo.join("addons/rpc").exists(), series == "19.0");

    let files = tracked(repo);
    let mode_of = |path: &str| {
        files
            .iter()
            .find(|(_, tracked)| tracked == path)
            .map(|(mode, _)| mode.as_str())
    };
    assert_eq!(mode_of("odoo-bin"), Some("100755"));
    for (_, path) in &files {
        let top = path.split('/').next().unwrap();
        assert!(
            ["odoo-bin", "odoo", "addons", "requirements.txt", "debian"].contains(&top),
            "{path}"
        );
        if let Some(rest) = path.strip_prefix("odoo/addons/") {
            assert!(
                rest == "__init__.py" || rest.starts_with("base/") || rest.starts_with("test_"),
                "only base and the test modules in odoo/addons: {path}"
            );
        }
        assert!(
            !path.contains("__pycache__") && !path.ends_with(".pyc"),
            "{path}"
        );
        assert!(
            !(path.ends_with(".po") && path.contains("/i18n/")),
            "translations are left out: {path}"
        );
    }
    assert!(
        mode_of("odoo/addons/base/i18n/base.pot").is_some(),
        "translation templates stay"
    );
    // Debian's links to /usr/share stay links, to where they point in the image.
    let links: Vec<&String> = files
        .iter()
        .filter(|(mode, _)| mode == "120000")
        .map(|(_, path)| path)
        .collect();
    assert!(!links.is_empty(), "web has Debian's symlinks");
    for link in links {
        let target = std::fs::read_link(repo.join(link)).unwrap();
        assert!(
            target.starts_with("/usr/share/"),
            "{link} -> {}",
            target.display()
        );
    }

    // Every addon of the image is there (base's data names the module
    // categories of all the manifests it finds), and web's dependencies.
    let addons = std::fs::read_dir(repo.join("addons")).unwrap().count();
    assert!(addons > 100, "{addons} addons");
    let web = odoo_source::read_manifest(&repo.join("addons/web"));
    for depend in web["depends"].as_array().into_iter().flatten() {
        let depend = depend.as_str().unwrap();
        assert!(
            depend == "base" || repo.join("addons").join(depend).is_dir(),
            "web needs {depend}"
        );
    }

    assert_eq!(
        std::fs::read_to_string(repo.join("requirements.txt")).unwrap(),
        REQUIREMENTS
    );
    let control = std::fs::read_to_string(repo.join("debian/control")).unwrap();
    assert!(control.starts_with("Source: odoo\n"), "{control}");
    let package = control
        .split("\n\n")
        .find(|paragraph| paragraph.starts_with("Package: odoo\n"))
        .expect("a Package: odoo paragraph");
    let depends: Vec<&str> = package
        .split("\nDepends:")
        .nth(1)
        .expect("Depends")
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|depend| !depend.is_empty() && !depend.starts_with("${"))
        .collect();
    assert!(depends.len() > 10, "{depends:?}");
    assert!(depends.contains(&"python3-psycopg2"), "{depends:?}");
}
common::on_both_versions!(upstream_has_upstream_s_layout);

fn upstream_patches_the_core_in_its_second_commit(series: &str) {
    let standin = odoo_source::upstream(series);
    let repo = &standin.repo;
    assert_eq!(
        git(repo, &["log", "--format=%H %s", &standin.branch]),
        format!(
            "{} patch the core\n{} import",
            standin.second, standin.first
        )
    );
    assert_eq!(
        git(
            repo,
            &["diff", "--name-only", &standin.first, &standin.second]
        ),
        RES_PARTNER
    );
    let before = git(repo, &["show", &format!("{}:{RES_PARTNER}", standin.first)]);
    let after = git(
        repo,
        &["show", &format!("{}:{RES_PARTNER}", standin.second)],
    );
    for marker in [PATCH_LOG_LINE, PATCHED_DEFAULT] {
        assert!(!before.contains(marker), "{marker} before the patch");
        assert!(after.contains(marker), "{marker} after the patch");
    }
    assert!(after.contains(&format!("\n_logger.info(\"{PATCH_LOG_LINE}\")\n")));
    assert!(after.contains("\nimport logging\n"));
    let field = after
        .lines()
        .find(|line| line.starts_with(&format!("    {PATCHED_FIELD} = fields.Char(")))
        .unwrap();
    assert!(
        field.ends_with(&format!(", default=\"{PATCHED_DEFAULT}\")")),
        "{field}"
    );
    assert_python_parses(&after, RES_PARTNER);
}
common::on_both_versions!(upstream_patches_the_core_in_its_second_commit);

fn upstream_is_built_once_and_reused(series: &str) {
    let built = odoo_source::upstream(series);
    let started = Instant::now();
    let again = odoo_source::upstream(series);
    let elapsed = started.elapsed();
    assert_eq!(again, built);
    assert!(
        elapsed < Duration::from_secs(2),
        "reusing the stand-in took {elapsed:?}"
    );
}
common::on_both_versions!(upstream_is_built_once_and_reused);

#[test]
#[should_panic(expected = "run `slipway image build 19.0` first")]
fn a_missing_image_says_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    odoo_source::odoo_image(empty.path(), "19.0");
}

fn enterprise_is_a_repository_of_one_addon(series: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = odoo_source::enterprise(series, temp.path());
    assert_eq!(git(&repo, &["symbolic-ref", "--short", "HEAD"]), series);
    assert_eq!(git(&repo, &["rev-list", "--count", series]), "1");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    let top: Vec<String> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".git")
        .collect();
    assert_eq!(top, [ENTERPRISE_ADDON], "a flat folder of addons");

    let addon = repo.join(ENTERPRISE_ADDON);
    let manifest = odoo_source::read_manifest(&addon);
    assert_eq!(manifest["version"], format!("{series}.1.0.0"));
    assert_eq!(manifest["depends"], serde_json::json!(["web"]));
    assert_eq!(manifest["license"], "OEEL-1");
    assert_eq!(manifest["installable"], true);
    let model = std::fs::read_to_string(addon.join("models/res_partner.py")).unwrap();
    assert!(model.contains("_inherit = \"res.partner\""));
    assert!(model.contains(&format!("{ENTERPRISE_FIELD} = fields.Boolean(")));
    for file in ["__init__.py", "models/__init__.py", "models/res_partner.py"] {
        assert_python_parses(&std::fs::read_to_string(addon.join(file)).unwrap(), file);
    }

    // Same content, same commit: reproducible like the upstream stand-in.
    let other = tempfile::tempdir().unwrap();
    assert_eq!(
        git(
            &odoo_source::enterprise(series, other.path()),
            &["rev-parse", "HEAD"]
        ),
        git(&repo, &["rev-parse", "HEAD"])
    );
}
common::on_both_versions!(enterprise_is_a_repository_of_one_addon);

#[test]
fn the_uses_enterprise_fixture_depends_on_the_enterprise_addon() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path(), "uses_enterprise");
    let addon = repo.join("uses_enterprise");
    let manifest = odoo_source::read_manifest(&addon);
    assert_eq!(manifest["depends"], serde_json::json!([ENTERPRISE_ADDON]));
    // A series-less version, which Odoo 14.0 and 19.0 both prefix with theirs.
    assert_eq!(manifest["version"], "1.0");
    let test = std::fs::read_to_string(addon.join("tests/test_enterprise_field.py")).unwrap();
    assert!(test.contains("TransactionCase") && test.contains(ENTERPRISE_FIELD));
    assert_python_parses(&test, "the fixture's test");
}
