//! Template databases: a database (plus filestore) with the modules a repository
//! depends on, but that it does not contain, already installed with demo data.
//! A build whose outside dependencies did not change starts from a copy instead
//! of installing `base`, `mail`, ... again.
//!
//! The key covers the image, the module set and the content of each of those
//! modules, so a changed dependency never reuses a stale template.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::odoo_install::OdooInstall;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use slipway_postgres::Cluster;

use crate::locks::LockMode;
use crate::{BuildError, Layout};

/// Bumped when what a template holds changes in a way the key does not show.
const TEMPLATE_FORMAT: u32 = 1;
/// Templates kept; the least recently used beyond this are dropped.
pub const MAX_TEMPLATES: usize = 6;
const META_FILE: &str = "template.json";

/// Identity of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateKey {
    pub hash: String,
    /// Modules installed in it (sorted).
    pub modules: Vec<String>,
    /// The data dir's instance id: a template is a database *and* a filestore on
    /// this host, so two data dirs sharing one cluster must not share names.
    pub instance: String,
}

impl TemplateKey {
    /// `module_checksums`: (module, content checksum) of every module in the set.
    pub fn new(
        instance: &str,
        odoo: &OdooInstall,
        module_checksums: &[(String, String)],
    ) -> TemplateKey {
        let mut sorted = module_checksums.to_vec();
        sorted.sort();
        let mut hasher = Sha256::new();
        hasher.update(format!(
            "slipway-template {TEMPLATE_FORMAT}\nimage {} {} {}\ndemo true\n",
            odoo.runtime.meta.name,
            odoo.runtime.meta.odoo_package_version,
            odoo.runtime.meta.built_at_unix
        ));
        // Odoo's own code outside its addons (the ORM) shapes a database too:
        // another commit of a source is another template.
        for tree in &odoo.sources {
            hasher.update(format!("source {} {}\n", tree.name, tree.commit));
        }
        for (module, checksum) in &sorted {
            hasher.update(format!("module {module} {checksum}\n"));
        }
        TemplateKey {
            hash: hex::encode(&hasher.finalize()[..8]),
            modules: sorted.into_iter().map(|(module, _)| module).collect(),
            instance: instance.to_string(),
        }
    }

    pub fn database(&self) -> String {
        format!("slipway_tpl_{}_{}", self.instance, self.hash)
    }

    /// The role that owned everything while the template was built; build copies
    /// reassign its objects to their own role.
    pub fn role(&self) -> String {
        self.database()
    }
}

/// Facts about a finished template. Written last: a template directory without
/// it is unfinished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateMeta {
    pub hash: String,
    pub image: String,
    pub modules: Vec<String>,
    pub created_unix: u64,
    pub seconds_to_build: f64,
}

/// The template directory and the locks that guard templates.
pub struct Templates {
    root: PathBuf,
    instance: String,
}

/// Held while a template is copied (shared) or built/dropped (exclusive).
pub struct TemplateLock {
    _file: File,
}

impl Templates {
    pub fn new(layout: &Layout) -> Result<Templates, BuildError> {
        Ok(Templates {
            root: layout.templates(),
            instance: layout.instance_id()?,
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn dir(&self, key: &TemplateKey) -> PathBuf {
        self.root.join(&key.hash)
    }

    /// The template's filestore (Odoo's `filestore/<db>` content).
    pub fn filestore(&self, key: &TemplateKey) -> PathBuf {
        self.dir(key).join("filestore")
    }

    fn lock_path(&self, hash: &str) -> PathBuf {
        self.root.join(format!(".{hash}.lock"))
    }

    pub async fn lock(
        &self,
        key: &TemplateKey,
        mode: LockMode,
    ) -> Result<TemplateLock, BuildError> {
        let file = crate::locks::lock(&self.lock_path(&key.hash), mode).await?;
        Ok(TemplateLock { _file: file })
    }

    /// The finished template for `key`, checked against the cluster: metadata
    /// without its database (someone dropped it) counts as missing.
    pub async fn find(
        &self,
        key: &TemplateKey,
        cluster: &Cluster,
    ) -> Result<Option<TemplateMeta>, BuildError> {
        let Some(meta) = self.read_meta(&key.hash) else {
            return Ok(None);
        };
        if !cluster.database_exists(&key.database()).await? {
            tracing::warn!(template = %key.hash, "template metadata without its database; rebuilding it");
            self.forget(key, cluster).await?;
            return Ok(None);
        }
        self.touch(&key.hash);
        Ok(Some(meta))
    }

    fn read_meta(&self, hash: &str) -> Option<TemplateMeta> {
        let text = std::fs::read_to_string(self.root.join(hash).join(META_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Marks a template as used now (eviction is least-recently-used).
    fn touch(&self, hash: &str) {
        let path = self.root.join(hash).join(META_FILE);
        if let Ok(file) = File::options().append(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    pub fn write_meta(&self, key: &TemplateKey, meta: &TemplateMeta) -> Result<(), BuildError> {
        let path = self.dir(key).join(META_FILE);
        let text = serde_json::to_string_pretty(meta).expect("template metadata serializes");
        std::fs::write(&path, text).map_err(BuildError::io("writing", &path))
    }

    /// Drops a template's database, role and files. Caller holds its exclusive lock.
    pub async fn forget(&self, key: &TemplateKey, cluster: &Cluster) -> Result<(), BuildError> {
        cluster.drop_database(&key.database()).await?;
        cluster.drop_role(&key.role()).await?;
        let dir = self.dir(key);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(BuildError::io("removing", &dir)(error)),
        }
    }

    /// Finished templates, most recently used first.
    pub fn list(&self) -> Vec<(TemplateMeta, SystemTime)> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut templates: Vec<(TemplateMeta, SystemTime)> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = self.read_meta(&name)?;
                let used = entry
                    .path()
                    .join(META_FILE)
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()?;
                Some((meta, used))
            })
            .collect();
        templates.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        templates
    }

    /// Drops the least recently used templates beyond `keep`, skipping any in use.
    pub async fn evict(&self, keep: usize, cluster: &Cluster) -> Result<Vec<String>, BuildError> {
        let mut evicted = Vec::new();
        for (meta, _) in self.list().into_iter().skip(keep) {
            let key = TemplateKey {
                hash: meta.hash.clone(),
                modules: meta.modules.clone(),
                instance: self.instance.clone(),
            };
            let path = self.lock_path(&key.hash);
            let file = File::create(&path).map_err(BuildError::io("creating", &path))?;
            if file.try_lock().is_err() {
                continue;
            }
            tracing::info!(template = %key.hash, modules = key.modules.len(), "evicting an old template database");
            self.forget(&key, cluster).await?;
            evicted.push(key.hash);
        }
        Ok(evicted)
    }
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Copies a filestore tree with hard links. Odoo writes filestore files once under
/// their checksum and never rewrites them in place, so sharing inodes between a
/// template and its copies is safe and costs no space.
pub fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else if file_type.is_file() {
            std::fs::hard_link(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_image::{Image, ImageMeta, OdooVersion};

    use crate::odoo_install::SourceTree;

    fn image(built_at_unix: u64) -> OdooInstall {
        OdooInstall::packaged(Image {
            dir: "/nonexistent".into(),
            meta: ImageMeta {
                name: "odoo-14.0-0123".into(),
                odoo: OdooVersion::V14,
                recipe_id: "0123".into(),
                odoo_package_version: "14.0.0".into(),
                python_version: "3.9".into(),
                python: None,
                odoo_uid: 101,
                odoo_gid: 101,
                core_addons_path: "/usr/lib/python3/dist-packages/odoo/addons".into(),
                built_at_unix,
                build_seconds: 1.0,
                size_bytes: 1,
            },
        })
    }

    fn modules(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(m, c)| (m.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn key_ignores_order_but_not_content_module_set_or_image() {
        let key = |image: OdooInstall, pairs: &[(&str, &str)]| {
            TemplateKey::new("a1b2c3", &image, &modules(pairs))
        };
        let base = key(image(1), &[("base", "a"), ("mail", "b")]);
        assert_eq!(base, key(image(1), &[("mail", "b"), ("base", "a")]));
        assert_ne!(
            base.hash,
            key(image(1), &[("base", "a"), ("mail", "c")]).hash
        );
        assert_ne!(base.hash, key(image(1), &[("base", "a")]).hash);
        assert_ne!(
            base.hash,
            key(image(2), &[("base", "a"), ("mail", "b")]).hash
        );
        assert_eq!(base.modules, vec!["base", "mail"]);
        // Odoo from source: another commit is another template, even with
        // the same addons (the ORM outside them shapes the database).
        let at = |commit: &str| {
            let mut odoo = image(1);
            odoo.sources.push(SourceTree {
                kind: slipway_sources::SourceKind::Odoo,
                name: "odoo".into(),
                url: "https://example.com/odoo.git".into(),
                commit: commit.repeat(40),
                branch: None,
                path: "/trees/odoo".into(),
            });
            key(odoo, &[("base", "a"), ("mail", "b")])
        };
        assert_ne!(at("1").hash, at("2").hash);
        assert_ne!(at("1").hash, base.hash);
        assert_eq!(at("1").hash, at("1").hash);
        assert!(slipway_postgres::validate_identifier(&base.database()).is_ok());
    }

    /// Regression: two data dirs sharing one cluster dropped and rebuilt each
    /// other's template database, and a copy taken mid-rebuild captured it.
    #[test]
    fn data_dirs_sharing_a_cluster_never_share_template_names() {
        let pairs = modules(&[("base", "a")]);
        let one = TemplateKey::new("aaaaaa", &image(1), &pairs);
        let other = TemplateKey::new("bbbbbb", &image(1), &pairs);
        assert_eq!(one.hash, other.hash);
        assert_ne!(one.database(), other.database());
    }

    #[test]
    fn linked_filestore_shares_inodes() {
        use std::os::unix::fs::MetadataExt;
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("from/ab")).unwrap();
        std::fs::write(temp.path().join("from/ab/abcdef"), "attachment").unwrap();
        link_tree(&temp.path().join("from"), &temp.path().join("to")).unwrap();
        let a = std::fs::metadata(temp.path().join("from/ab/abcdef")).unwrap();
        let b = std::fs::metadata(temp.path().join("to/ab/abcdef")).unwrap();
        assert_eq!(a.ino(), b.ino());
    }
}
