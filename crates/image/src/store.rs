//! The image cache on disk. An image is complete exactly when its directory exists
//! under its final name: builds happen in a `.build-*` directory that is renamed at
//! the end, so a crash never leaves something that looks like an image.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::builder::{self, BuildOptions, Progress, Target};
use crate::{ImageError, OdooVersion, Recipe, RuntimeRecipe};

const META_FILE: &str = "image.json";
const ROOTFS_DIR: &str = "rootfs";
pub(crate) const BUILD_PREFIX: &str = ".build-";

/// Facts recorded about an image when it was built.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageMeta {
    pub name: String,
    pub odoo: OdooVersion,
    pub recipe_id: String,
    /// Exact version of the Debian package that carries Odoo; empty for a runtime.
    pub odoo_package_version: String,
    pub python_version: String,
    /// A runtime's Python (its venv, `/opt/odoo-venv/bin/python3`), which runs the
    /// mounted source tree's `odoo-bin`. `None` for a packaged image, whose Odoo is
    /// `/usr/bin/odoo`.
    #[serde(default)]
    pub python: Option<String>,
    /// The image's own `odoo` system user: the sandbox maps the build to it so that
    /// Odoo finds itself in `/etc/passwd`.
    pub odoo_uid: u32,
    pub odoo_gid: u32,
    /// Where Odoo's own addons live inside the image; empty for a runtime (they
    /// are in the source tree).
    pub core_addons_path: String,
    pub built_at_unix: u64,
    pub build_seconds: f64,
    pub size_bytes: u64,
}

/// A complete image.
#[derive(Debug, Clone)]
pub struct Image {
    pub dir: PathBuf,
    pub meta: ImageMeta,
}

impl Image {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join(ROOTFS_DIR)
    }

    /// Odoo's own addons as seen from the host.
    pub fn core_addons_dir(&self) -> PathBuf {
        self.rootfs()
            .join(self.meta.core_addons_path.trim_start_matches('/'))
    }
}

/// The directory holding all images.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    pub fn new(root: impl Into<PathBuf>) -> ImageStore {
        ImageStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The complete packaged image for this recipe, if it was built.
    pub fn find(&self, recipe: &Recipe) -> Result<Option<Image>, ImageError> {
        self.find_named(&recipe.image_name())
    }

    /// The complete runtime image for this recipe, if it was built.
    pub fn find_runtime(&self, recipe: &RuntimeRecipe) -> Result<Option<Image>, ImageError> {
        self.find_named(&recipe.image_name())
    }

    fn find_named(&self, image_name: &str) -> Result<Option<Image>, ImageError> {
        let dir = self.root.join(image_name);
        if !dir.exists() {
            return Ok(None);
        }
        read_image(&dir).map(Some)
    }

    /// Every complete image, newest first. Damaged entries are reported as errors
    /// rather than hidden.
    pub fn list(&self) -> Result<Vec<Result<Image, ImageError>>, ImageError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(ImageError::io("reading", &self.root)(error)),
        };
        let mut images = Vec::new();
        for entry in entries {
            let entry = entry.map_err(ImageError::io("reading", &self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            images.push(read_image(&entry.path()));
        }
        images.sort_by_key(|image| match image {
            Ok(image) => std::cmp::Reverse(image.meta.built_at_unix),
            Err(_) => std::cmp::Reverse(u64::MAX),
        });
        Ok(images)
    }

    /// The packaged image for `recipe`, built first if missing. Concurrent callers
    /// wait for one another (file lock) instead of building the same image twice.
    pub fn ensure(
        &self,
        recipe: &Recipe,
        options: &BuildOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Image, ImageError> {
        self.ensure_built(Target::Packaged(recipe), options, progress)
    }

    /// The runtime image for `recipe`: built unless it exists (as `ensure` does
    /// for packaged images, with the same locking).
    pub fn build_runtime(
        &self,
        recipe: &RuntimeRecipe,
        options: &BuildOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Image, ImageError> {
        self.ensure_built(Target::Runtime(recipe), options, progress)
    }

    fn ensure_built(
        &self,
        target: Target<'_>,
        options: &BuildOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Image, ImageError> {
        let image_name = target.image_name();
        if let Some(image) = self.find_named(&image_name)? {
            return Ok(image);
        }
        fs::create_dir_all(&self.root).map_err(ImageError::io("creating", &self.root))?;
        let lock_path = self.root.join(format!(".lock-{image_name}"));
        let lock = File::create(&lock_path).map_err(ImageError::io("creating", &lock_path))?;
        lock.lock().map_err(ImageError::io("locking", &lock_path))?;
        // Someone else may have finished it while we waited for the lock.
        if let Some(image) = self.find_named(&image_name)? {
            return Ok(image);
        }
        self.remove_abandoned_builds(&image_name)?;
        let final_dir = self.root.join(&image_name);
        let build_dir = self
            .root
            .join(format!("{BUILD_PREFIX}{image_name}-{}", std::process::id()));
        let meta = match builder::build(target, &build_dir, options, progress) {
            Ok(meta) => meta,
            Err(error) => {
                let kept = self.keep_failed_log(&build_dir, &image_name);
                let _ = fs::remove_dir_all(&build_dir);
                return Err(error.with_log(kept));
            }
        };
        fs::rename(&build_dir, &final_dir).map_err(ImageError::io("renaming", &build_dir))?;
        tracing::info!(image = %meta.name, seconds = meta.build_seconds, "image built");
        Ok(Image {
            dir: final_dir,
            meta,
        })
    }

    /// Build directories of this image left by a process that no longer runs
    /// (crash, SIGKILL, power loss). Safe because we hold the image's lock.
    fn remove_abandoned_builds(&self, image_name: &str) -> Result<(), ImageError> {
        let prefix = format!("{BUILD_PREFIX}{image_name}-");
        let entries = fs::read_dir(&self.root).map_err(ImageError::io("reading", &self.root))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                tracing::warn!(dir = %entry.path().display(), "removing an abandoned image build");
                fs::remove_dir_all(entry.path())
                    .map_err(ImageError::io("removing", entry.path()))?;
            }
        }
        Ok(())
    }

    /// The failed image log of a recipe, where `ensure` leaves it for the user.
    pub fn failed_log_path(&self, recipe: &Recipe) -> PathBuf {
        self.failed_log_of(&recipe.image_name())
    }

    fn failed_log_of(&self, image_name: &str) -> PathBuf {
        self.root.join(format!("{image_name}.failed.log"))
    }

    /// Copies the log of a failed build out of its directory (which is removed);
    /// `None` if there was none to keep.
    fn keep_failed_log(&self, build_dir: &Path, image_name: &str) -> Option<PathBuf> {
        let log = build_dir.join(builder::LOG_FILE);
        let kept = self.failed_log_of(image_name);
        fs::copy(&log, &kept).ok().map(|_| kept)
    }
}

fn read_image(dir: &Path) -> Result<Image, ImageError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let damaged = |reason: String| ImageError::Damaged {
        name: name.clone(),
        path: dir.to_path_buf(),
        reason,
    };
    let meta_path = dir.join(META_FILE);
    let text = fs::read_to_string(&meta_path)
        .map_err(|e| damaged(format!("cannot read {META_FILE}: {e}")))?;
    let meta: ImageMeta =
        serde_json::from_str(&text).map_err(|e| damaged(format!("invalid {META_FILE}: {e}")))?;
    if !dir.join(ROOTFS_DIR).join("usr/bin").is_dir() {
        return Err(damaged("its root filesystem is missing".into()));
    }
    Ok(Image {
        dir: dir.to_path_buf(),
        meta,
    })
}

pub(crate) fn write_meta(dir: &Path, meta: &ImageMeta) -> Result<(), ImageError> {
    let path = dir.join(META_FILE);
    let text = serde_json::to_string_pretty(meta).expect("image metadata serializes");
    fs::write(&path, text).map_err(ImageError::io("writing", &path))
}

pub(crate) fn rootfs_of(dir: &Path) -> PathBuf {
    dir.join(ROOTFS_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, built_at_unix: u64) -> ImageMeta {
        ImageMeta {
            name: name.into(),
            odoo: OdooVersion::V14,
            recipe_id: "0123456789abcdef".into(),
            odoo_package_version: "14.0.0+dfsg.2-7".into(),
            python_version: "3.9.2".into(),
            python: None,
            odoo_uid: 101,
            odoo_gid: 101,
            core_addons_path: "/usr/lib/python3/dist-packages/odoo/addons".into(),
            built_at_unix,
            build_seconds: 80.0,
            size_bytes: 1,
        }
    }

    fn fake_complete_image(store: &ImageStore, recipe: &Recipe) {
        let dir = store.root().join(recipe.image_name());
        fs::create_dir_all(dir.join("rootfs/usr/bin")).unwrap();
        write_meta(&dir, &meta(&recipe.image_name(), 10)).unwrap();
    }

    #[test]
    fn an_interrupted_build_directory_is_not_an_image() {
        let temp = tempfile::tempdir().unwrap();
        let store = ImageStore::new(temp.path());
        let recipe = Recipe::for_version(OdooVersion::V14).unwrap();
        let half = temp
            .path()
            .join(format!("{BUILD_PREFIX}{}-4242", recipe.image_name()));
        fs::create_dir_all(half.join("rootfs/usr/bin")).unwrap();
        assert!(store.find(&recipe).unwrap().is_none());
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn a_complete_image_is_found_and_listed() {
        let temp = tempfile::tempdir().unwrap();
        let store = ImageStore::new(temp.path());
        let recipe = Recipe::for_version(OdooVersion::V14).unwrap();
        fake_complete_image(&store, &recipe);
        let image = store.find(&recipe).unwrap().unwrap();
        assert_eq!(image.meta.odoo, OdooVersion::V14);
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn image_without_metadata_is_reported_damaged() {
        let temp = tempfile::tempdir().unwrap();
        let store = ImageStore::new(temp.path());
        let recipe = Recipe::for_version(OdooVersion::V19).unwrap();
        fs::create_dir_all(temp.path().join(recipe.image_name()).join("rootfs")).unwrap();
        let error = store.find(&recipe).unwrap_err().to_string();
        assert!(
            error.contains("damaged") && error.contains("build it again"),
            "{error}"
        );
    }

    #[test]
    fn ensure_returns_an_existing_image_without_building() {
        let temp = tempfile::tempdir().unwrap();
        let store = ImageStore::new(temp.path());
        let recipe = Recipe::for_version(OdooVersion::V14).unwrap();
        fake_complete_image(&store, &recipe);
        let options = BuildOptions {
            mirror: "http://invalid.invalid/debian".into(),
        };
        let image = store
            .ensure(&recipe, &options, &mut |_| panic!("must not build"))
            .unwrap();
        assert_eq!(image.meta.name, recipe.image_name());
    }

    #[test]
    fn metadata_written_before_runtimes_existed_still_parses() {
        let text = r#"{
  "name": "odoo-14.0-03a0ee1edb5ce6ca",
  "odoo": "14.0",
  "recipe_id": "03a0ee1edb5ce6ca",
  "odoo_package_version": "14.0.0+dfsg.2-7+deb11u2",
  "python_version": "3.9.2",
  "odoo_uid": 101,
  "odoo_gid": 101,
  "core_addons_path": "/usr/lib/python3/dist-packages/odoo/addons",
  "built_at_unix": 1796637719,
  "build_seconds": 84.478709586,
  "size_bytes": 1620377600
}"#;
        let meta: ImageMeta = serde_json::from_str(text).unwrap();
        assert_eq!(meta.odoo, OdooVersion::V14);
        assert_eq!(meta.python, None);
    }

    #[test]
    fn a_runtime_is_found_by_its_own_recipe() {
        let temp = tempfile::tempdir().unwrap();
        let tree = temp.path().join("odoo");
        for (path, content) in [
            ("odoo-bin", ""),
            ("odoo/release.py", "version_info = ('saas~17', 2, 0, FINAL, 0, '')\nMIN_PY_VERSION = (3, 10)\nMAX_PY_VERSION = (3, 12)\n"),
        ] {
            fs::create_dir_all(tree.join(path).parent().unwrap()).unwrap();
            fs::write(tree.join(path), content).unwrap();
        }
        let recipe = RuntimeRecipe::from_source(&tree).unwrap();
        let store = ImageStore::new(temp.path().join("images"));
        assert!(store.find_runtime(&recipe).unwrap().is_none());
        let dir = store.root().join(recipe.image_name());
        fs::create_dir_all(dir.join("rootfs/usr/bin")).unwrap();
        let mut runtime = meta(&recipe.image_name(), 10);
        runtime.python = Some(crate::VENV_PYTHON.into());
        write_meta(&dir, &runtime).unwrap();
        let image = store.find_runtime(&recipe).unwrap().unwrap();
        assert_eq!(
            image.meta.python.as_deref(),
            Some("/opt/odoo-venv/bin/python3")
        );
        assert!(image
            .dir
            .ends_with(format!("runtime-saas-17.2-{}", recipe.id())));
    }
}
