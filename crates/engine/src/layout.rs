//! Where slipway keeps things on disk.

use std::path::{Path, PathBuf};

use crate::LogFile;

/// Default data dir when running as root.
pub const SYSTEM_HOME: &str = "/var/cache/slipway";

/// The data dir and everything under it.
///
/// ```text
/// <home>/images/         Odoo runtime images (may be moved with SLIPWAY_IMAGE_DIR)
/// <home>/postgres/       the embedded cluster
/// <home>/templates/      template databases' filestores and metadata
/// <home>/builds/<id>/    a build's checkout, Odoo data dir and config ([`BuildDir`];
///                        removed after it unless it serves)
/// <home>/logs/<id>/      a build's logs ([`LogFile`], kept)
/// <home>/runs/           one marker per running build, for the reaper
/// <home>/odoo-addons/    slipway's own Odoo addons, one directory per content
/// <home>/pip/            pip's download cache
/// <home>/pydeps/         installed Python requirements, one directory per content
/// <home>/repos/          the platform's mirrors of its projects' repositories
/// <home>/mirrors/        one bare mirror per repository of Odoo's sources
/// <home>/trees/          one read-only tree per (source repository, commit)
/// <home>/dumps/          dumps being written for download
/// <home>/server.json     the running `slipway serve`'s address and token
/// <home>/slipway.toml    projects as code, read at start
/// <home>/instance.id     this data dir's id in shared database names
/// ```
#[derive(Debug, Clone)]
pub struct Layout {
    pub home: PathBuf,
    pub images: PathBuf,
    /// Production's backups: outside the cluster's data, ideally on another
    /// disk (`SLIPWAY_BACKUP_DIR`, else `<home>/backups`).
    pub backups: PathBuf,
}

impl Layout {
    /// `SLIPWAY_HOME`, else `/var/cache/slipway` as root, else
    /// `$XDG_CACHE_HOME/slipway` (`~/.cache/slipway`).
    pub fn from_env() -> Layout {
        Layout::from_vars(|name| std::env::var_os(name), crate::host::is_root())
    }

    /// [`Layout::from_env`] with the environment as `var` gives it.
    fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>, root: bool) -> Layout {
        let set = |name: &str| {
            var(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        let home = match set("SLIPWAY_HOME") {
            Some(home) => home,
            None if root => PathBuf::from(SYSTEM_HOME),
            None => set("XDG_CACHE_HOME")
                .or_else(|| set("HOME").map(|home| home.join(".cache")))
                .unwrap_or_else(|| PathBuf::from("/tmp"))
                .join("slipway"),
        };
        Layout {
            images: set("SLIPWAY_IMAGE_DIR").unwrap_or_else(|| home.join("images")),
            backups: set("SLIPWAY_BACKUP_DIR").unwrap_or_else(|| home.join("backups")),
            home,
        }
    }

    pub fn at(home: impl Into<PathBuf>) -> Layout {
        let home = home.into();
        Layout {
            images: home.join("images"),
            backups: home.join("backups"),
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

    /// The directory of build `id` (its engine id).
    pub fn build(&self, id: &str) -> BuildDir {
        BuildDir {
            root: self.builds().join(id),
        }
    }

    /// The directory of every build's logs.
    pub fn all_logs(&self) -> PathBuf {
        self.home.join("logs")
    }

    /// The directory of build `id`'s logs.
    pub fn logs(&self, id: &str) -> PathBuf {
        self.all_logs().join(id)
    }

    /// One log file of build `id`.
    pub fn log(&self, id: &str, file: LogFile) -> PathBuf {
        self.logs(id).join(file.file_name())
    }

    /// One bare mirror per repository of Odoo's sources (slipway_sources).
    pub fn mirrors(&self) -> PathBuf {
        self.home.join("mirrors")
    }

    /// One read-only tree per (source repository, commit).
    pub fn trees(&self) -> PathBuf {
        self.home.join("trees")
    }

    /// The platform's mirrors of its projects' repositories.
    pub fn repos(&self) -> PathBuf {
        self.home.join("repos")
    }

    /// Where dumps are written before they are sent.
    pub fn dumps(&self) -> PathBuf {
        self.home.join("dumps")
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

    /// Installed Python requirements, one directory per content.
    pub fn pydeps(&self) -> PathBuf {
        self.home.join("pydeps")
    }

    /// The address and token of the `slipway serve` running on this data dir,
    /// for the CLI's client commands (0600).
    pub fn server_file(&self) -> PathBuf {
        self.home.join("server.json")
    }

    /// Projects as code: read by `slipway serve` at start when present.
    pub fn projects_file(&self) -> PathBuf {
        self.home.join("slipway.toml")
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

/// The directory of one build: its checkout, Odoo's data dir and the files
/// that let it be served again.
///
/// ```text
/// src/           the checkout at the build's commit (read-only in the sandbox)
/// data/          Odoo's data dir: filestore/<database>/, sessions
/// odoo.conf      the Odoo configuration (0600: it holds the role's password)
/// served.json    what it takes to serve the build again
/// start-odoo.sh  starts its Odoo by hand (`slipway ci --keep`)
/// shell.pgpass   the web shell's password file for psql
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDir {
    root: PathBuf,
}

impl BuildDir {
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn source(&self) -> PathBuf {
        self.root.join("src")
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The filestore of `database` in this build's data dir.
    pub fn filestore(&self, database: &str) -> PathBuf {
        filestore_in(&self.data(), database)
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("odoo.conf")
    }

    pub fn served_file(&self) -> PathBuf {
        self.root.join("served.json")
    }

    pub fn start_script(&self) -> PathBuf {
        self.root.join("start-odoo.sh")
    }

    pub fn shell_pgpass(&self) -> PathBuf {
        self.root.join("shell.pgpass")
    }
}

/// Where Odoo keeps `database`'s attachments inside the data dir `data`.
pub fn filestore_in(data: &Path, database: &str) -> PathBuf {
    data.join("filestore").join(database)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(vars: &[(&str, &str)], root: bool) -> Layout {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Layout::from_vars(
            |name| {
                vars.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.into())
            },
            root,
        )
    }

    #[test]
    fn images_and_backups_live_in_the_home_unless_told_otherwise() {
        let default = layout(&[], true);
        assert_eq!(default.home, Path::new(SYSTEM_HOME));
        assert_eq!(default.backups, Path::new(SYSTEM_HOME).join("backups"));
        assert_eq!(default.images, Path::new(SYSTEM_HOME).join("images"));
        let moved = layout(
            &[
                ("SLIPWAY_HOME", "/srv/slipway"),
                ("SLIPWAY_BACKUP_DIR", "/mnt/backup-disk"),
                ("SLIPWAY_IMAGE_DIR", ""),
            ],
            true,
        );
        assert_eq!(moved.backups, Path::new("/mnt/backup-disk"));
        assert_eq!(
            moved.images,
            Path::new("/srv/slipway/images"),
            "empty is unset"
        );
        let user = layout(&[("HOME", "/home/ada")], false);
        assert_eq!(user.home, Path::new("/home/ada/.cache/slipway"));
        let xdg = layout(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/home/ada")], false);
        assert_eq!(xdg.backups, Path::new("/c/slipway/backups"));
    }
}
