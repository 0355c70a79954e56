//! Assembling one image: debootstrap, apt sources, then Odoo's package (packaged
//! images) or a Python environment (runtimes, see python_env.rs), metadata.
//! Every command's output goes to the build log; the last lines are shown when a
//! step fails.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::python_env;
use crate::store::{rootfs_of, write_meta, ImageMeta};
use crate::{AptSetup, ImageError, OdooVersion, Recipe, RuntimeRecipe};

pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
pub(crate) const LOG_FILE: &str = "build.log";
const TAIL_LINES: usize = 25;
/// Debian installs Odoo's own addons here in every version we support.
const CORE_ADDONS_PATH: &str = "/usr/lib/python3/dist-packages/odoo/addons";

/// Where an image build takes its packages from.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub mirror: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            mirror: DEFAULT_MIRROR.to_string(),
        }
    }
}

/// One step of an image build, with the latest line the running command printed.
#[derive(Debug, Clone)]
pub struct Progress {
    pub step: usize,
    pub steps: usize,
    pub title: &'static str,
    pub detail: String,
}

/// The image a build makes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Packaged(&'a Recipe),
    Runtime(&'a RuntimeRecipe),
}

impl Target<'_> {
    pub(crate) fn image_name(&self) -> String {
        match self {
            Target::Packaged(recipe) => recipe.image_name(),
            Target::Runtime(recipe) => recipe.image_name(),
        }
    }

    fn odoo(&self) -> OdooVersion {
        match self {
            Target::Packaged(recipe) => recipe.odoo,
            Target::Runtime(recipe) => recipe.series(),
        }
    }

    fn recipe_id(&self) -> String {
        match self {
            Target::Packaged(recipe) => recipe.id(),
            Target::Runtime(recipe) => recipe.id(),
        }
    }

    fn apt(&self) -> &AptSetup {
        match self {
            Target::Packaged(recipe) => &recipe.apt,
            Target::Runtime(recipe) => recipe.apt(),
        }
    }

    fn step_count(&self) -> usize {
        let installing = match self {
            Target::Packaged(_) => 1,
            Target::Runtime(_) => python_env::STEPS,
        };
        BASE_STEPS.len() + installing + 1 // recording metadata
    }
}

/// The steps every image starts with.
const BASE_STEPS: [&str; 3] = ["debootstrap", "configuring apt", "apt-get update"];
const INSTALLING_ODOO: &str = "installing Odoo";
const RECORDING_METADATA: &str = "recording metadata";

/// What the metadata of a packaged image and of a runtime differ in.
pub(crate) struct OdooFacts {
    pub odoo_package_version: String,
    pub core_addons_path: String,
    pub python: Option<String>,
}

/// Builds the image of `target` into `build_dir` (which must not exist yet) and
/// returns its metadata. The caller renames the directory when this succeeds.
pub(crate) fn build(
    target: Target<'_>,
    build_dir: &Path,
    options: &BuildOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImageMeta, ImageError> {
    preflight(&target.image_name())?;
    let started = Instant::now();
    fs::create_dir_all(build_dir).map_err(ImageError::io("creating", build_dir))?;
    let rootfs = rootfs_of(build_dir);
    let mut runner = StepRunner {
        log: build_dir.join(LOG_FILE),
        progress,
        step: 0,
        steps: target.step_count(),
    };

    let apt = target.apt();
    let mut debootstrap = Command::new("debootstrap");
    debootstrap
        .args(["--variant=minbase", apt.base_suite])
        .arg(&rootfs)
        .arg(&options.mirror);
    runner.run(BASE_STEPS[0], debootstrap)?;

    runner.announce(BASE_STEPS[1]);
    configure_apt(apt, &rootfs, &options.mirror)?;

    runner.run(BASE_STEPS[2], chroot(&rootfs, &["apt-get", "update"]))?;
    let facts = match target {
        Target::Packaged(recipe) => {
            runner.run(INSTALLING_ODOO, apt_install(&rootfs, &recipe.packages))?;
            packaged_facts(recipe, &runner.log, &rootfs)?
        }
        Target::Runtime(recipe) => python_env::install(recipe, &mut runner, &rootfs)?,
    };
    // Package lists and downloaded .debs are half the size of a fresh image and
    // useless at run time.
    runner.run(RECORDING_METADATA, chroot(&rootfs, &["apt-get", "clean"]))?;
    let lists = rootfs.join("var/lib/apt/lists");
    let _ = fs::remove_dir_all(&lists);
    fs::create_dir_all(lists.join("partial")).map_err(ImageError::io("creating", &lists))?;

    let meta = read_meta(&target, facts, &runner.log, &rootfs, started)?;
    write_meta(build_dir, &meta)?;
    Ok(meta)
}

fn preflight(image_name: &str) -> Result<(), ImageError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ImageError::NeedsRoot(image_name.to_string()));
    }
    if find_program("debootstrap").is_none() {
        return Err(ImageError::ToolMissing {
            program: "debootstrap",
            package: "debootstrap",
        });
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Writes `content` to `relative` inside `rootfs`, creating its directory.
pub(crate) fn write_into(rootfs: &Path, relative: &str, content: &[u8]) -> Result<(), ImageError> {
    let path = rootfs.join(relative.trim_start_matches('/'));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    }
    fs::write(&path, content).map_err(ImageError::io("writing", &path))
}

fn configure_apt(apt: &AptSetup, rootfs: &Path, mirror: &str) -> Result<(), ImageError> {
    write_into(
        rootfs,
        "etc/apt/sources.list",
        apt.sources_list(mirror).as_bytes(),
    )?;
    if let Some(preferences) = apt.apt_preferences() {
        write_into(
            rootfs,
            "etc/apt/preferences.d/slipway",
            preferences.as_bytes(),
        )?;
    }
    // Keeps packages (odoo, postgresql-client) from starting services in the chroot.
    write_into(rootfs, "usr/sbin/policy-rc.d", b"#!/bin/sh\nexit 101\n")?;
    set_executable(&rootfs.join("usr/sbin/policy-rc.d"))?;
    // The image is rebuilt rather than upgraded; never pull docs and translations.
    write_into(
        rootfs,
        "etc/dpkg/dpkg.cfg.d/slipway-nodoc",
        b"path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n",
    )?;
    Ok(())
}

fn set_executable(path: &Path) -> Result<(), ImageError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(ImageError::io("chmod", path))
}

/// A command run inside the new root with a clean environment.
pub(crate) fn chroot(rootfs: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("chroot");
    command
        .arg(rootfs)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive");
    command
}

/// `apt-get install` of `packages` without recommends.
pub(crate) fn apt_install(rootfs: &Path, packages: &[&str]) -> Command {
    let mut install = chroot(
        rootfs,
        &["apt-get", "install", "-y", "--no-install-recommends"],
    );
    install.args(packages);
    install
}

/// The trimmed standard output of a command run in the root; its failure is a
/// failed step whose log is `log`.
pub(crate) fn query(rootfs: &Path, log: &Path, args: &[&str]) -> Result<String, ImageError> {
    let output = chroot(rootfs, args)
        .output()
        .map_err(ImageError::io("running chroot in", rootfs))?;
    if !output.status.success() {
        return Err(ImageError::StepFailed {
            step: format!("reading `{}`", args.join(" ")),
            status: output.status.to_string(),
            tail: String::from_utf8_lossy(&output.stderr).into_owned(),
            log: log.to_path_buf(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn packaged_facts(recipe: &Recipe, log: &Path, rootfs: &Path) -> Result<OdooFacts, ImageError> {
    let odoo_package_version = query(
        rootfs,
        log,
        &["dpkg-query", "-W", "-f=${Version}", recipe.odoo_package],
    )?;
    if !rootfs
        .join(CORE_ADDONS_PATH.trim_start_matches('/'))
        .join("base/__manifest__.py")
        .is_file()
    {
        return Err(ImageError::StepFailed {
            step: "finding Odoo's addons".into(),
            status: format!("no base module under {CORE_ADDONS_PATH}"),
            tail: String::new(),
            log: log.to_path_buf(),
        });
    }
    Ok(OdooFacts {
        odoo_package_version,
        core_addons_path: CORE_ADDONS_PATH.to_string(),
        python: None,
    })
}

fn read_meta(
    target: &Target<'_>,
    facts: OdooFacts,
    log: &Path,
    rootfs: &Path,
    started: Instant,
) -> Result<ImageMeta, ImageError> {
    let python = facts.python.as_deref().unwrap_or("python3");
    let python_version = query(
        rootfs,
        log,
        &[
            python,
            "-c",
            "import platform; print(platform.python_version())",
        ],
    )?;
    let (odoo_uid, odoo_gid) = odoo_user(rootfs)?.ok_or_else(|| ImageError::StepFailed {
        step: "finding the odoo system user".into(),
        status: "no `odoo` entry in /etc/passwd".into(),
        tail: String::new(),
        log: log.to_path_buf(),
    })?;
    Ok(ImageMeta {
        name: target.image_name(),
        odoo: target.odoo(),
        recipe_id: target.recipe_id(),
        odoo_package_version: facts.odoo_package_version,
        python_version,
        python: facts.python,
        odoo_uid,
        odoo_gid,
        core_addons_path: facts.core_addons_path,
        built_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        build_seconds: started.elapsed().as_secs_f64(),
        size_bytes: disk_usage(rootfs),
    })
}

/// `uid` and `gid` of the root's `odoo` user, if it has one.
pub(crate) fn odoo_user(rootfs: &Path) -> Result<Option<(u32, u32)>, ImageError> {
    let passwd_path = rootfs.join("etc/passwd");
    let passwd =
        fs::read_to_string(&passwd_path).map_err(ImageError::io("reading", &passwd_path))?;
    Ok(passwd_entry(&passwd, "odoo"))
}

/// `uid` and `gid` of `user` in an `/etc/passwd` text.
fn passwd_entry(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == user {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn disk_usage(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

/// Runs the steps of a build, numbering them for the progress report and
/// appending every command's output to the build log.
pub(crate) struct StepRunner<'a> {
    pub log: PathBuf,
    progress: &'a mut dyn FnMut(Progress),
    step: usize,
    steps: usize,
}

impl StepRunner<'_> {
    pub fn announce(&mut self, title: &'static str) {
        self.step += 1;
        self.report(title, String::new());
    }

    fn report(&mut self, title: &'static str, detail: String) {
        (self.progress)(Progress {
            step: self.step,
            steps: self.steps,
            title,
            detail,
        });
    }

    /// Writes a line of slipway's own into the log and the progress report.
    pub fn note(&mut self, title: &'static str, line: String) -> Result<(), ImageError> {
        use std::io::Write;
        let mut log = self.open_log()?;
        let _ = writeln!(log, "==> {title}: {line}");
        self.report(title, line);
        Ok(())
    }

    fn open_log(&self) -> Result<fs::File, ImageError> {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(ImageError::io("opening", &self.log))
    }

    /// Starts step `title` and runs `command` as its work.
    pub fn run(&mut self, title: &'static str, command: Command) -> Result<(), ImageError> {
        self.announce(title);
        self.execute(title, command)
    }

    /// Runs `command` in the current step, appending its output to the log and
    /// reporting each line.
    pub fn execute(&mut self, title: &'static str, mut command: Command) -> Result<(), ImageError> {
        let mut log = self.open_log()?;
        use std::io::Write;
        let _ = writeln!(log, "==> {title}: {command:?}");
        let (reader, writer) =
            std::io::pipe().map_err(ImageError::io("creating a pipe for", &self.log))?;
        let writer_clone = writer
            .try_clone()
            .map_err(ImageError::io("creating a pipe for", &self.log))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer_clone)
            .spawn()
            .map_err(ImageError::io(
                "starting",
                command.get_program().to_string_lossy().into_owned(),
            ))?;
        // The command holds the only write ends; dropping it lets the reader see
        // end-of-file when the child exits.
        drop(command);
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            let _ = writeln!(log, "{line}");
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
            self.report(title, line);
        }
        let status = child
            .wait()
            .map_err(ImageError::io("waiting for", &self.log))?;
        if !status.success() {
            return Err(ImageError::StepFailed {
                step: title.to_string(),
                status: status.to_string(),
                tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
                log: self.log.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_user_is_read_from_passwd() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nodoo:x:101:102::/var/lib/odoo:/usr/sbin/nologin\n";
        assert_eq!(passwd_entry(passwd, "odoo"), Some((101, 102)));
        assert_eq!(passwd_entry(passwd, "nobody"), None);
    }
}
