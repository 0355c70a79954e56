//! Odoo runtime images: Debian root filesystems with one Odoo version and its Python
//! dependencies, built by debootstrap and cached under the data dir by a hash of
//! their recipe.

mod builder;
mod error;
mod recipe;
mod store;

pub use builder::{BuildOptions, Progress, DEFAULT_MIRROR};
pub use error::ImageError;
pub use recipe::{AptSource, OdooVersion, Recipe};
pub use store::{Image, ImageMeta, ImageStore};
