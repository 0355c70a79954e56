//! "Connect": slipway's own Odoo addon `slipway_connect`, through which
//! slipway's server opens an Odoo session for a user of a served build without
//! anyone typing a password. Every served Odoo loads it server-wide from a
//! read-only mount; the build's `odoo.conf` holds the secret the addon asks of
//! its callers.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::option;
use crate::{BuildError, Layout};

/// The addon's route on a served build's Odoo: `GET` with `login` and an
/// optional relative `redirect`; answers 303 with Odoo's session cookie.
pub const CONNECT_PATH: &str = "/slipway/connect";
/// The request header that must carry the build's secret; without it the
/// route answers 404 like any unknown path.
pub const CONNECT_SECRET_HEADER: &str = "X-Slipway-Connect";

const MODULE: &str = "slipway_connect";
/// The `odoo.conf` key of the secret (the addon reads it from Odoo's config).
const SECRET_OPTION: &str = "slipway_connect_secret";
/// Where a served sandbox sees the directory holding the addon.
pub(crate) const ADDONS_MOUNT: &str = "/mnt/slipway-addons";
/// Random bytes of a build's secret.
const SECRET_BYTES: usize = 24;

type ModuleFiles = [(&'static str, &'static str)];

const MODULE_FILES: &ModuleFiles = &[
    (
        "__init__.py",
        include_str!("../odoo_addons/slipway_connect/__init__.py"),
    ),
    (
        "__manifest__.py",
        include_str!("../odoo_addons/slipway_connect/__manifest__.py"),
    ),
    (
        "controllers.py",
        include_str!("../odoo_addons/slipway_connect/controllers.py"),
    ),
];

/// Writes the addon under `<home>/odoo-addons/<digest of its files>/` unless
/// it is there, and returns that directory (an Odoo addons path).
pub(crate) fn install_addon(layout: &Layout) -> Result<PathBuf, BuildError> {
    install_files(&layout.odoo_addons(), MODULE_FILES)
}

fn install_files(root: &Path, files: &ModuleFiles) -> Result<PathBuf, BuildError> {
    let dir = root.join(digest(files));
    // Complete or absent: it only ever appears by a rename.
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(root).map_err(BuildError::io("creating", root))?;
    // Odoo runs as the build account: whatever the umask, it must read the addon.
    set_mode(root, 0o755)?;
    let staging = root.join(format!(".partial-{}", slipway_postgres::random_secret(6)));
    let written =
        write_module(&staging, files).and_then(|()| match std::fs::rename(&staging, &dir) {
            Ok(()) => Ok(()),
            // Another start wrote the same content first.
            Err(_) if dir.is_dir() => Ok(()),
            Err(error) => Err(BuildError::io("renaming into", &dir)(error)),
        });
    let _ = std::fs::remove_dir_all(&staging);
    written?;
    tracing::info!(dir = %dir.display(), "slipway's Connect addon written");
    Ok(dir)
}

fn write_module(staging: &Path, files: &ModuleFiles) -> Result<(), BuildError> {
    let module = staging.join(MODULE);
    std::fs::create_dir_all(&module).map_err(BuildError::io("creating", &module))?;
    set_mode(staging, 0o755)?;
    set_mode(&module, 0o755)?;
    for (name, text) in files {
        let path = module.join(name);
        std::fs::write(&path, text).map_err(BuildError::io("writing", &path))?;
        set_mode(&path, 0o644)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BuildError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(BuildError::io("chmod", path))
}

/// Names the content: a new slipway with another addon writes a new directory
/// instead of changing one that a running Odoo may be reading.
fn digest(files: &ModuleFiles) -> String {
    let mut hash = Sha256::new();
    for (name, text) in files {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())[..16].to_string()
}

/// The secret of a build's `odoo.conf` text, if it has one.
fn secret_in(config: &str) -> Option<&str> {
    option(config, SECRET_OPTION).filter(|secret| !secret.is_empty())
}

/// Reads the secret from a build's `odoo.conf`.
pub(crate) fn read_secret(config_file: &Path) -> Result<String, BuildError> {
    let text =
        std::fs::read_to_string(config_file).map_err(BuildError::io("reading", config_file))?;
    secret_in(&text)
        .map(str::to_string)
        .ok_or_else(|| BuildError::NoConnectSecret(config_file.to_path_buf()))
}

/// Gives a build's `odoo.conf` (whose text is `config`) a secret unless it has
/// one; true when it was added. Builds made before Connect existed get theirs
/// when they are served again. Appended: the file keeps its mode, its owner
/// and every other line. Not written when the build is made: its install and
/// test runs would log 19.0's warning about an option Odoo does not know.
pub(crate) fn ensure_secret(config_file: &Path, config: &str) -> Result<bool, BuildError> {
    use std::io::Write;
    if secret_in(config).is_some() {
        return Ok(false);
    }
    let line = format!(
        "{SECRET_OPTION} = {}\n",
        slipway_postgres::random_secret(SECRET_BYTES)
    );
    if option(config, SECRET_OPTION).is_some() {
        // An empty one: replaced, as Odoo refuses a key given twice.
        let mut rewritten: String = config
            .lines()
            .filter(|line| option(line, SECRET_OPTION).is_none())
            .map(|line| format!("{line}\n"))
            .collect();
        rewritten.push_str(&line);
        // Same file, same mode and owner: only its content changes.
        std::fs::write(config_file, rewritten).map_err(BuildError::io("writing", config_file))?;
        return Ok(true);
    }
    let separator = if config.is_empty() || config.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    std::fs::OpenOptions::new()
        .append(true)
        .open(config_file)
        .and_then(|mut file| file.write_all(format!("{separator}{line}").as_bytes()))
        .map_err(BuildError::io("writing", config_file))?;
    Ok(true)
}

/// Odoo's options that load the addon: its directory after the build's own
/// addons path (on the command line, so that the config stays right for runs
/// without the mount), and the module server-wide, which routes its
/// controller on the build's database without installing it there.
pub(crate) fn server_options(config_file: &Path, config: &str) -> Result<Vec<String>, BuildError> {
    let addons_path = option(config, "addons_path")
        .filter(|path| !path.is_empty())
        .ok_or_else(|| {
            BuildError::Host(format!(
                "{} has no addons_path; rebuild the branch",
                config_file.display()
            ))
        })?;
    Ok(vec![
        "--addons-path".to_string(),
        format!("{addons_path},{ADDONS_MOUNT}"),
        "--load".to_string(),
        format!("base,web,{MODULE}"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str =
        "[options]\ndb_name = slipway_b_1\naddons_path = /odoo/addons,/mnt/src\nsmtp_port = 25\n";

    fn config_file(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("odoo.conf");
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600).unwrap();
        path
    }

    #[test]
    fn a_secret_is_added_once_and_kept_with_the_file_s_mode_and_lines() {
        let temp = tempfile::tempdir().unwrap();
        let path = config_file(temp.path(), CONFIG);
        if crate::host::is_root() {
            std::os::unix::fs::chown(&path, Some(4321), Some(4321)).unwrap();
        }
        assert!(matches!(
            read_secret(&path),
            Err(BuildError::NoConnectSecret(_))
        ));

        assert!(ensure_secret(&path, CONFIG).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = read_secret(&path).unwrap();
        assert!(secret.len() >= 2 * SECRET_BYTES, "{secret}");
        assert_eq!(text, format!("{CONFIG}{SECRET_OPTION} = {secret}\n"));

        // Later starts keep it.
        assert!(!ensure_secret(&path, &text).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(read_secret(&path).unwrap(), secret);

        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        if crate::host::is_root() {
            assert_eq!((meta.uid(), meta.gid()), (4321, 4321));
        }
    }

    #[test]
    fn each_build_gets_its_own_secret_on_a_line_of_its_own() {
        let temp = tempfile::tempdir().unwrap();
        let unterminated = CONFIG.trim_end();
        let first = config_file(temp.path(), unterminated);
        assert!(ensure_secret(&first, unterminated).unwrap());
        let text = std::fs::read_to_string(&first).unwrap();
        assert!(text.starts_with(CONFIG), "{text}");
        assert_eq!(option(&text, "smtp_port"), Some("25"));
        let other_dir = tempfile::tempdir().unwrap();
        let second = config_file(other_dir.path(), CONFIG);
        ensure_secret(&second, CONFIG).unwrap();
        assert_ne!(read_secret(&first).unwrap(), read_secret(&second).unwrap());
    }

    #[test]
    fn an_empty_secret_is_no_secret() {
        let text = format!("{CONFIG}{SECRET_OPTION} = \n");
        assert_eq!(secret_in(&text), None);
        let temp = tempfile::tempdir().unwrap();
        let path = config_file(temp.path(), &text);
        assert!(ensure_secret(&path, &text).unwrap());
        let rewritten = std::fs::read_to_string(&path).unwrap();
        let secret = read_secret(&path).unwrap();
        assert_eq!(rewritten, format!("{CONFIG}{SECRET_OPTION} = {secret}\n"));
        assert!(!secret.is_empty());
    }

    #[test]
    fn the_addon_is_appended_to_the_build_s_addons_path_and_loaded_server_wide() {
        let path = Path::new("/b/odoo.conf");
        assert_eq!(
            server_options(path, CONFIG).unwrap(),
            [
                "--addons-path",
                "/odoo/addons,/mnt/src,/mnt/slipway-addons",
                "--load",
                "base,web,slipway_connect"
            ]
        );
        let error = server_options(path, "[options]\n").unwrap_err();
        assert!(error.to_string().contains("/b/odoo.conf"), "{error}");
    }

    #[test]
    fn the_addon_is_written_once_under_a_name_of_its_content() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::at(home.path());
        let dir = install_addon(&layout).unwrap();
        assert_eq!(dir.parent().unwrap(), home.path().join("odoo-addons"));
        assert_eq!(
            dir.file_name().unwrap().to_string_lossy(),
            digest(MODULE_FILES)
        );
        for (name, text) in MODULE_FILES {
            let path = dir.join(MODULE).join(name);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), *text);
            use std::os::unix::fs::MetadataExt;
            assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        }
        let manifest = std::fs::read_to_string(dir.join(MODULE).join("__manifest__.py")).unwrap();
        assert!(manifest.contains("'installable': False"));

        // A second start finds it and writes nothing.
        let modified = std::fs::metadata(dir.join(MODULE).join("controllers.py"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(install_addon(&layout).unwrap(), dir);
        assert_eq!(
            std::fs::metadata(dir.join(MODULE).join("controllers.py"))
                .unwrap()
                .modified()
                .unwrap(),
            modified
        );

        // Other content (a newer slipway) goes to another directory; the
        // first one stays for the Odoo servers still reading it.
        let newer: &ModuleFiles = &[("__init__.py", "# newer\n")];
        let newer_dir = install_files(&layout.odoo_addons(), newer).unwrap();
        assert_ne!(newer_dir, dir);
        assert!(dir.join(MODULE).join("controllers.py").is_file());
        assert_eq!(
            std::fs::read_to_string(newer_dir.join(MODULE).join("__init__.py")).unwrap(),
            "# newer\n"
        );
    }

    #[test]
    fn concurrent_starts_see_the_whole_addon_and_leave_no_partial_copy() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::at(home.path());
        let dirs: Vec<PathBuf> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| install_addon(&layout).unwrap()))
                .collect();
            starts
                .into_iter()
                .map(|start| {
                    let dir = start.join().unwrap();
                    // Whoever returns sees every file, whoever wrote them.
                    for (name, text) in MODULE_FILES {
                        assert_eq!(
                            std::fs::read_to_string(dir.join(MODULE).join(name)).unwrap(),
                            *text
                        );
                    }
                    dir
                })
                .collect()
        });
        assert!(dirs.iter().all(|dir| *dir == dirs[0]));
        let entries: Vec<_> = std::fs::read_dir(home.path().join("odoo-addons"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(entries, [dirs[0].file_name().unwrap().to_os_string()]);
    }
}
