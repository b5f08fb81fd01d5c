//! Typed decoding of a value with `file:line: field.path` errors.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{FieldPath, SourceMap};
use crate::diagnostic::Diagnostic;

/// Decodes `value` (found at `base` in a document whose lines are in `map`) into `T`.
///
/// Unknown fields are rejected by the types themselves (`deny_unknown_fields`); the error then
/// names the unknown key's path and line.
pub fn decode<T: DeserializeOwned>(
    file: &Path,
    map: &SourceMap,
    base: &FieldPath,
    value: &Value,
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = FieldPath::from_serde(base, e.path());
        let line = map.line_of(&path);
        let message = e.into_inner().to_string();
        let hint = if message.starts_with("unknown field") {
            "remove or rename the key; supported keys are listed in the message"
        } else {
            "check the value's type against the schema in crds/"
        };
        Diagnostic::new(file, line, path, message).with_hint(hint)
    })
}
