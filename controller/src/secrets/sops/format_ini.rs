//! The INI store (Go `stores/ini/store.go` on gopkg.in/ini.v1).
//!
//! Every section is a map under its name (keys before the first section are in `DEFAULT`),
//! every value is a string. A comment above a section is the section's first item; a comment
//! above a key follows that key in the tree (and is printed above it again). The `[sops]`
//! section holds the flattened metadata. Printing follows go-ini's `WriteTo` with its
//! defaults: `=` aligned per section, one blank line between sections.

use super::{
    decrypt::{ParseError, Parsed},
    metadata,
    tree::{go_format_f, Entry, Node},
};
use crate::secrets::Secret;

struct Section {
    name: String,
    comment: Option<String>,
    keys: Vec<(String, String, Option<String>, usize)>,
}

fn has_surrounded_quote(s: &str, q: char) -> bool {
    s.len() >= 2 && s.starts_with(q) && s.ends_with(q) && s[1..].find(q) == Some(s.len() - 2)
}

fn parse_value(v: &str) -> Result<String, &'static str> {
    let v = v.trim();
    if let Some(rest) = v.strip_prefix("\"\"\"") {
        let end = rest
            .find("\"\"\"")
            .ok_or("unclosed \"\"\" (multi-line values are not supported)")?;
        return Ok(rest[..end].to_string());
    }
    if let Some(rest) = v.strip_prefix('`') {
        let end = rest.find('`').ok_or("unclosed ` quote")?;
        return Ok(rest[..end].to_string());
    }
    let v = match v.find(['#', ';']) {
        Some(i) => v[..i].trim(),
        None => v,
    };
    if has_surrounded_quote(v, '\'') || has_surrounded_quote(v, '"') {
        return Ok(v[1..v.len() - 1].to_string());
    }
    Ok(v.to_string())
}

fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_string()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_string()
    } else {
        c.to_string()
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError {
        line: None,
        reason: "not UTF-8".into(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections = vec![Section {
        name: "DEFAULT".into(),
        comment: None,
        keys: Vec::new(),
    }];
    let mut cur = 0usize;
    let mut pending: Option<String> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r').trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            match &mut pending {
                Some(p) => {
                    p.push('\n');
                    p.push_str(line);
                }
                None => pending = Some(line.to_string()),
            }
            continue;
        }
        if line.starts_with('[') {
            let close = line.rfind(']').ok_or(ParseError {
                line: Some(n),
                reason: "unclosed section header".into(),
            })?;
            let name = line[1..close].trim().to_string();
            if name.is_empty() {
                return Err(ParseError {
                    line: Some(n),
                    reason: "empty section name".into(),
                });
            }
            cur = match sections.iter().position(|s| s.name == name) {
                Some(p) => p,
                None => {
                    sections.push(Section {
                        name,
                        comment: None,
                        keys: Vec::new(),
                    });
                    sections.len() - 1
                }
            };
            if let Some(c) = pending.take() {
                sections[cur].comment = Some(c);
            }
            continue;
        }
        let (k, v) = match line.find(['=', ':']) {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                return Err(ParseError {
                    line: Some(n),
                    reason: "expected `key = value`".into(),
                })
            }
        };
        let mut k = k.trim().to_string();
        if k.len() >= 2
            && ((k.starts_with('`') && k.ends_with('`')) || (k.starts_with('"') && k.ends_with('"')))
        {
            k = k[1..k.len() - 1].to_string();
        }
        let v = parse_value(v).map_err(|r| ParseError {
            line: Some(n),
            reason: r.into(),
        })?;
        let comment = pending.take();
        let keys = &mut sections[cur].keys;
        match keys.iter_mut().find(|(kk, ..)| *kk == k) {
            Some(existing) => {
                existing.1 = v;
                if comment.is_some() {
                    existing.2 = comment;
                }
            }
            None => keys.push((k, v, comment, n)),
        }
    }
    let mut branch = Vec::new();
    let mut metadata = None;
    for s in sections {
        if s.name == "sops" {
            let flat: Vec<(String, String)> = s.keys.into_iter().map(|(k, v, ..)| (k, v)).collect();
            metadata = Some(metadata::unflatten(&flat));
            continue;
        }
        let mut items = Vec::new();
        if let Some(c) = &s.comment {
            items.push(Entry::Comment {
                text: Secret::new(strip_comment_char(c)),
                line: None,
            });
        }
        for (k, v, c, n) in s.keys {
            items.push(Entry::Pair {
                key: k,
                value: Node::Str(Secret::new(v)),
                line: Some(n),
            });
            if let Some(c) = c {
                items.push(Entry::Comment {
                    text: Secret::new(strip_comment_char(&c)),
                    line: Some(n),
                });
            }
        }
        branch.push(Entry::Pair {
            key: s.name,
            value: Node::Map(items),
            line: None,
        });
    }
    Ok(Parsed {
        branches: vec![branch],
        metadata,
    })
}

fn value_text(n: &Node) -> Vec<u8> {
    match n {
        Node::Str(s) | Node::Bytes(s) | Node::Comment(s) | Node::Time(s) => s.expose().to_vec(),
        Node::Float(f) => format!("{:.6}", f).into_bytes(),
        Node::Bool(b) => b.to_string().into_bytes(),
        Node::Int(i) => format!("%!s(int={i})").into_bytes(),
        Node::Null => b"%!s(<nil>)".to_vec(),
        Node::Map(_) | Node::List(_) => b"[complex value]".to_vec(),
    }
}

fn comment_lines(out: &mut Vec<u8>, comment: &[u8], trim: bool) {
    let comment = String::from_utf8_lossy(comment);
    for line in comment.split('\n') {
        if line.starts_with('#') || line.starts_with(';') {
            out.extend_from_slice(&line.as_bytes()[..1]);
            out.push(b' ');
            out.extend_from_slice(line[1..].trim().as_bytes());
        } else {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(if trim { line.trim() } else { line }.as_bytes());
        }
        out.push(b'\n');
    }
}

pub(crate) fn emit(branches: &[Vec<Entry>]) -> Result<Vec<u8>, String> {
    // (name, comment, keys: (name, value, comment))
    type Keys = Vec<(String, Vec<u8>, Option<Vec<u8>>)>;
    let mut sections: Vec<(String, Option<Vec<u8>>, Keys)> = vec![("DEFAULT".into(), None, Vec::new())];
    for branch in branches {
        for e in branch {
            let Entry::Pair { key, value, .. } = e else {
                continue;
            };
            let Node::Map(items) = value else {
                return Err("section values should always be maps".into());
            };
            let idx = match sections.iter().position(|s| s.0 == *key) {
                Some(i) => i,
                None => {
                    sections.push((key.clone(), None, Vec::new()));
                    sections.len() - 1
                }
            };
            let mut first = 0;
            if let Some(Entry::Comment { text, .. }) = items.first() {
                sections[idx].1 = Some(text.expose().to_vec());
                first = 1;
            }
            for item in &items[first..] {
                match item {
                    Entry::Comment { text, .. } => {
                        if let Some(last) = sections[idx].2.last_mut() {
                            last.2 = Some(text.expose().to_vec());
                        }
                    }
                    Entry::Pair { key, value, .. } => {
                        let v = value_text(value);
                        let keys = &mut sections[idx].2;
                        match keys.iter_mut().find(|k| k.0 == *key) {
                            Some(k) => k.1 = v,
                            None => keys.push((key.clone(), v, None)),
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let last = sections.len() - 1;
    for (i, (name, comment, keys)) in sections.iter().enumerate() {
        if let Some(c) = comment {
            comment_lines(&mut out, c, false);
        }
        if i > 0 || name != "DEFAULT" {
            out.extend_from_slice(format!("[{name}]\n").as_bytes());
        } else if keys.is_empty() {
            continue;
        }
        let align = keys
            .iter()
            .map(|(k, ..)| {
                if k.contains('"') || k.contains('=') {
                    k.len() + 2
                } else if k.contains('`') {
                    k.len() + 6
                } else {
                    k.len()
                }
            })
            .max()
            .unwrap_or(0);
        for (k, v, c) in keys {
            if let Some(c) = c {
                comment_lines(&mut out, c, true);
            }
            let kname = if k.contains('"') || k.contains('=') || k.contains(':') {
                format!("`{k}`")
            } else if k.contains('`') {
                format!("\"\"\"{k}\"\"\"")
            } else {
                k.clone()
            };
            out.extend_from_slice(kname.as_bytes());
            out.extend(std::iter::repeat_n(b' ', align.saturating_sub(kname.len())));
            out.extend_from_slice(b" = ");
            let has = |set: &[u8]| v.iter().any(|b| set.contains(b));
            if has(b"\n`") {
                out.extend_from_slice(b"\"\"\"");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\"\"\"");
            } else if has(b"#;") {
                out.push(b'`');
                out.extend_from_slice(v);
                out.push(b'`');
            } else if v.first().is_some_and(|b| b.is_ascii_whitespace())
                || v.last().is_some_and(|b| b.is_ascii_whitespace())
            {
                out.push(b'"');
                out.extend_from_slice(v);
                out.push(b'"');
            } else {
                out.extend_from_slice(v);
            }
            out.push(b'\n');
        }
        if i != last {
            out.push(b'\n');
        }
    }
    let _ = go_format_f;
    Ok(out)
}
