//! Manifests: the five kinds, loading them from a directory, and validating references.

pub mod kinds;
mod load;
pub mod schema;
mod validate;

pub use load::{load_dir, load_root, AnyManifest, Located, ManifestSet};
pub use validate::validate;
