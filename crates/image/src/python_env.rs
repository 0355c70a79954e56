//! The runtime part of an image build: the Debian packages of the source tree that
//! the release has, an `odoo` user, and a venv over Debian's Python with the
//! tree's requirements.txt installed by pip.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::builder::{apt_install, chroot, odoo_user, query, write_into, OdooFacts, StepRunner};
use crate::{ImageError, RuntimeRecipe};

/// The venv's interpreter: how a runtime's Odoo is started.
pub const VENV_PYTHON: &str = "/opt/odoo-venv/bin/python3";
const VENV: &str = "/opt/odoo-venv";
/// Kept in the image: the record of what pip installed.
const REQUIREMENTS_IN_IMAGE: &str = "/opt/odoo-venv/requirements.txt";
/// The host's trust store: behind a TLS-inspecting proxy only the host knows the
/// proxy's certificate authority. Copied in for pip, removed afterwards.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const CA_BUNDLE_IN_IMAGE: &str = "/tmp/slipway-host-ca-certificates.crt";
/// Settings of slipway's own environment that pip needs too (index, proxies).
pub const PIP_ENVIRONMENT: &[&str] = &[
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// How many progress steps `install` takes.
pub(crate) const STEPS: usize = 4;
const INSTALLING_PACKAGES: &str = "installing Debian packages";
const CREATING_USER: &str = "creating the odoo user";
const CREATING_VENV: &str = "creating the Python environment";
const INSTALLING_REQUIREMENTS: &str = "installing requirements.txt with pip";

/// Installs the runtime into `rootfs`, where apt is configured and updated.
pub(crate) fn install(
    recipe: &RuntimeRecipe,
    runner: &mut StepRunner<'_>,
    rootfs: &Path,
) -> Result<OdooFacts, ImageError> {
    install_available_packages(recipe, runner, rootfs)?;
    create_odoo_user(runner, rootfs)?;
    let ca_bundle = HostCaBundle::copy_into(rootfs)?;
    runner.run(
        CREATING_VENV,
        chroot(
            rootfs,
            &["python3", "-m", "venv", "--system-site-packages", VENV],
        ),
    )?;
    // Debian's pip (20.3 on bullseye) builds sdists in such a venv against the
    // system's setuptools, which fails (python-ldap); a current pip isolates them.
    runner.execute(
        CREATING_VENV,
        pip(rootfs, &ca_bundle, &["install", "--upgrade", "pip"]),
    )?;
    install_requirements(recipe, runner, rootfs, &ca_bundle)?;
    Ok(OdooFacts {
        odoo_package_version: String::new(),
        core_addons_path: String::new(),
        python: Some(VENV_PYTHON.to_string()),
    })
}

/// Installs the recipe's packages the release has; the others are named in the
/// log (a package renamed or dropped between releases must not fail the build).
fn install_available_packages(
    recipe: &RuntimeRecipe,
    runner: &mut StepRunner<'_>,
    rootfs: &Path,
) -> Result<(), ImageError> {
    runner.announce(INSTALLING_PACKAGES);
    let names = query(rootfs, &runner.log, &["apt-cache", "pkgnames"])?;
    let known: HashSet<&str> = names.lines().collect();
    let (available, missing): (Vec<&str>, Vec<&str>) = recipe
        .packages()
        .partition(|package| known.contains(package));
    if !missing.is_empty() {
        runner.note(
            INSTALLING_PACKAGES,
            format!(
                "not in {}, left out: {}",
                recipe.debian_release().codename,
                missing.join(" ")
            ),
        )?;
    }
    runner.execute(INSTALLING_PACKAGES, apt_install(rootfs, &available))
}

/// Odoo refuses to run as root; the sandbox maps the build to this user.
fn create_odoo_user(runner: &mut StepRunner<'_>, rootfs: &Path) -> Result<(), ImageError> {
    if odoo_user(rootfs)?.is_some() {
        runner.announce(CREATING_USER);
        return runner.note(CREATING_USER, "a package made it already".to_string());
    }
    runner.run(
        CREATING_USER,
        chroot(
            rootfs,
            &[
                "useradd",
                "--system",
                "--user-group",
                "--create-home",
                "--home-dir",
                "/var/lib/odoo",
                "--shell",
                "/usr/sbin/nologin",
                "odoo",
            ],
        ),
    )
}

fn install_requirements(
    recipe: &RuntimeRecipe,
    runner: &mut StepRunner<'_>,
    rootfs: &Path,
    ca_bundle: &HostCaBundle,
) -> Result<(), ImageError> {
    write_into(
        rootfs,
        REQUIREMENTS_IN_IMAGE,
        recipe.requirements().as_bytes(),
    )?;
    if !has_requirements(recipe.requirements()) {
        runner.announce(INSTALLING_REQUIREMENTS);
        return runner.note(
            INSTALLING_REQUIREMENTS,
            "requirements.txt is empty or missing: nothing to install".to_string(),
        );
    }
    runner.run(
        INSTALLING_REQUIREMENTS,
        pip(
            rootfs,
            ca_bundle,
            &["install", "--requirement", REQUIREMENTS_IN_IMAGE],
        ),
    )
}

/// The venv's pip with `args`, non-interactive, without a cache (it would stay in
/// the image), with slipway's index and proxy settings.
fn pip(rootfs: &Path, ca_bundle: &HostCaBundle, args: &[&str]) -> Command {
    let pip = format!("{VENV}/bin/pip");
    let mut command = chroot(rootfs, &[pip.as_str()]);
    command
        .args(args)
        .args(["--no-input", "--no-cache-dir", "--progress-bar", "off"])
        .env("HOME", "/root")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    for name in PIP_ENVIRONMENT {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    if ca_bundle.copied.is_some() {
        command.env("PIP_CERT", CA_BUNDLE_IN_IMAGE);
    }
    command
}

/// The host's trust store copied into the root for pip; removed when dropped, so
/// that the image keeps Debian's own.
struct HostCaBundle {
    copied: Option<PathBuf>,
}

impl HostCaBundle {
    fn copy_into(rootfs: &Path) -> Result<HostCaBundle, ImageError> {
        if !Path::new(HOST_CA_BUNDLE).is_file() {
            return Ok(HostCaBundle { copied: None });
        }
        let copy = rootfs.join(CA_BUNDLE_IN_IMAGE.trim_start_matches('/'));
        fs::copy(HOST_CA_BUNDLE, &copy).map_err(ImageError::io("copying", &copy))?;
        Ok(HostCaBundle { copied: Some(copy) })
    }
}

impl Drop for HostCaBundle {
    fn drop(&mut self) {
        if let Some(copy) = &self.copied {
            let _ = fs::remove_file(copy);
        }
    }
}

/// Whether a requirements text names anything (pip refuses an empty list).
fn has_requirements(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_no_requirements() {
        assert!(!has_requirements(""));
        assert!(!has_requirements("# pinned by Odoo\n\n   \n"));
        assert!(has_requirements("# pinned\nnum2words==0.5.13\n"));
    }
}
