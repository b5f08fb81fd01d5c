//! Compose files that `extends: {file}` and `include` name: read through the source root
//! (inside the repository or not at all), parsed with their own line numbers, interpolated.

use std::{path::Path, path::PathBuf, sync::Arc};

use serde_json::{Map, Value};

use super::{
    interpolate::{interpolate_tree, Finding},
    origin::Origin,
    report::Report,
};
use crate::{
    diagnostic::Diagnostic,
    source::RootDir,
    yaml::{parse_documents, FieldPath, SourceMap},
};

/// At most this many files are read for one project's `extends` and `include`: a diamond of
/// includes that include each other's includes would otherwise grow exponentially.
const MAX_FILES: usize = 256;

/// Variable lookup for interpolation.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One compose file of the project, interpolated.
#[derive(Clone)]
pub struct SourceFile {
    /// As shown in messages (relative to the source root).
    pub shown: PathBuf,
    pub map: Arc<SourceMap>,
    /// Where the document sits in its file (`spec` for a Stack's inline services).
    pub base: FieldPath,
    /// Relative paths in this file resolve against this directory (its directory, or an
    /// include's `project_directory`).
    pub dir: RootDir,
    pub value: Map<String, Value>,
}

impl SourceFile {
    /// `at` (a path inside the document) as a place in this file.
    pub fn origin(&self, at: &FieldPath) -> Origin {
        Origin {
            file: self.shown.clone(),
            map: self.map.clone(),
            at: self.base.join(at),
        }
    }

    pub fn diag(&self, at: &FieldPath, message: impl Into<String>) -> Diagnostic {
        self.origin(at).diag(message)
    }

    /// `services` of this file (empty if absent or not a mapping).
    pub fn services(&self) -> Map<String, Value> {
        match self.value.get("services") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    }
}

/// Reads the compose file `written` (relative to `from`, as written at `at`), whose relative
/// paths resolve against its own directory. Problems are reported at `at`, or in the file
/// itself (syntax, interpolation); `None` when it cannot be used.
pub fn read(
    report: &mut Report,
    at: &Origin,
    from: &RootDir,
    written: &str,
    lookup: Lookup,
) -> Option<SourceFile> {
    report.files_read += 1;
    if report.files_read > MAX_FILES {
        if report.files_read > MAX_FILES + 1 {
            return None;
        }
        report.errors.push(
            at.diag(format!(
                "more than {MAX_FILES} compose files read through `extends` and `include`"
            ))
            .with_hint("include each file once; a file included by several files is read each time"),
        );
        return None;
    }
    let dir = from.subdir(Path::new(written).parent().unwrap_or(Path::new("")));
    let read = from.read_to_string(written).and_then(|r| Ok((r, dir?)));
    let ((file, src), dir) = match read {
        Ok(r) => r,
        Err(e) => {
            report
                .errors
                .push(at.diag(format!("compose file {e}")).with_hint(e.hint()));
            return None;
        }
    };
    let shown = file.shown().to_path_buf();
    let docs = match parse_documents(&shown, &src) {
        Ok(d) => d,
        Err(e) => {
            report.errors.extend(e);
            return None;
        }
    };
    let [doc] = docs.as_slice() else {
        report.errors.push(
            at.diag(format!("`{written}` must hold exactly one YAML document"))
                .with_hint("compose files named by `extends` and `include` have one document each"),
        );
        return None;
    };
    let map = Arc::new(doc.map.clone());
    let mut value = doc.value.clone();
    {
        let mut sub = Report::new(&shown, &map);
        let mut findings = Vec::new();
        interpolate_tree(&mut value, &FieldPath::root(), lookup, &mut findings);
        for f in findings {
            match f {
                Finding::Error(path, e) => sub.error(&path, e.to_string()),
                Finding::Unset(path, var) => sub.warn(
                    &path,
                    format!("variable {var} is not set, defaulting to a blank string"),
                ),
            }
        }
        report.errors.extend(sub.errors);
        report.warnings.extend(sub.warnings);
    }
    let Value::Object(value) = value else {
        report.errors.push(Diagnostic::new(
            &shown,
            Some(map.start_line()),
            FieldPath::root(),
            "a compose file must be a mapping with a `services:` key",
        ));
        return None;
    };
    Some(SourceFile {
        shown,
        map,
        base: FieldPath::root(),
        dir,
        value,
    })
}
