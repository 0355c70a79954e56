//! Builds a real runtime image (debootstrap, apt, venv, pip: a few minutes, needs
//! root and the network) from a stand-in Odoo tree made of the packaged 19.0
//! image's release.py and Depends, and runs its Python.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_image::{BuildOptions, DebianRelease, ImageStore, RuntimeRecipe, VENV_PYTHON};

const PACKAGED_IMAGES: &str = "/var/cache/slipway/images";

/// The root filesystem of the packaged 19.0 image on this machine.
fn packaged_19_rootfs() -> PathBuf {
    let found = fs::read_dir(PACKAGED_IMAGES).ok().and_then(|entries| {
        entries.flatten().map(|entry| entry.path()).find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("odoo-19.0-"))
        })
    });
    let Some(image) = found else {
        panic!(
            "no packaged Odoo 19.0 image under {PACKAGED_IMAGES}: this test takes its \
             release.py and Depends from it; run `slipway image build 19.0` first"
        );
    };
    image.join("rootfs")
}

/// The `Depends:` line of `package` in a dpkg status file.
fn depends_of(status: &str, package: &str) -> String {
    let paragraph = status
        .split("\n\n")
        .find(|paragraph| paragraph.lines().next() == Some(&format!("Package: {package}")))
        .unwrap_or_else(|| panic!("{package} is not in the image's dpkg status"));
    paragraph
        .lines()
        .find(|line| line.starts_with("Depends:"))
        .unwrap_or_else(|| panic!("{package} has no Depends"))
        .to_string()
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A tree in upstream's layout, as small as `from_source` accepts.
fn stand_in_tree(dir: &Path, packaged: &Path) {
    let release_py = packaged.join("usr/lib/python3/dist-packages/odoo/release.py");
    write(
        &dir.join("odoo/release.py"),
        &fs::read_to_string(&release_py).unwrap(),
    );
    write(&dir.join("odoo-bin"), "#!/usr/bin/env python3\n");
    let status = fs::read_to_string(packaged.join("var/lib/dpkg/status")).unwrap();
    write(
        &dir.join("debian/control"),
        &format!(
            "Source: odoo\n\nPackage: odoo\nArchitecture: all\n{}\n",
            depends_of(&status, "odoo-19")
        ),
    );
    // trixie's python3-num2words is 0.5.13: another version makes pip install it.
    write(&dir.join("requirements.txt"), "num2words==0.5.14\n");
}

#[test]
fn a_runtime_built_from_a_19_0_tree_runs_odoos_imports() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "building an image needs root (debootstrap, chroot): run this test as root"
    );
    let packaged = packaged_19_rootfs();
    let work = tempfile::Builder::new()
        .prefix("slipway-runtime-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let tree = work.path().join("odoo");
    stand_in_tree(&tree, &packaged);

    let recipe = RuntimeRecipe::from_source(&tree).unwrap();
    assert_eq!(recipe.series().to_string(), "19.0");
    assert_eq!(recipe.debian_release(), DebianRelease::TRIXIE);

    let store = ImageStore::new(work.path().join("images"));
    let mut last_step = 0;
    let image = store
        .build_runtime(&recipe, &BuildOptions::default(), &mut |progress| {
            if progress.step != last_step {
                last_step = progress.step;
                eprintln!("[{}/{}] {}", progress.step, progress.steps, progress.title);
            }
        })
        .unwrap_or_else(|error| panic!("{error}"));
    eprintln!(
        "built {} in {:.0} s, {} MB",
        image.meta.name,
        image.meta.build_seconds,
        image.meta.size_bytes / 1_000_000
    );
    let log = fs::read_to_string(image.dir.join("build.log")).unwrap();
    for line in log.lines().filter(|line| line.contains("left out")) {
        eprintln!("{line}");
    }
    assert_eq!(image.meta.python.as_deref(), Some(VENV_PYTHON));
    assert!(
        image.meta.python_version.starts_with("3.13"),
        "{:?}",
        image.meta
    );
    assert_eq!(image.meta.odoo_package_version, "");
    assert_eq!(image.meta.core_addons_path, "");
    assert_ne!(image.meta.odoo_uid, 0);

    let imports = Command::new("chroot")
        .arg(image.rootfs())
        .args([
            VENV_PYTHON,
            "-c",
            "import num2words, lxml, psycopg2, werkzeug; print(num2words.__file__)",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        imports.status.success(),
        "{}",
        String::from_utf8_lossy(&imports.stderr)
    );
    // pip's num2words (requirements.txt), not Debian's python3-num2words.
    let num2words = String::from_utf8_lossy(&imports.stdout);
    assert!(num2words.starts_with("/opt/odoo-venv/"), "{num2words}");

    let found = store
        .find_runtime(&recipe)
        .unwrap()
        .expect("built runtime is found");
    assert_eq!(found.meta, image.meta);
}
