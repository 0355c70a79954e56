//! Step: the Python requirements. A repository's `requirements.txt` files,
//! installed for its builds (as Odoo.sh does) into a directory of their own that Odoo gets on its `PYTHONPATH`: the
//! image is never modified. The result is cached by the files' content and the
//! image, so an unchanged list costs nothing after the first build.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use slipway_odoo_log::IgnoreRules;
use slipway_sandbox::{HostUser, Mount, Network, SandboxSpec};

use crate::host::hand_over;
use crate::odoo::{OdooHost, OpenLog, SOURCE_MOUNT};
use crate::report::BuildReport;
use crate::steps::code::{Code, CodeSpec};
use crate::{BuildError, Engine, Event, Layout, LogFile, Observer, PreparedBuild};

const REQUIREMENTS_FILE: &str = "requirements.txt";
const TARGET_MOUNT: &str = "/mnt/pydeps-build";
const PIP_CACHE_MOUNT: &str = "/mnt/pip-cache";
const CA_BUNDLE_MOUNT: &str = "/run/slipway/ca-certificates.crt";
/// The host's trust store: behind a TLS-inspecting proxy only the host knows the
/// proxy's certificate authority.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const PIP_TIME_LIMIT: Duration = Duration::from_secs(15 * 60);
const TAIL_LINES: usize = 15;

/// Every `requirements.txt` of the checkout (sub-folders and submodules too,
/// dot-folders skipped), relative to it, sorted.
fn find(checkout: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![checkout.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir()
                && !name.starts_with('.')
                && name != "node_modules"
                && name != "__pycache__"
            {
                stack.push(entry.path());
            } else if file_type.is_file() && name == REQUIREMENTS_FILE {
                if let Ok(relative) = entry.path().strip_prefix(checkout) {
                    found.push(relative.to_path_buf());
                }
            }
        }
    }
    found.sort();
    found
}

/// The installed requirements of a build: the directory Odoo gets on its
/// `PYTHONPATH`, `None` when the repository has no requirements file.
pub(crate) struct Pydeps(pub Option<PathBuf>);

impl Engine {
    /// Installs the requirements files under the spec's sub-folder of the
    /// build's checkout, with pip on `network`. `None`: pip failed, the
    /// repository's fault, recorded in `report`.
    pub(crate) async fn install_requirements(
        &self,
        build: &PreparedBuild,
        code: &Code,
        spec: &CodeSpec<'_>,
        network: &Network,
        report: &mut BuildReport,
        observer: &dyn Observer,
    ) -> Result<Option<Pydeps>, BuildError> {
        let (source, subdir) = (&code.dir.source(), spec.subdir);
        let files: Vec<PathBuf> = find(&source.join(subdir))
            .into_iter()
            .map(|file| subdir.join(file))
            .collect();
        if files.is_empty() {
            return Ok(Some(Pydeps(None)));
        }
        let log_file = self.layout().log(&build.id, LogFile::Requirements);
        let host = self.odoo_host(spec.odoo);
        let pip = Pip {
            host: &host,
            checkout: source,
            network,
        };
        match install(self.layout(), &pip, &files, &log_file, observer).await? {
            Installed::Ready(dir) => Ok(Some(Pydeps(Some(dir)))),
            Installed::Failed(message) => {
                report.log = log_file;
                report.fail_early(message);
                Ok(None)
            }
        }
    }
}

/// What installing the requirements gave.
enum Installed {
    /// Directory to put on `PYTHONPATH`.
    Ready(PathBuf),
    /// pip failed: the repository's requirements cannot be installed.
    Failed(String),
}

/// Where pip runs: the image, the checkout, the network.
struct Pip<'a> {
    host: &'a OdooHost<'a>,
    checkout: &'a Path,
    network: &'a Network,
}

/// Installs `files` (relative to the checkout) with pip inside the sandbox,
/// or finds the cached result.
async fn install(
    layout: &Layout,
    pip: &Pip<'_>,
    files: &[PathBuf],
    log_file: &Path,
    observer: &dyn Observer,
) -> Result<Installed, BuildError> {
    let (host, checkout) = (pip.host, pip.checkout);
    let key = cache_key(&host.odoo.runtime, checkout, files)?;
    let root = layout.pydeps();
    let ready = root.join(&key);
    if ready.is_dir() {
        observer.event(Event::Notice(&format!(
            "reusing installed Python requirements {key}"
        )));
        return Ok(Installed::Ready(ready));
    }
    std::fs::create_dir_all(&root).map_err(BuildError::io("creating", &root))?;
    let lock = crate::locks::lock(
        &root.join(format!(".{key}.lock")),
        crate::locks::LockMode::Exclusive,
    )
    .await?;
    if ready.is_dir() {
        return Ok(Installed::Ready(ready));
    }
    observer.event(Event::Step(&format!(
        "installing Python requirements ({})",
        files.len()
    )));
    let building = root.join(format!("{key}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let cache = layout.pip_cache();
    for dir in [&building, &cache] {
        std::fs::create_dir_all(dir).map_err(BuildError::io("creating", dir))?;
        hand_over(dir, host.account).map_err(BuildError::io("chown", dir))?;
    }
    let spec = pip_spec(pip, &building, &cache);
    let mut argv: Vec<String> = [
        "python3",
        "-m",
        "pip",
        "install",
        "--no-input",
        "--progress-bar",
        "off",
        "--target",
        TARGET_MOUNT,
    ]
    .iter()
    .map(|word| word.to_string())
    .collect();
    for file in files {
        argv.push("--requirement".to_string());
        argv.push(
            Path::new(SOURCE_MOUNT)
                .join(file)
                .to_string_lossy()
                .into_owned(),
        );
    }
    let log = OpenLog::create(log_file)?;
    let outcome = host
        .execute(
            &spec,
            &argv,
            PIP_TIME_LIMIT,
            log,
            IgnoreRules::none(),
            observer,
        )
        .await?;
    drop(lock);
    if !outcome.exit.success() {
        let _ = std::fs::remove_dir_all(&building);
        let text = std::fs::read_to_string(log_file).unwrap_or_default();
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(TAIL_LINES)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Ok(Installed::Failed(format!(
            "installing {} failed ({}):\n{}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            outcome.exit,
            tail.join("\n")
        )));
    }
    std::fs::rename(&building, &ready).map_err(BuildError::io("renaming", &building))?;
    Ok(Installed::Ready(ready))
}

fn pip_spec(pip: &Pip<'_>, target: &Path, cache: &Path) -> SandboxSpec {
    let (host, checkout) = (pip.host, pip.checkout);
    let mut mounts = vec![
        Mount::read_only(checkout, SOURCE_MOUNT),
        Mount::read_write(target, TARGET_MOUNT),
        Mount::read_write(cache, PIP_CACHE_MOUNT),
    ];
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/bin:/usr/bin:/bin".to_string(),
        ),
        ("HOME".to_string(), "/tmp".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("PIP_CACHE_DIR".to_string(), PIP_CACHE_MOUNT.to_string()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".to_string(), "1".to_string()),
        // Debian marks its Python as externally managed (PEP 668); a --target
        // directory of our own is exactly what that asks for.
        ("PIP_BREAK_SYSTEM_PACKAGES".to_string(), "1".to_string()),
    ];
    if Path::new(HOST_CA_BUNDLE).is_file() {
        mounts.push(Mount::read_only(HOST_CA_BUNDLE, CA_BUNDLE_MOUNT));
        env.push(("PIP_CERT".to_string(), CA_BUNDLE_MOUNT.to_string()));
    }
    // Settings of slipway's own environment that pip inside the sandbox needs too.
    for name in slipway_image::PIP_ENVIRONMENT {
        if let Ok(value) = std::env::var(name) {
            env.push((name.to_string(), value));
        }
    }
    SandboxSpec {
        rootfs: host.odoo.runtime.rootfs(),
        mounts,
        env,
        workdir: "/tmp".into(),
        network: pip.network.clone(),
        uid: host.odoo.runtime.meta.odoo_uid,
        gid: host.odoo.runtime.meta.odoo_gid,
        run_as: host.account.map(|a| HostUser {
            uid: a.uid,
            gid: a.gid,
        }),
        hostname: "slipway-build".to_string(),
        cgroups: Vec::new(),
    }
}

fn cache_key(
    image: &slipway_image::Image,
    checkout: &Path,
    files: &[PathBuf],
) -> Result<String, BuildError> {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "slipway-pydeps 1\n{} {}\n",
        image.meta.name, image.meta.built_at_unix
    ));
    for file in files {
        let path = checkout.join(file);
        let content = std::fs::read(&path).map_err(BuildError::io("reading", &path))?;
        hasher.update(format!("{} {}\n", file.display(), content.len()));
        hasher.update(&content);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_files_are_found_everywhere_but_in_dot_folders() {
        let temp = tempfile::tempdir().unwrap();
        for path in [
            "requirements.txt",
            "vendor/oca/requirements.txt",
            ".git/requirements.txt",
            "a/b/not-requirements.txt",
        ] {
            let full = temp.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, "x\n").unwrap();
        }
        assert_eq!(
            find(temp.path()),
            vec![
                PathBuf::from("requirements.txt"),
                PathBuf::from("vendor/oca/requirements.txt")
            ]
        );
    }
}
