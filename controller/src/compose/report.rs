//! Where errors and warnings found while loading one compose file are collected.

use std::path::Path;

pub use super::origin::Origins;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    diagnostic::{Diagnostic, Diagnostics},
    yaml::{self, FieldPath, Segment, SourceMap},
};

/// Names the file and finds lines for every problem; collects them all.
pub struct Report<'a> {
    pub file: &'a Path,
    pub map: &'a SourceMap,
    pub errors: Diagnostics,
    pub warnings: Vec<Diagnostic>,
    /// Parts of the tree written in another file (included files, extended services).
    pub origins: Origins,
    /// Compose files read for `extends` and `include` so far (they are bounded).
    pub files_read: usize,
}

impl<'a> Report<'a> {
    pub fn new(file: &'a Path, map: &'a SourceMap) -> Self {
        Self {
            file,
            map,
            errors: Diagnostics::default(),
            warnings: Vec::new(),
            origins: Origins::default(),
            files_read: 0,
        }
    }

    /// A diagnostic at `path` (a full path inside the document).
    pub fn diag(&self, path: &FieldPath, message: impl Into<String>) -> Diagnostic {
        self.origins.relocate(Diagnostic::new(
            self.file,
            self.map.line_of(path),
            path.clone(),
            message,
        ))
    }

    pub fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        let d = self.diag(path, message);
        self.errors.push(d);
    }

    pub fn error_hint(&mut self, path: &FieldPath, message: impl Into<String>, hint: impl Into<String>) {
        let d = self.diag(path, message).with_hint(hint);
        self.errors.push(d);
    }

    pub fn warn(&mut self, path: &FieldPath, message: impl Into<String>) {
        let d = self.diag(path, message);
        self.warnings.push(d);
    }

    /// Typed decode of `value` (at `path`); on failure the error is recorded and `None`
    /// returned. An unknown key's own line is used, not its parent's.
    pub fn decode<T: DeserializeOwned>(&mut self, path: &FieldPath, value: &Value) -> Option<T> {
        match yaml::decode::<T>(self.file, self.map, path, value) {
            Ok(v) => Some(v),
            Err(mut d) => {
                if let Some(key) = unknown_field(&d.message) {
                    let already = matches!(d.path.0.last(), Some(Segment::Key(k)) if k == key);
                    if !already {
                        d.path = d.path.key(key);
                        d.line = self.map.line_of(&d.path);
                    }
                }
                self.errors.push(self.origins.relocate(d));
                None
            }
        }
    }

    /// Records `result`'s error at `path`; returns the value if there was one.
    pub fn check<T>(&mut self, path: &FieldPath, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(path, message);
                None
            }
        }
    }
}

/// The key named by serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}
