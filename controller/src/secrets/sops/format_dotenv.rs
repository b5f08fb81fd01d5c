//! The dotenv store (Go `stores/dotenv/store.go`).
//!
//! Lines are split on `\n`; empty lines are dropped; a line starting with `#` is a comment;
//! otherwise `KEY=VALUE` split at the first `=`, with `\n` escapes in the value turned into
//! newlines. Keys starting with `sops_` are the flattened metadata. Printing reverses this.

use super::{
    decrypt::{ParseError, Parsed},
    metadata,
    tree::{Entry, Node},
};
use crate::secrets::Secret;

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError {
        line: Some(bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1),
        reason: "not UTF-8".into(),
    })?;
    let mut entries = Vec::new();
    let mut flat = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = Some(i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            entries.push(Entry::Comment {
                text: Secret::new(c),
                line: n,
            });
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(ParseError {
                line: n,
                reason: "expected KEY=VALUE (no `=` on the line)".into(),
            });
        };
        if let Some(m) = k.strip_prefix("sops_") {
            flat.push((m.to_string(), v.to_string()));
        } else {
            entries.push(Entry::Pair {
                key: k.to_string(),
                value: Node::Str(Secret::new(v.replace("\\n", "\n"))),
                line: n,
            });
        }
    }
    let metadata = (!flat.is_empty()).then(|| metadata::unflatten(&flat));
    Ok(Parsed {
        branches: vec![entries],
        metadata,
    })
}

fn scalar_text(n: &Node) -> Result<Vec<u8>, String> {
    match n {
        Node::Map(_) | Node::List(_) => Err("a dotenv file cannot hold a nested map or list".into()),
        Node::Null => Ok(b"<nil>".to_vec()), // Go: fmt.Sprintf("%v", nil)
        Node::Float(f) => Ok(super::tree::go_format_g_yaml(*f)
            .replace(".inf", "+Inf")
            .replace(".nan", "NaN")
            .into_bytes()),
        Node::Bool(b) => Ok(b.to_string().into_bytes()),
        other => Ok(other.as_secret().map(|s| s.expose().to_vec()).unwrap_or_default()),
    }
}

pub(crate) fn emit(branches: &[Vec<Entry>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for e in branches.first().map(Vec::as_slice).unwrap_or_default() {
        match e {
            Entry::Comment { text, .. } => {
                out.push(b'#');
                out.extend_from_slice(text.expose());
            }
            Entry::Pair { key, value, .. } => {
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                for b in scalar_text(value)? {
                    if b == b'\n' {
                        out.extend_from_slice(b"\\n");
                    } else {
                        out.push(b);
                    }
                }
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}
