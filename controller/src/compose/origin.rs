//! Where the parts of a compose project that `include` and `extends` brought in were written,
//! so that a problem found in the merged tree names that file and line, not the main file's.

use std::{path::PathBuf, sync::Arc};

use crate::{
    diagnostic::Diagnostic,
    yaml::{FieldPath, SourceMap},
};

/// A place in a file: `at` is the field path inside that file's document.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    pub map: Arc<SourceMap>,
    pub at: FieldPath,
}

impl Origin {
    pub fn diag(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file, self.map.line_of(&self.at), self.at.clone(), message)
    }
}

/// Path prefixes of the merged tree → where they were written. The longest prefix wins;
/// a path under none is in the main file.
#[derive(Debug, Clone, Default)]
pub struct Origins(pub Vec<(FieldPath, Origin)>);

impl Origins {
    pub fn add(&mut self, prefix: FieldPath, origin: Origin) {
        self.0.push((prefix, origin));
    }

    /// `path` of the merged tree, as a place in the file that wrote it (if not the main one).
    pub fn locate(&self, path: &FieldPath) -> Option<Origin> {
        let (prefix, origin) = self
            .0
            .iter()
            .filter(|(p, _)| path.0.starts_with(&p.0))
            .max_by_key(|(p, _)| p.0.len())?;
        let rest = FieldPath(path.0[prefix.0.len()..].to_vec());
        Some(Origin {
            at: origin.at.join(&rest),
            ..origin.clone()
        })
    }

    /// `d` (found in the merged tree) pointed at the file that wrote its path.
    pub fn relocate(&self, mut d: Diagnostic) -> Diagnostic {
        if let Some(o) = self.locate(&d.path) {
            d.line = o.map.line_of(&o.at);
            d.file = o.file;
            d.path = o.at;
        }
        d
    }

    /// Every entry moved under `base` (the tree they describe is placed at `base`).
    pub fn extend_under(&mut self, base: &FieldPath, other: Origins) {
        for (p, o) in other.0 {
            self.0.push((base.join(&p), o));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_names_the_file_and_line() {
        let src = "services:\n  base:\n    image: x\n    ports:\n      - 80\n";
        let map = Arc::new(SourceMap::build_all(src).remove(0));
        let mut o = Origins::default();
        o.add(
            FieldPath::parse("services.web"),
            Origin {
                file: "main.yaml".into(),
                map: Arc::new(SourceMap::default()),
                at: FieldPath::parse("services.web"),
            },
        );
        o.add(
            FieldPath::parse("services.web.ports"),
            Origin {
                file: "common.yaml".into(),
                map,
                at: FieldPath::parse("services.base.ports"),
            },
        );
        let d = o.relocate(Diagnostic::new(
            "main.yaml",
            Some(1),
            FieldPath::parse("services.web.ports").index(0),
            "bad",
        ));
        assert_eq!(d.to_string(), "common.yaml:5: services.base.ports[0]: bad");
        assert!(o.locate(&FieldPath::parse("services.db")).is_none());
    }
}
