//! Odoo images: Debian root filesystems built by debootstrap and cached under the
//! data dir by a hash of their recipe. A packaged image carries Debian's own Odoo
//! package (14.0, 19.0); a runtime image carries only the Python environment an
//! Odoo source tree asks for, the tree being mounted at run time.

mod builder;
mod debian;
mod error;
mod python_env;
mod recipe;
mod runtime;
mod series;
mod source_tree;
mod store;

pub use builder::{BuildOptions, Progress, DEFAULT_MIRROR};
pub use debian::{AptSetup, AptSource, DebianRelease, PythonVersion};
pub use error::ImageError;
pub use python_env::{PIP_ENVIRONMENT, VENV_PYTHON};
pub use recipe::Recipe;
pub use runtime::RuntimeRecipe;
pub use series::OdooVersion;
pub use store::{Image, ImageMeta, ImageStore};
