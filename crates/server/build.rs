//! The UI's browser assets come from npm packages (assets/package.json, with
//! its lockfile): installed here with `npm ci` when missing, so that a plain
//! `cargo build` of a fresh clone works; the binary embeds them.

use std::path::Path;
use std::process::Command;

/// Files the binary embeds from node_modules (see src/ui/assets.rs).
const EMBEDDED: &[&str] = &[
    "htmx.org/dist/htmx.min.js",
    "@xterm/xterm/lib/xterm.js",
    "@xterm/xterm/css/xterm.css",
    "@xterm/addon-fit/lib/addon-fit.js",
];

fn main() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    println!("cargo:rerun-if-changed=assets/package.json");
    println!("cargo:rerun-if-changed=assets/package-lock.json");
    let modules = assets.join("node_modules");
    let stamp = modules.join(".package-lock.json");
    let lock = assets.join("package-lock.json");
    let missing = EMBEDDED.iter().any(|file| !modules.join(file).is_file());
    // npm writes node_modules/.package-lock.json on install: older than the
    // lockfile means the packages changed since.
    let outdated = match (stamp.metadata(), lock.metadata()) {
        (Ok(stamp), Ok(lock)) => match (stamp.modified(), lock.modified()) {
            (Ok(stamp), Ok(lock)) => stamp < lock,
            _ => false,
        },
        _ => true,
    };
    if !missing && !outdated {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(&assets)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`npm ci` in {} failed ({status}): the UI's browser assets are missing; \
             check that the npm registry is reachable",
            assets.display()
        ),
        Err(error) => panic!(
            "cannot run npm ({error}): install Node.js and npm (scripts/install-host-packages.sh \
             does), then build again"
        ),
    }
    for file in EMBEDDED {
        assert!(
            modules.join(file).is_file(),
            "npm ci did not install {file}: check assets/package.json"
        );
    }
}
