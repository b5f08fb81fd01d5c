//! Manifests: the six kinds, loading them from a directory, and validating references.

pub mod endpoint;
pub mod kinds;
mod load;
pub mod management;
pub mod schema;
mod validate;
pub mod validate_agents;
mod validate_policy;

pub use load::{load_dir, load_root, AnyManifest, Located, ManifestSet};
pub use validate::validate;
