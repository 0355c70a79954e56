use std::path::PathBuf;

/// Why a build could not run to a verdict. A repository whose modules fail is not
/// an error: that is a build with the status *failed*. These are problems with the
/// input or the infrastructure (exit code 2 in `slipway ci`).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Checkout(#[from] slipway_checkout::CheckoutError),

    #[error(transparent)]
    Image(#[from] slipway_image::ImageError),

    #[error(transparent)]
    Postgres(#[from] slipway_postgres::PgError),

    #[error(transparent)]
    Sandbox(#[from] slipway_sandbox::SandboxError),

    #[error(transparent)]
    Addons(#[from] slipway_addons::DiscoveryError),

    #[error(transparent)]
    Source(#[from] slipway_sources::SourceError),

    #[error(transparent)]
    Backup(#[from] slipway_backup::BackupError),

    #[error("{tree} is not an Odoo source tree ({why}): give the address of Odoo's repository (odoo/odoo or a fork of it) with --odoo-repo")]
    NotOdoo { tree: String, why: String },

    #[error("{tree} is Odoo {found} (odoo/release.py), not {asked}: give --odoo {found}, or a revision of the {asked} series with --odoo-rev")]
    SeriesMismatch {
        tree: String,
        asked: String,
        found: String,
    },

    #[error("no Odoo addons found in {0}: an addon is a directory holding a __manifest__.py")]
    NoAddons(PathBuf),

    #[error("unknown module '{module}' in --modules: the repository has {available}")]
    UnknownModule { module: String, available: String },

    #[error(
        "module '{0}' is marked 'installable': False in its manifest; remove it from --modules"
    )]
    NotInstallable(String),

    #[error(transparent)]
    IgnoreRule(#[from] slipway_odoo_log::InvalidRule),

    #[error("{0}")]
    Host(String),

    #[error("{} holds no Connect secret: a build gets one when slipway serves it", .0.display())]
    NoConnectSecret(PathBuf),

    #[error("the build was interrupted; everything it created has been removed")]
    Interrupted,

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| {
            if source.raw_os_error() == Some(libc::ENOSPC) {
                return BuildError::Host(format!(
                    "disk full while {action} {}: free some space (old templates: `slipway templates prune`) and try again",
                    path.display()
                ));
            }
            BuildError::Io {
                action,
                path,
                source,
            }
        }
    }
}
