//! Multi-document YAML files parsed into generic values, each with its own [`SourceMap`].

use std::path::Path;

use serde_json::Value;

use super::{FieldPath, SourceMap};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    pub map: SourceMap,
}

impl Document {
    /// Line of `path` in this document, if known.
    pub fn line_of(&self, path: &FieldPath) -> Option<usize> {
        self.map.line_of(path)
    }
}

/// Parses every document in `src`. Empty documents (e.g. a trailing `---`) are skipped.
/// `file` is only used to name the file in errors.
pub fn parse_documents(file: &Path, src: &str) -> Result<Vec<Document>, Diagnostics> {
    // YAML 1.2 core booleans, as docker compose (go-yaml v3) reads them: `n`, `no`, `on` and
    // `yes` stay strings instead of turning into booleans behind the user's back.
    let options = serde_saphyr::options! { strict_booleans: true };
    let values: Vec<Value> = match serde_saphyr::from_multiple_with_options(src, options) {
        Ok(v) => v,
        Err(e) => return Err(syntax_error(file, &e).into()),
    };
    let maps = SourceMap::build_all(src);
    let docs = values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Document {
            value,
            map: maps.get(i).cloned().unwrap_or_default(),
        })
        .filter(|d| !d.value.is_null())
        .collect();
    Ok(docs)
}

fn syntax_error(file: &Path, e: &serde_saphyr::Error) -> Diagnostic {
    let line = e.location().map(|l| l.line() as usize);
    let msg = e.without_snippet().to_string();
    // serde-saphyr prefixes its own "line X column Y"; keep the message short.
    Diagnostic::new(file, line, FieldPath::root(), format!("invalid YAML: {msg}"))
        .with_hint("fix the YAML syntax; `yamllint` shows the exact spot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_anchors_and_keeps_lines() {
        let src = "x-base: &base\n  restart: always\nservices:\n  a:\n    <<: *base\n    image: busybox\n";
        let docs = parse_documents(Path::new("c.yaml"), src).expect("parses");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value["services"]["a"]["restart"], "always");
        assert_eq!(docs[0].line_of(&FieldPath::parse("services.a.image")), Some(6));
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let src = "a: 1\nb: [1, 2\nc: 3\n";
        let err = parse_documents(Path::new("bad.yaml"), src).expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("bad.yaml:"), "{text}");
        assert!(err.0[0].line.is_some(), "{text}");
    }

    #[test]
    fn yaml_11_booleans_stay_strings() {
        let docs = parse_documents(Path::new("b.yaml"), "a: n\nb: yes\nc: true\n").expect("parses");
        assert_eq!(docs[0].value["a"], "n");
        assert_eq!(docs[0].value["b"], "yes");
        assert_eq!(docs[0].value["c"], true);
    }

    #[test]
    fn multi_document() {
        let src = "a: 1\n---\nb: 2\n---\n";
        let docs = parse_documents(Path::new("m.yaml"), src).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line_of(&FieldPath::parse("b")), Some(3));
    }
}
