//! The JSON store (Go `stores/json/store.go`): numbers are float64, key order is kept, the
//! top-level `sops` object is the metadata. Printing follows Go `json.Marshal` per value and
//! `json.Indent` with a tab.

use base64::{engine::general_purpose::STANDARD, Engine};

use super::{
    decrypt::{ParseError, Parsed},
    tree::{go_format_json, Entry, ListItem, Node},
};
use crate::secrets::Secret;

fn to_node(v: serde_json::Value) -> Node {
    match v {
        serde_json::Value::Null => Node::Null,
        serde_json::Value::Bool(b) => Node::Bool(b),
        serde_json::Value::Number(n) => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Node::Str(Secret::new(s)),
        serde_json::Value::Array(a) => Node::List(
            a.into_iter()
                .map(|v| ListItem {
                    value: to_node(v),
                    line: None,
                })
                .collect(),
        ),
        serde_json::Value::Object(m) => Node::Map(
            m.into_iter()
                .map(|(k, v)| Entry::Pair {
                    key: k,
                    value: to_node(v),
                    line: None,
                })
                .collect(),
        ),
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ParseError {
        line: Some(e.line()),
        // serde_json's messages name the syntax problem, never the input text.
        reason: format!("{:?} error at column {}", e.classify(), e.column()),
    })?;
    let serde_json::Value::Object(_) = &v else {
        return Err(ParseError {
            line: Some(1),
            reason: "sops only supports JSON files with a top-level object".into(),
        });
    };
    let Node::Map(mut entries) = to_node(v) else {
        unreachable!()
    };
    let mut metadata = None;
    entries.retain_mut(|e| match e {
        Entry::Pair { key, value, .. } if key == "sops" => {
            metadata = Some(std::mem::replace(value, Node::Null));
            false
        }
        _ => true,
    });
    Ok(Parsed {
        branches: vec![entries],
        metadata,
    })
}

/// Go `json.Marshal` of a string (HTML-safe escaping, as Go does by default).
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let s = String::from_utf8_lossy(bytes);
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn newline(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b'\t', depth));
}

fn value(out: &mut Vec<u8>, n: &Node, depth: usize) {
    match n {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Node::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Node::Float(f) => out.extend_from_slice(go_format_json(*f).as_bytes()),
        Node::Str(s) | Node::Comment(s) | Node::Time(s) => string(out, s.expose()),
        Node::Bytes(b) => string(out, STANDARD.encode(b.expose()).as_bytes()),
        Node::Map(entries) => {
            let pairs: Vec<_> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Pair { key, value, .. } => Some((key, value)),
                    Entry::Comment { .. } => None,
                })
                .collect();
            if pairs.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.push(b'{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, depth + 1);
                string(out, k.as_bytes());
                out.extend_from_slice(b": ");
                value(out, v, depth + 1);
            }
            newline(out, depth);
            out.push(b'}');
        }
        Node::List(items) => {
            let items: Vec<_> = items
                .iter()
                .filter(|i| !matches!(i.value, Node::Comment(_)))
                .collect();
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, depth + 1);
                value(out, &item.value, depth + 1);
            }
            newline(out, depth);
            out.push(b']');
        }
    }
}

pub(crate) fn emit(branches: &[Vec<Entry>]) -> Result<Vec<u8>, String> {
    let first = branches.first().cloned().unwrap_or_default();
    let mut out = Vec::new();
    value(&mut out, &Node::Map(first), 0);
    out.push(b'\n');
    Ok(out)
}
