//! YAML documents with line numbers.
//!
//! Files are parsed once with serde-saphyr into generic [`serde_json::Value`] trees (anchors
//! and `<<` merge keys resolved), so that compose interpolation can run on values before the
//! typed decode, the way compose does it. Line numbers are kept separately in a
//! [`SourceMap`] built from the parser's events, and typed decoding records the field path of
//! any error with `serde_path_to_error`; together they give `file:line: field.path` errors.

mod decode;
mod document;
mod field_path;
mod source_map;

pub use decode::decode;
pub use document::{parse_documents, Document};
pub use field_path::{FieldPath, Segment};
pub use source_map::SourceMap;
