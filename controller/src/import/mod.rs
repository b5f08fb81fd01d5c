//! Importers: other tools' configuration → aegis manifests. Pure conversions (text in, YAML
//! and findings out); the CLI reads and writes the files.

pub mod komodo;
