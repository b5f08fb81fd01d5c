//! A Komodo TOML file as a tree of spanned values, and the line of each span, so that every
//! finding names `file:line`.

use std::path::{Path, PathBuf};

use toml::{
    de::{DeTable, DeValue},
    Spanned,
};

use super::{Finding, Severity};

/// One parsed input file.
pub(super) struct TomlDoc<'i> {
    pub file: PathBuf,
    pub text: &'i str,
    pub root: DeTable<'i>,
}

impl<'i> TomlDoc<'i> {
    /// Parses `text`; a syntax error is a message naming `file:line`.
    pub fn parse(file: &Path, text: &'i str) -> Result<Self, String> {
        match DeTable::parse(text) {
            Ok(root) => Ok(Self {
                file: file.to_path_buf(),
                text,
                root: root.into_inner(),
            }),
            Err(e) => {
                let line = e.span().map_or(1, |s| line_of(text, s.start));
                Err(format!(
                    "{}:{line}: not valid TOML: {}",
                    file.display(),
                    e.message()
                ))
            }
        }
    }

    /// The 1-based line of byte offset `at`.
    pub fn line(&self, at: usize) -> usize {
        line_of(self.text, at)
    }

    pub fn finding(
        &self,
        at: usize,
        field: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            file: self.file.clone(),
            line: self.line(at),
            field: field.into(),
            severity,
            message: message.into(),
        }
    }

    /// The raw text a value was written with (for multi-line strings: where its lines start).
    pub fn raw(&self, at: usize) -> &'i str {
        self.text.get(at..).unwrap_or("")
    }
}

pub(super) fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1
}

/// A key of a table with its value, in file order.
pub(super) type Entry<'a, 'i> = (&'a Spanned<std::borrow::Cow<'i, str>>, &'a Spanned<DeValue<'i>>);

/// The table's entries ordered as written (the parser's map is sorted by key).
pub(super) fn entries<'a, 'i>(t: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    let mut v: Vec<Entry<'a, 'i>> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// Whether a value is a default Komodo writes only to be complete (an empty string, array or
/// table, `false`, `0`): nothing to map, nothing to report.
pub(super) fn is_default(v: &DeValue<'_>) -> bool {
    match v {
        DeValue::String(s) => s.is_empty(),
        DeValue::Boolean(b) => !b,
        DeValue::Integer(i) => i.as_str().trim_start_matches(['+', '-', '0']).is_empty(),
        DeValue::Float(_) | DeValue::Datetime(_) => false,
        DeValue::Array(a) => a.is_empty(),
        DeValue::Table(t) => t.values().all(|v| is_default(v.get_ref())),
    }
}

/// A string value, or `None` for any other type.
pub(super) fn as_str<'a>(v: &'a DeValue<'_>) -> Option<&'a str> {
    match v {
        DeValue::String(s) => Some(s),
        _ => None,
    }
}

/// An array of strings with each one's span, or `None` if it is not one.
pub(super) fn as_strings<'a>(v: &'a DeValue<'_>) -> Option<Vec<(&'a str, usize)>> {
    match v {
        DeValue::Array(a) => a
            .iter()
            .map(|e| as_str(e.get_ref()).map(|s| (s, e.span().start)))
            .collect(),
        _ => None,
    }
}
