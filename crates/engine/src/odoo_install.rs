//! Which Odoo a build runs: a runtime image, and Odoo's code in it — Debian's
//! package inside the image, or read-only trees of source repositories at
//! exact commits (Odoo itself, enterprise, more addons), mounted beside it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use slipway_image::{Image, OdooVersion};
use slipway_sandbox::Mount;
use slipway_sources::SourceKind;

/// Odoo's launcher of Debian's package.
const PACKAGED_ODOO: &str = "/usr/bin/odoo";
/// Where the trees of the sources are mounted.
const ODOO_MOUNT: &str = "/mnt/odoo";
const ENTERPRISE_MOUNT: &str = "/mnt/enterprise";
const ADDONS_MOUNT: &str = "/mnt/addons";
/// A runtime without a Python of its own recorded uses the system's.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// One source repository's tree, as a build uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTree {
    pub kind: SourceKind,
    /// `odoo`, `enterprise`, or the repository's name.
    pub name: String,
    /// The repository's address, without credentials.
    pub url: String,
    /// 40 hex digits.
    pub commit: String,
    /// The branch whose head this was, when the source follows one.
    pub branch: Option<String>,
    /// The read-only tree on the host.
    pub path: PathBuf,
}

impl SourceTree {
    /// Where the tree is inside the sandbox.
    fn mount_point(&self) -> String {
        match self.kind {
            SourceKind::Odoo => ODOO_MOUNT.to_string(),
            SourceKind::Enterprise => ENTERPRISE_MOUNT.to_string(),
            SourceKind::Addons => format!("{ADDONS_MOUNT}/{}", self.name),
        }
    }
}

/// The Odoo of a build.
#[derive(Debug, Clone)]
pub struct OdooInstall {
    /// The root filesystem Odoo runs on (its Python and system libraries).
    pub runtime: Image,
    /// Odoo's own source first when it runs from source (else Debian's
    /// package in the runtime runs), then enterprise, then more addons in the
    /// order given.
    pub sources: Vec<SourceTree>,
}

impl OdooInstall {
    /// Debian's packaged Odoo of `image`.
    pub fn packaged(image: Image) -> OdooInstall {
        OdooInstall {
            runtime: image,
            sources: Vec::new(),
        }
    }

    /// Odoo's series.
    pub fn series(&self) -> OdooVersion {
        self.runtime.meta.odoo
    }

    /// The command that starts Odoo, before its options.
    pub fn launcher(&self) -> Vec<String> {
        match self.odoo_tree() {
            None => vec![PACKAGED_ODOO.to_string()],
            Some(tree) => vec![
                self.runtime
                    .meta
                    .python
                    .clone()
                    .unwrap_or_else(|| SYSTEM_PYTHON.to_string()),
                format!("{}/odoo-bin", tree.mount_point()),
            ],
        }
    }

    /// The sources' trees, read-only.
    pub fn mounts(&self) -> Vec<Mount> {
        self.sources
            .iter()
            .map(|tree| Mount::read_only(&tree.path, tree.mount_point()))
            .collect()
    }

    /// Odoo's addons path after the project's own directories, in Odoo.sh's
    /// order: enterprise, more addon repositories, community addons, core.
    pub fn addons_path(&self) -> Vec<String> {
        self.addons_dirs()
            .into_iter()
            .map(|(inside, _)| inside)
            .collect()
    }

    /// The same directories as seen from the host, where slipway reads
    /// their manifests.
    pub fn addons_dirs_on_host(&self) -> Vec<PathBuf> {
        self.addons_dirs()
            .into_iter()
            .map(|(_, outside)| outside)
            .collect()
    }

    /// (inside the sandbox, on the host) for each directory of addons.
    fn addons_dirs(&self) -> Vec<(String, PathBuf)> {
        let mut dirs: Vec<(String, PathBuf)> = self
            .sources
            .iter()
            .filter(|tree| tree.kind != SourceKind::Odoo)
            .map(|tree| (tree.mount_point(), tree.path.clone()))
            .collect();
        match self.odoo_tree() {
            Some(odoo) => {
                for relative in ["addons", "odoo/addons"] {
                    dirs.push((
                        format!("{}/{relative}", odoo.mount_point()),
                        odoo.path.join(relative),
                    ));
                }
            }
            None => dirs.push((
                self.runtime.meta.core_addons_path.clone(),
                self.runtime.core_addons_dir(),
            )),
        }
        dirs
    }

    /// Names what a template database or a cache of this Odoo depends on:
    /// the runtime, and each source's commit.
    pub fn identity(&self) -> String {
        let runtime = format!(
            "{}-{}",
            self.runtime.meta.name, self.runtime.meta.built_at_unix
        );
        if self.sources.is_empty() {
            return runtime;
        }
        let mut hasher = Sha256::new();
        for tree in &self.sources {
            hasher.update(format!("{} {}\n", tree.name, tree.commit));
        }
        format!("{runtime}-{}", hex::encode(&hasher.finalize()[..8]))
    }

    fn odoo_tree(&self) -> Option<&SourceTree> {
        self.sources
            .iter()
            .find(|tree| tree.kind == SourceKind::Odoo)
    }

    /// The trees this Odoo uses on the host (kept while a build uses them).
    pub fn tree_paths(&self) -> impl Iterator<Item = &Path> {
        self.sources.iter().map(|tree| tree.path.as_path())
    }
}
