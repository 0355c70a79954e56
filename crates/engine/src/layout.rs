//! Where slipway keeps things on disk.

use std::path::{Path, PathBuf};

/// Default data dir when running as root.
pub const SYSTEM_HOME: &str = "/var/cache/slipway";

/// The data dir and everything under it.
///
/// ```text
/// <home>/images/         Odoo runtime images (may be moved with SLIPWAY_IMAGE_DIR)
/// <home>/postgres/       the embedded cluster
/// <home>/templates/      template databases' filestores and metadata
/// <home>/builds/<id>/    a build's checkout, Odoo data dir and config (removed after it)
/// <home>/logs/<id>/      a build's logs (kept)
/// <home>/runs/           one marker per running build, for the reaper
/// <home>/odoo-addons/    slipway's own Odoo addons, one directory per content
/// ```
#[derive(Debug, Clone)]
pub struct Layout {
    pub home: PathBuf,
    pub images: PathBuf,
}

impl Layout {
    /// `SLIPWAY_HOME`, else `/var/cache/slipway` as root, else
    /// `$XDG_CACHE_HOME/slipway` (`~/.cache/slipway`).
    pub fn from_env() -> Layout {
        let home = match std::env::var_os("SLIPWAY_HOME").filter(|value| !value.is_empty()) {
            Some(home) => PathBuf::from(home),
            None if crate::host::is_root() => PathBuf::from(SYSTEM_HOME),
            None => {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .filter(|value| !value.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache"))
                    })
                    .unwrap_or_else(|| PathBuf::from("/tmp"));
                cache.join("slipway")
            }
        };
        let images = std::env::var_os("SLIPWAY_IMAGE_DIR")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("images"));
        Layout { home, images }
    }

    pub fn at(home: impl Into<PathBuf>) -> Layout {
        let home = home.into();
        Layout {
            images: home.join("images"),
            home,
        }
    }

    pub fn postgres(&self) -> PathBuf {
        self.home.join("postgres")
    }

    pub fn templates(&self) -> PathBuf {
        self.home.join("templates")
    }

    pub fn builds(&self) -> PathBuf {
        self.home.join("builds")
    }

    pub fn build(&self, id: &str) -> PathBuf {
        self.builds().join(id)
    }

    pub fn logs(&self, id: &str) -> PathBuf {
        self.home.join("logs").join(id)
    }

    pub fn runs(&self) -> PathBuf {
        self.home.join("runs")
    }

    pub fn odoo_addons(&self) -> PathBuf {
        self.home.join("odoo-addons")
    }

    pub fn pip_cache(&self) -> PathBuf {
        self.home.join("pip")
    }

    /// A random id of this data dir, made on first use. Names of long-lived
    /// database objects carry it, so that several data dirs (hosts) can share one
    /// PostgreSQL cluster.
    pub fn instance_id(&self) -> Result<String, crate::BuildError> {
        let path = self.home.join("instance.id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            let id = id.trim();
            if id.len() == 6
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Ok(id.to_string());
            }
        }
        std::fs::create_dir_all(&self.home)
            .map_err(crate::BuildError::io("creating", &self.home))?;
        let id = slipway_postgres::random_secret(3);
        // create_new: of two processes racing here, one writes and both read its id.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(id.as_bytes())
                    .map_err(crate::BuildError::io("writing", &path))?;
                Ok(id)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                let id = std::fs::read_to_string(&path)
                    .map_err(crate::BuildError::io("reading", &path))?;
                Ok(id.trim().to_string())
            }
            Err(error) => Err(crate::BuildError::io("writing", &path)(error)),
        }
    }
}
