pub mod ci;
pub mod image;
pub mod kept;
pub mod postgres;
pub mod templates;
