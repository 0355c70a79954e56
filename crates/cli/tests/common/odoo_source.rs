//! Stand-ins for Odoo's source repositories, for the tests of "any Odoo from
//! source" (`slipway ci --odoo-repo URL --enterprise-repo URL`): there is no
//! GitHub here, so they are made from real Odoo source, the Odoo tree of
//! slipway's own Debian image of the series.
//!
//! - [`upstream`]: odoo/odoo at a branch of the series, in upstream's layout
//!   (`odoo-bin`, `odoo/`, `addons/`, `requirements.txt`, `debian/control`),
//!   trimmed to what starts a server and installs a module depending on `base`.
//!   Two commits: an import, then a patch of the core a test can observe
//!   ([`PATCH_LOG_LINE`] in the log, [`PATCHED_DEFAULT`] in the database).
//!   Built once per image and cached under the tests' data dir.
//! - [`enterprise`]: odoo/enterprise, a flat folder with one addon
//!   ([`ENTERPRISE_ADDON`], adding [`ENTERPRISE_FIELD`] to `res.partner`).
//!   The fixture `uses_enterprise` depends on it.
//!
//! Building one takes 2 to 4 s (14.0: 1,770 files, 37 MB of working tree and
//! 17 MB of `.git`, 63 MB on disk; 19.0: 3,103 files, 47 + 18 MB, 83 MB on
//! disk); later calls only read two commit ids (a few ms).
//!
//! Mind, when running a stand-in in slipway's image: Debian's own `odoo` is
//! importable there too, and both 14.0 (`pkgutil.extend_path` in
//! `odoo/__init__.py` and `odoo/addons/__init__.py`) and 19.0 (namespace
//! packages) merge it in: Odoo's addons path then lists Debian's
//! `/usr/lib/python3/dist-packages/odoo/addons` right after the stand-in's
//! `odoo/addons`, before its `addons/`, so `web` comes from Debian's tree and
//! Debian's auto-install addons get installed. `base` (hence the patch) is the
//! stand-in's.

use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;
use slipway_image::{Image, ImageStore, OdooVersion, Recipe};

use super::{git, home, images};

/// Bumped when what [`upstream`] builds changes: a new cache entry, hence new
/// commit ids, instead of a stale stand-in.
const FORMAT: u32 = 2;

/// Logged by `odoo.addons.base.models.res_partner` at import (INFO), on the
/// second commit of [`upstream`] only: every server start of a build of that
/// commit writes it to the Odoo log.
pub const PATCH_LOG_LINE: &str = "slipway stand-in: core patched";

/// The `res.partner` field whose default the second commit of [`upstream`]
/// sets: `function` ("Job Position"), a `Char` without a default in 14.0 and
/// 19.0 alike, stored in the column `res_partner.function`, and set by no data
/// of `base` but its demo data.
///
/// Odoo applies defaults in the ORM, not as SQL column defaults: create the
/// partner through Odoo (`env["res.partner"].create({"name": "Ada"})` in a test
/// or `odoo shell`, or XML-RPC `create`), then read it back with
/// `SELECT function FROM res_partner WHERE name = 'Ada'`: [`PATCHED_DEFAULT`]
/// on the second commit, NULL on the first. (A plain SQL `INSERT` gets NULL on
/// both.) Partners created while `base` installs (the company's, the admin's)
/// get it too.
pub const PATCHED_FIELD: &str = "function";

/// The default of [`PATCHED_FIELD`] on the second commit of [`upstream`].
pub const PATCHED_DEFAULT: &str = "slipway stand-in";

/// The one addon of [`enterprise`]'s repository.
pub const ENTERPRISE_ADDON: &str = "slipway_enterprise_feature";

/// The boolean field [`ENTERPRISE_ADDON`] adds to `res.partner` (column
/// `res_partner.slipway_enterprise_flag`). Not `x_…`: that prefix is Odoo's
/// for fields created in the database (Studio, Settings > Technical).
pub const ENTERPRISE_FIELD: &str = "slipway_enterprise_flag";

/// The `requirements.txt` of [`upstream`]: one pinned pure-Python package
/// Odoo uses.
pub const REQUIREMENTS: &str = "num2words==0.5.13\n";

/// Commit dates of the stand-ins, fixed so that commit ids are the same on
/// every run (for a given image).
const IMPORT_DATE: &str = "2024-01-01T00:00:00+00:00";
const PATCH_DATE: &str = "2024-01-02T00:00:00+00:00";

/// A stand-in for odoo/odoo. `repo` is a non-bare repository whose branch
/// `branch` (named like the series) has two commits: `first` ("import") and
/// `second` ("patch the core", its tip). Shared by every test of every run:
/// clone it, never commit into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooStandIn {
    pub repo: PathBuf,
    pub branch: String,
    pub first: String,
    pub second: String,
}

impl OdooStandIn {
    /// `file://` URL of the repository, for `--odoo-repo`.
    pub fn url(&self) -> String {
        format!("file://{}", self.repo.display())
    }
}

/// The stand-in for odoo/odoo at `series` ("14.0" or "19.0"), built from the
/// Odoo tree of slipway's image of that series (panics if that image was not
/// built) on first use, then reused. Parallel test processes wait for one
/// another: the build happens once.
pub fn upstream(series: &str) -> OdooStandIn {
    let image = odoo_image(&images(), series);
    let cache = home().join("standins");
    let name = format!("odoo-{series}-{}-v{FORMAT}", image.meta.recipe_id);
    let repo = cache.join(&name);
    if !repo.exists() {
        fs::create_dir_all(&cache).unwrap();
        let lock_path = cache.join(format!(".{name}.lock"));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .unwrap_or_else(|error| panic!("opening {}: {error}", lock_path.display()));
        lock.lock().unwrap();
        // Built by another process while this one waited?
        if !repo.exists() {
            // Left by an interrupted build (none can be running: we hold the lock).
            let partial = cache.join(format!(".{name}.partial"));
            if fs::symlink_metadata(&partial).is_ok() {
                fs::remove_dir_all(&partial).unwrap();
            }
            let started = Instant::now();
            build(series, &image, &partial);
            fs::rename(&partial, &repo).unwrap();
            eprintln!(
                "built the odoo {series} stand-in {} in {:.1?} ({} MB)",
                repo.display(),
                started.elapsed(),
                disk_usage(&repo) / 1_000_000
            );
        }
        drop(lock);
    }
    OdooStandIn {
        first: git(&repo, &["rev-parse", &format!("refs/heads/{series}~1")]),
        second: git(&repo, &["rev-parse", &format!("refs/heads/{series}")]),
        branch: series.to_string(),
        repo,
    }
}

/// A stand-in for odoo/enterprise at `series`, created in `dir/enterprise`:
/// a repository with one commit on the branch `series`, holding the addon
/// [`ENTERPRISE_ADDON`] at its root (depends on `web`, adds
/// [`ENTERPRISE_FIELD`] to `res.partner`, license OEEL-1). Returns its path.
pub fn enterprise(series: &str, dir: &Path) -> PathBuf {
    let repo = dir.join("enterprise");
    assert!(!repo.exists(), "{} exists already", repo.display());
    let addon = repo.join(ENTERPRISE_ADDON);
    fs::create_dir_all(addon.join("models")).unwrap();
    let manifest = format!(
        r#"# Stands in for an Odoo Enterprise addon in slipway's tests.
{{
    "name": "Slipway enterprise feature",
    "summary": "A field on contacts, from the enterprise repository",
    "version": "{series}.1.0.0",
    "category": "Hidden",
    "author": "slipway tests",
    "license": "OEEL-1",
    "depends": ["web"],
    "installable": True,
    "auto_install": False,
}}
"#
    );
    let model = format!(
        r#"from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    {ENTERPRISE_FIELD} = fields.Boolean(string="Enterprise flag")
"#
    );
    write(&addon.join("__manifest__.py"), &manifest);
    write(&addon.join("__init__.py"), "from . import models\n");
    write(
        &addon.join("models").join("__init__.py"),
        "from . import res_partner\n",
    );
    write(&addon.join("models").join("res_partner.py"), &model);
    git(&repo, &["init", "-q", "-b", series]);
    git(&repo, &["add", "-A", "-f"]);
    commit(&repo, "enterprise stand-in", IMPORT_DATE);
    repo
}

/// A Python literal (a manifest, a value of Odoo's source) as JSON, read with
/// Python's own `ast.literal_eval`, which evaluates literals and nothing else.
/// Tuples and sets come back as arrays.
pub fn python_literal(source: &str) -> Value {
    const SCRIPT: &str = "import ast, json, sys\n\
        def plain(value):\n    \
            if isinstance(value, dict):\n        \
                return {str(k): plain(v) for k, v in value.items()}\n    \
            if isinstance(value, (list, tuple, set, frozenset)):\n        \
                return [plain(v) for v in value]\n    \
            return value\n\
        print(json.dumps(plain(ast.literal_eval(sys.stdin.read()))))\n";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (it reads Python literals for the stand-ins)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(source.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "not a Python literal: {}\n{source}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The `__manifest__.py` of the addon in `addon`, as JSON.
pub fn read_manifest(addon: &Path) -> Value {
    let path = addon.join("__manifest__.py");
    let source = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let manifest = python_literal(&source);
    assert!(manifest.is_object(), "{} is not a dict", path.display());
    manifest
}

/// The image of `series` slipway uses (that of the current recipe) in the image
/// directory `images`. Panics, saying to build it, if it is missing.
pub fn odoo_image(images: &Path, series: &str) -> Image {
    let version: OdooVersion = series
        .parse()
        .unwrap_or_else(|error| panic!("no Odoo stand-in for {series:?}: {error}"));
    // Only the series Debian packages have an image to take Odoo's source from.
    let recipe = Recipe::for_version(version)
        .unwrap_or_else(|error| panic!("no Odoo stand-in for {series:?}: {error}"));
    let store = ImageStore::new(images);
    let missing = || {
        format!(
            "no Odoo {series} image in {}: run `slipway image build {series}` first",
            store.root().display()
        )
    };
    let image = store
        .find(&recipe)
        .unwrap_or_else(|error| panic!("{}: {error}", missing()))
        .unwrap_or_else(|| panic!("{}", missing()));
    assert!(
        odoo_tree(&image).join("release.py").is_file(),
        "{}: it has no Odoo tree",
        missing()
    );
    image
}

/// The `odoo` package of Debian's package in the image.
fn odoo_tree(image: &Image) -> PathBuf {
    image.core_addons_dir().parent().unwrap().to_path_buf()
}

fn build(series: &str, image: &Image, repo: &Path) {
    let rootfs = image.rootfs();
    let odoo = odoo_tree(image);
    let major = series.parse::<OdooVersion>().unwrap().major();

    // odoo/: the package; its addons are split as upstream has them: `base`
    // and the test modules in odoo/addons, every other one in addons/
    // (Debian merged them all into one folder). All of them: `base` makes
    // the module categories its data refers to from every manifest found.
    fs::create_dir_all(repo.join("odoo").join("addons")).unwrap();
    fs::create_dir_all(repo.join("addons")).unwrap();
    for entry in sorted_entries(&odoo) {
        let name = entry.file_name().unwrap();
        if name == "__pycache__" {
            continue;
        }
        if name != "addons" {
            copy_source(&entry, &repo.join("odoo").join(name), &odoo, &rootfs);
            continue;
        }
        for unit in sorted_entries(&entry) {
            let addon = unit.file_name().unwrap().to_string_lossy().into_owned();
            if addon == "__pycache__" || addon.starts_with('.') {
                continue;
            }
            let core = addon == "base" || addon == "__init__.py" || addon.starts_with("test_");
            let folder = if core { "odoo/addons" } else { "addons" };
            copy_source(&unit, &repo.join(folder).join(&addon), &unit, &rootfs);
        }
    }

    // Since 19.0 `odoo` is a namespace package: importing it imports nothing.
    let import = if odoo.join("__init__.py").exists() {
        "import odoo"
    } else {
        "import odoo.cli"
    };
    let odoo_bin = repo.join("odoo-bin");
    write(
        &odoo_bin,
        &format!(
            "#!/usr/bin/env python3\n\n\
             # set server timezone in UTC before time module imported\n\
             __import__('os').environ['TZ'] = 'UTC'\n\
             {import}\n\n\
             if __name__ == \"__main__\":\n    \
             odoo.cli.main()\n"
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&odoo_bin, fs::Permissions::from_mode(0o755)).unwrap();
    }
    write(&repo.join("requirements.txt"), REQUIREMENTS);
    let depends = package_depends(&rootfs, &format!("odoo-{major}"));
    fs::create_dir_all(repo.join("debian")).unwrap();
    write(&repo.join("debian/control"), &debian_control(&depends));

    git(repo, &["init", "-q", "-b", series]);
    git(repo, &["add", "-A", "-f"]);
    commit(repo, "import", IMPORT_DATE);
    patch_core(&repo.join("odoo/addons/base/models/res_partner.py"));
    git(repo, &["add", "-A", "-f"]);
    commit(repo, "patch the core", PATCH_DATE);
}

/// Copies `from` to `to`, leaving out compiled Python and translations
/// (`i18n/*.po`; templates `*.pot` stay). Symlinks stay symlinks: a relative
/// one that points inside `unit` (what is copied as a whole) as it is, the
/// others (Debian's links to /usr/share/javascript, fonts...) as the absolute
/// path they reach in the image, which is what Odoo runs in.
fn copy_source(from: &Path, to: &Path, unit: &Path, rootfs: &Path) {
    let file_type = fs::symlink_metadata(from).unwrap().file_type();
    if file_type.is_symlink() {
        let target = fs::read_link(from).unwrap();
        std::os::unix::fs::symlink(relocate_link(from, &target, unit, rootfs), to).unwrap();
    } else if file_type.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in sorted_entries(from) {
            let name = entry.file_name().unwrap();
            let translation = entry.extension().is_some_and(|ext| ext == "po")
                && from
                    .file_name()
                    .is_some_and(|dir| dir.to_string_lossy().starts_with("i18n"));
            let compiled = entry.extension().is_some_and(|ext| ext == "pyc");
            if name == "__pycache__" || translation || compiled {
                continue;
            }
            copy_source(&entry, &to.join(name), unit, rootfs);
        }
    } else if file_type.is_file() {
        fs::copy(from, to).unwrap_or_else(|error| panic!("copying {}: {error}", from.display()));
    }
}

fn relocate_link(link: &Path, target: &Path, unit: &Path, rootfs: &Path) -> PathBuf {
    if target.is_absolute() {
        return target.to_path_buf();
    }
    let mut reached: Vec<OsString> = link
        .parent()
        .unwrap()
        .strip_prefix(rootfs)
        .unwrap()
        .components()
        .map(|component| component.as_os_str().to_owned())
        .collect();
    for component in target.components() {
        match component {
            Component::ParentDir => {
                reached.pop();
            }
            Component::Normal(name) => reached.push(name.to_owned()),
            _ => {}
        }
    }
    let reached: PathBuf = reached.into_iter().collect();
    if rootfs.join(&reached).starts_with(unit) {
        target.to_path_buf()
    } else {
        Path::new("/").join(reached)
    }
}

/// The `Depends` of `package` in the image's dpkg status, one entry per
/// element (alternatives stay together).
fn package_depends(rootfs: &Path, package: &str) -> Vec<String> {
    let status = fs::read_to_string(rootfs.join("var/lib/dpkg/status")).unwrap();
    let paragraph = status
        .split("\n\n")
        .find(|paragraph| {
            paragraph
                .lines()
                .any(|line| line == format!("Package: {package}"))
        })
        .unwrap_or_else(|| panic!("no package {package} in the image's dpkg status"));
    let mut depends = String::new();
    let mut in_depends = false;
    for line in paragraph.lines() {
        if let Some(value) = line.strip_prefix("Depends:") {
            in_depends = true;
            depends.push_str(value);
        } else if in_depends && line.starts_with([' ', '\t']) {
            depends.push_str(line);
        } else {
            in_depends = false;
        }
    }
    let depends: Vec<String> = depends
        .split(',')
        .map(|depend| depend.trim().to_string())
        .filter(|depend| !depend.is_empty())
        .collect();
    assert!(!depends.is_empty(), "{package} has no Depends");
    depends
}

/// debian/control as upstream writes it: a source paragraph, then `odoo`
/// with one dependency a line, after debhelper's substitution variables.
fn debian_control(depends: &[String]) -> String {
    let mut control = String::from(
        "Source: odoo\n\
         Section: net\n\
         Priority: optional\n\
         Maintainer: Odoo S.A. <info@odoo.com>\n\
         Build-Depends: debhelper-compat (= 12), dh-python, python3, rsync, python3-setuptools\n\
         Standards-Version: 4.5.0\n\
         Homepage: http://www.odoo.com/\n\
         \n\
         Package: odoo\n\
         Architecture: all\n\
         Depends:\n \
         ${misc:Depends},\n \
         ${python3:Depends}",
    );
    for depend in depends {
        control.push_str(",\n ");
        control.push_str(depend);
    }
    control.push_str(
        "\nConflicts: tinyerp-server, openerp-server, openerp-web, openerp\n\
         Replaces: tinyerp-server, openerp-server, openerp-web, openerp\n\
         Recommends:\n \
         postgresql,\n \
         python3-ldap\n\
         Description: Open Source Apps To Grow Your Business\n \
         Odoo, formerly known as OpenERP, is a suite of open-source business apps\n \
         written in Python and released under the LGPLv3 license.\n",
    );
    control
}

/// The second commit's change, in res_partner.py of `base`: a module-level
/// log line ([`PATCH_LOG_LINE`]) and a default for [`PATCHED_FIELD`].
fn patch_core(path: &Path) {
    let source = fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    const LOGGER: &str = "_logger = logging.getLogger(__name__)";

    if !lines.iter().any(|line| line == LOGGER) {
        // As Odoo does: `import logging` among the standard library's imports,
        // `_logger` after the imports of odoo.
        let first_import = lines
            .iter()
            .position(|line| line.starts_with("import "))
            .expect("res_partner.py imports modules");
        let at = lines[first_import..]
            .iter()
            .position(|line| !line.starts_with("import ") || line.as_str() > "import logging")
            .map_or(lines.len(), |offset| first_import + offset);
        lines.insert(at, "import logging".to_string());
        let after = lines
            .iter()
            .position(|line| line.starts_with("from odoo.exceptions import "))
            .expect("res_partner.py imports odoo.exceptions");
        assert!(
            !lines[after].ends_with('('),
            "a one-line import of odoo.exceptions"
        );
        lines.insert(after + 1, String::new());
        lines.insert(after + 2, LOGGER.to_string());
    }
    let logger = lines.iter().position(|line| line == LOGGER).unwrap();
    lines.insert(logger + 1, format!("_logger.info({PATCH_LOG_LINE:?})"));

    let field = format!("    {PATCHED_FIELD} = fields.");
    let mut fields = lines
        .iter_mut()
        .filter(|line| line.starts_with(&field) && line.ends_with(')'));
    let definition = fields.next().expect("res.partner defines the field");
    assert!(fields.next().is_none(), "one definition of {PATCHED_FIELD}");
    assert!(!definition.contains("default="), "{definition}");
    definition.truncate(definition.len() - 1);
    definition.push_str(&format!(", default={PATCHED_DEFAULT:?})"));

    let mut patched = lines.join("\n");
    patched.push('\n');
    fs::write(path, patched).unwrap();
}

/// A commit with a fixed author, committer and date, so that its id is the same
/// on every run. Global and system configuration are left out (no signing, no
/// hooks).
fn commit(repo: &Path, message: &str, date: &str) {
    let output = Command::new("git")
        .args(["commit", "-q", "--no-verify", "-m", message])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "slipway tests")
        .env("GIT_AUTHOR_EMAIL", "tests@slipway.invalid")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_NAME", "slipway tests")
        .env("GIT_COMMITTER_EMAIL", "tests@slipway.invalid")
        .env("GIT_COMMITTER_DATE", date)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git commit in {}: {}",
        repo.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    entries
}

fn write(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
}

/// Bytes used by the files under `dir` (symlinks not followed).
pub fn disk_usage(dir: &Path) -> u64 {
    let metadata = fs::symlink_metadata(dir).unwrap();
    if metadata.is_dir() {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| disk_usage(&entry.unwrap().path()))
            .sum()
    } else {
        metadata.len()
    }
}
