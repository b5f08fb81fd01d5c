//! The YAML store (Go `stores/yaml/store.go` on gopkg.in/yaml.v3).
//!
//! Reading: one tree per document; maps keep key order; plain scalars are typed the way
//! yaml.v3 decodes them into `interface{}` (null, bool, int, float; timestamps stay strings);
//! comments become tree items in document order: a full-line comment belongs to the innermost
//! open map or list whose items are not indented deeper than the comment, and a comment at the
//! end of a line goes before the item on that line (yaml.v3's line comment, which sops puts
//! before the item). Printing follows yaml.v3's encoder with `SetIndent(4)`.

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD, Engine};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::{
    decrypt::{ParseError, Parsed},
    tree::{go_format_g_yaml, Entry, ListItem, Node},
};
use crate::secrets::Secret;

/// Cap on the nodes that aliases may expand to (a "billion laughs" file must not eat memory).
const MAX_ALIAS_NODES: usize = 100_000;

struct Comment {
    line: usize,
    col: usize,
    text: String,
    trailing: bool,
}

enum Frame {
    Map {
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
        col: usize,
        anchor: usize,
    },
    Seq {
        items: Vec<ListItem>,
        col: usize,
        anchor: usize,
    },
}

impl Frame {
    fn col(&self) -> usize {
        match self {
            Frame::Map { col, .. } | Frame::Seq { col, .. } => *col,
        }
    }

    fn add_comment(&mut self, c: &Comment) {
        let text = Secret::new(c.text.clone());
        match self {
            Frame::Map { entries, .. } => {
                let e = Entry::Comment {
                    text,
                    line: Some(c.line),
                };
                let pos = c.trailing.then(|| {
                    entries
                        .iter()
                        .position(|e| matches!(e, Entry::Pair { line: Some(l), .. } if *l == c.line))
                });
                match pos.flatten() {
                    Some(p) => entries.insert(p, e),
                    None => entries.push(e),
                }
            }
            Frame::Seq { items, .. } => {
                let it = ListItem {
                    value: Node::Comment(text),
                    line: Some(c.line),
                };
                let pos = c.trailing.then(|| {
                    items
                        .iter()
                        .position(|i| i.line == Some(c.line) && !matches!(i.value, Node::Comment(_)))
                });
                match pos.flatten() {
                    Some(p) => items.insert(p, it),
                    None => items.push(it),
                }
            }
        }
    }
}

fn node_count(n: &Node) -> usize {
    match n {
        Node::Map(e) => {
            1 + e
                .iter()
                .map(|e| match e {
                    Entry::Pair { value, .. } => node_count(value),
                    Entry::Comment { .. } => 1,
                })
                .sum::<usize>()
        }
        Node::List(i) => 1 + i.iter().map(|i| node_count(&i.value)).sum::<usize>(),
        _ => 1,
    }
}

/// Find `#` comments outside scalars. `spans` are the scalar spans as (line, col) pairs.
/// A scalar's extent as ((line, col), (line, col)).
type ScalarSpan = ((usize, usize), (usize, usize));

fn scan_comments(text: &str, spans: &[ScalarSpan]) -> Vec<Comment> {
    let inside = |p: (usize, usize)| spans.iter().any(|(s, e)| *s <= p && p < *e);
    let mut out = Vec::new();
    for (li, line) in text.split('\n').enumerate() {
        let line_no = li + 1;
        let mut prev_ws = true;
        let mut seen_content = false;
        for (col, ch) in line.chars().enumerate() {
            if ch == '#' && prev_ws && !inside((line_no, col)) {
                let byte = line.char_indices().nth(col).map(|(b, _)| b).unwrap_or(0);
                out.push(Comment {
                    line: line_no,
                    col,
                    text: line[byte + 1..].trim_end_matches('\r').to_string(),
                    trailing: seen_content,
                });
                break;
            }
            prev_ws = ch == ' ' || ch == '\t';
            if !prev_ws {
                seen_content = true;
            }
        }
    }
    out
}

/// yaml.v3 `resolve` of a plain scalar, as decoded into `interface{}`.
fn resolve_plain(s: &str) -> Node {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Node::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Node::Str(Secret::new(s));
    }
    if let Some(t) = timestamp_rfc3339(s) {
        return Node::Time(Secret::new(t));
    }
    let plain = s.replace('_', "");
    if let Some(i) = parse_go_int(&plain) {
        return Node::Int(i);
    }
    if is_yaml_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            return Node::Float(f);
        }
    }
    Node::Str(Secret::new(s))
}

/// yaml.v3 decodes plain timestamps into `time.Time`, which sops prints and hashes in
/// RFC 3339. Handled: `YYYY-MM-DD` and full RFC 3339 date-times (other forms stay strings).
fn timestamp_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let date_ok = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    if !date_ok {
        return None;
    }
    if b.len() == 10 {
        return Some(format!("{s}T00:00:00Z"));
    }
    let t = &s[10..];
    let t = t.strip_prefix(['T', 't'])?;
    let tb = t.as_bytes();
    if tb.len() < 9 || tb[2] != b':' || tb[5] != b':' {
        return None;
    }
    if ![0, 1, 3, 4, 6, 7].iter().all(|i| tb[*i].is_ascii_digit()) {
        return None;
    }
    let mut rest = &t[8..];
    let mut frac = "";
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = &r[..n];
        rest = &r[n..];
    }
    let zone = match rest {
        "Z" | "z" | "+00:00" => "Z".to_string(),
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && z.as_bytes()[3] == b':' => {
            z.to_string()
        }
        _ => return None,
    };
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!("{}T{}{frac}{zone}", &s[..10], &t[..8]))
}

/// Go `strconv.ParseInt(s, 0, 64)` (sign, `0x`, `0o`, `0b`, a leading `0` for octal).
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// yaml.v3's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn scalar_node(value: &str, style: ScalarStyle, tag: Option<(&str, &str)>) -> Node {
    if let Some((handle, suffix)) = tag {
        if handle == "!!" || handle == "tag:yaml.org,2002:" {
            match suffix {
                "str" => return Node::Str(Secret::new(value)),
                "binary" => {
                    let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                    if let Ok(b) = STANDARD.decode(clean) {
                        return Node::Str(Secret::from_bytes(b));
                    }
                }
                "int" | "float" | "bool" | "null" => return resolve_plain(value),
                _ => {}
            }
        }
    }
    match style {
        ScalarStyle::Plain => resolve_plain(value),
        _ => Node::Str(Secret::new(value)),
    }
}

fn syntax(line: usize, reason: impl Into<String>) -> ParseError {
    ParseError {
        line: Some(line),
        reason: reason.into(),
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError {
        line: None,
        reason: "not UTF-8".into(),
    })?;
    // Pass 1: events (and the scalar spans, to tell comments from `#` inside values).
    let mut events: Vec<(Event, Span)> = Vec::new();
    for ev in Parser::new_from_str(text) {
        match ev {
            Ok(ev) => events.push(ev),
            Err(e) => {
                // ScanError's text is "<info> at byte N line L column C": keep the info only.
                let msg = e.to_string();
                let info = msg
                    .split(" at byte ")
                    .next()
                    .unwrap_or("syntax error")
                    .to_string();
                return Err(syntax(e.marker().line(), info));
            }
        }
    }
    let spans: Vec<_> = events
        .iter()
        .filter(|(e, _)| matches!(e, Event::Scalar(..)))
        .map(|(_, s)| ((s.start.line(), s.start.col()), (s.end.line(), s.end.col())))
        .collect();
    let mut comments = scan_comments(text, &spans).into_iter().peekable();

    let mut docs: Vec<Vec<Entry>> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut expanded = 0usize;
    let mut doc_open = false;
    let mut head: Vec<Entry> = Vec::new();

    for (ev, span) in events {
        let pos = (span.start.line(), span.start.col());
        if let Event::MappingStart(anchor, _) = &ev {
            stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                col: pos.1,
                anchor: *anchor,
            });
        }
        if let Event::SequenceStart(anchor, _) = &ev {
            stack.push(Frame::Seq {
                items: Vec::new(),
                col: pos.1,
                anchor: *anchor,
            });
        }
        let flush_to = if matches!(ev, Event::StreamEnd | Event::DocumentEnd) {
            (usize::MAX, 0)
        } else {
            pos
        };
        while let Some(c) = comments.peek() {
            if (c.line, c.col) >= flush_to {
                break;
            }
            let c = comments.next().expect("peeked");
            let target = stack.iter().rposition(|f| f.col() <= c.col).unwrap_or(0);
            match stack.get_mut(target) {
                Some(f) => f.add_comment(&c),
                None => {
                    let e = Entry::Comment {
                        text: Secret::new(c.text.clone()),
                        line: Some(c.line),
                    };
                    match docs.last_mut() {
                        Some(doc) if doc_open => doc.push(e),
                        // Before a document starts: it belongs to the next document.
                        _ => head.push(e),
                    }
                }
            }
        }
        let value: Option<(Node, usize)> = match ev {
            Event::DocumentStart(_) => {
                docs.push(std::mem::take(&mut head));
                doc_open = true;
                None
            }
            Event::DocumentEnd => {
                doc_open = false;
                None
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::MappingStart(..) | Event::SequenceStart(..) => None,
            Event::Scalar(v, style, anchor, tag) => {
                let tag = tag.as_ref().map(|t| (t.handle.as_str(), t.suffix.as_str()));
                if let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut() {
                    *key = Some((v.to_string(), pos.0));
                    None
                } else {
                    let n = scalar_node(&v, style, tag);
                    if anchor > 0 {
                        anchors.insert(anchor, n.clone());
                    }
                    Some((n, pos.0))
                }
            }
            Event::Alias(id) => {
                let n = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax(pos.0, "unknown alias"))?;
                expanded += node_count(&n);
                if expanded > MAX_ALIAS_NODES {
                    return Err(syntax(pos.0, "aliases expand to too many nodes"));
                }
                if let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut() {
                    // An alias used as a key: yaml.v3 decodes the aliased scalar.
                    let text = n
                        .as_secret()
                        .and_then(|s| s.expose_str().map(str::to_string))
                        .unwrap_or_default();
                    *key = Some((text, pos.0));
                    None
                } else {
                    Some((n, pos.0))
                }
            }
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    entries, anchor, key, ..
                }) => {
                    if key.is_some() {
                        return Err(syntax(pos.0, "a key without a value"));
                    }
                    let n = Node::Map(entries);
                    if anchor > 0 {
                        anchors.insert(anchor, n.clone());
                    }
                    Some((n, pos.0))
                }
                _ => return Err(syntax(pos.0, "unbalanced mapping")),
            },
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor, .. }) => {
                    let n = Node::List(items);
                    if anchor > 0 {
                        anchors.insert(anchor, n.clone());
                    }
                    Some((n, pos.0))
                }
                _ => return Err(syntax(pos.0, "unbalanced sequence")),
            },
        };
        let Some((node, line)) = value else { continue };
        match stack.last_mut() {
            Some(Frame::Map { entries, key, .. }) => {
                let (k, kline) = key.take().unwrap_or_default();
                entries.push(Entry::Pair {
                    key: k,
                    value: node,
                    line: Some(kline),
                });
            }
            Some(Frame::Seq { items, .. }) => {
                // The item's line: where it starts (for a map item, its first key's line).
                let _ = line;
                items.push(ListItem {
                    value: node,
                    line: Some(pos.0),
                });
            }
            None => {
                if docs.is_empty() {
                    docs.push(Vec::new());
                }
                let doc = docs.last_mut().expect("a document");
                match node {
                    Node::Map(entries) => doc.extend(entries),
                    Node::Null => {}
                    Node::List(_) => {
                        return Err(syntax(
                            line,
                            "YAML documents that are sequences are not supported",
                        ))
                    }
                    _ => return Err(syntax(line, "YAML documents that are values are not supported")),
                }
            }
        }
    }
    if !head.is_empty() {
        match docs.last_mut() {
            Some(doc) => doc.append(&mut head),
            None => docs.push(head),
        }
    }
    // Go reads the metadata from the first document (yaml.Unmarshal) and drops `sops` from
    // every document.
    let mut metadata = None;
    for (i, doc) in docs.iter_mut().enumerate() {
        doc.retain_mut(|e| match e {
            Entry::Pair { key, value, .. } if key == "sops" => {
                if i == 0 {
                    metadata = Some(std::mem::replace(value, Node::Null));
                }
                false
            }
            _ => true,
        });
    }
    if docs.is_empty() {
        docs.push(Vec::new());
    }
    Ok(Parsed {
        branches: docs,
        metadata,
    })
}

// ---------------------------------------------------------------------------------------------
// Printing, like gopkg.in/yaml.v3 (libyaml's emitter) with indent 4.

const INDENT: usize = 4;

enum Scalar {
    Inline(String),
    /// A literal block: the header (`|`, `|-`, `|+`, maybe with an indentation digit) and
    /// the text.
    Literal(String, String),
}

fn is_printable(c: char) -> bool {
    // libyaml's is_printable over the UTF-8 bytes; 4-byte characters are not printable.
    matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some(' ')
            | Some('\t')
            | Some('\r')
            | Some('\n')
            | Some('\u{85}')
            | Some('\u{2028}')
            | Some('\u{2029}')
    )
}

struct Analysis {
    multiline: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

/// libyaml `yaml_emitter_analyze_scalar` (as in yaml.v3).
fn analyze(s: &str) -> Analysis {
    let mut a = Analysis {
        multiline: false,
        block_plain: true,
        single: true,
        block: true,
    };
    if s.is_empty() {
        return a;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = false;
    let mut flow_ind = false;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = is_blank(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                '#' if preceded_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank(Some(c));
    }
    let _ = flow_ind;
    a.multiline = line_breaks;
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks {
        a.block_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

fn resolves_to_str(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    if !matches!(resolve_plain(s), Node::Str(_)) {
        return false;
    }
    // yaml.v3 also treats timestamps as non-strings when deciding on quotes.
    !looks_like_timestamp(s)
}

fn looks_like_timestamp(s: &str) -> bool {
    // YYYY-M-D at least (yaml.v3 parseTimestamp's formats all start with a date).
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let m = parts.next().unwrap_or("");
    let d_rest = parts.next().unwrap_or("");
    let d: String = d_rest.chars().take_while(char::is_ascii_digit).collect();
    let m_ok = (1..=2).contains(&m.len()) && m.bytes().all(|c| c.is_ascii_digit());
    let d_ok = (1..=2).contains(&d.len());
    if !(m_ok && d_ok) {
        return false;
    }
    let after = &d_rest[d.len()..];
    if after.is_empty() {
        return b.len() == 10 || (m.len() < 2 || d.len() < 2);
    }
    // A time part must follow: 'T', 't' or spaces, then hh:mm:ss…
    let after = after.trim_start_matches([' ', '\t']);
    let after = after.strip_prefix(['T', 't']).unwrap_or(after);
    let hh: String = after.chars().take_while(char::is_ascii_digit).collect();
    (1..=2).contains(&hh.len()) && after[hh.len()..].starts_with(':')
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        let ok = match p.len() {
            1 => p.as_bytes()[0].is_ascii_digit(),
            2 => (b'0'..=b'5').contains(&p.as_bytes()[0]) && p.as_bytes()[1].is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    n > 0
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{feff}' => {
                let v = c as u32;
                if v <= 0xff {
                    out.push_str(&format!("\\x{v:02X}"));
                } else if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04X}"));
                } else {
                    out.push_str(&format!("\\U{v:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How yaml.v3 prints a string (`encoder.stringv` + libyaml's style choice). `key` is the
/// simple-key context.
fn string_scalar(s: &str, key: bool) -> Scalar {
    let can_plain = resolves_to_str(s) && !is_base60_float(s) && !is_old_bool(s);
    let a = analyze(s);
    let multiline = s.contains('\n');
    if multiline && !key && a.block {
        let mut header = String::from("|");
        if s.starts_with(' ') || s.starts_with('\n') {
            header.push_str(&INDENT.to_string());
        }
        if !s.ends_with('\n') {
            header.push('-');
        } else if s == "\n" || s.ends_with("\n\n") {
            header.push('+');
        }
        return Scalar::Literal(header, s.to_string());
    }
    if multiline {
        return Scalar::Inline(double_quoted(s));
    }
    if can_plain && a.block_plain && !(key && a.multiline) {
        return Scalar::Inline(s.to_string());
    }
    if !can_plain {
        // stringv asks for double quotes when the text would not read back as a string.
        return Scalar::Inline(double_quoted(s));
    }
    if a.single {
        return Scalar::Inline(format!("'{}'", s.replace('\'', "''")));
    }
    Scalar::Inline(double_quoted(s))
}

fn scalar(n: &Node) -> Scalar {
    match n {
        Node::Null => Scalar::Inline("null".into()),
        Node::Bool(b) => Scalar::Inline(b.to_string()),
        Node::Int(i) => Scalar::Inline(i.to_string()),
        Node::Float(f) => Scalar::Inline(go_format_g_yaml(*f)),
        Node::Time(t) => Scalar::Inline(String::from_utf8_lossy(t.expose()).into_owned()),
        Node::Str(s) | Node::Bytes(s) | Node::Comment(s) => match s.expose_str() {
            Some(text) => string_scalar(text, false),
            None => Scalar::Inline(format!("!!binary {}", STANDARD.encode(s.expose()))),
        },
        Node::Map(_) | Node::List(_) => Scalar::Inline(String::new()),
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_comment(out: &mut String, indent: usize, text: &Secret) {
    pad(out, indent);
    out.push('#');
    out.push_str(&String::from_utf8_lossy(text.expose()));
    out.push('\n');
}

/// libyaml (yaml.v3) indentation: a node inside a sequence item is indented by 2 (past the
/// `- `); anything else goes to the next multiple of the indent (4).
fn next_indent(indent: usize) -> usize {
    INDENT * ((indent + INDENT) / INDENT)
}

/// Write a value after `key:` or `-` (the cursor is right after the indicator). `child` is
/// the indentation of the value's own lines; `in_seq` says the value is a list item.
fn write_value(out: &mut String, v: &Node, child: usize, in_seq: bool) {
    match v {
        Node::Map(entries) if entries.iter().any(|e| matches!(e, Entry::Pair { .. })) => {
            if in_seq {
                out.push(' ');
                write_map(out, entries, child, true);
            } else {
                out.push('\n');
                write_map(out, entries, child, false);
            }
        }
        Node::Map(_) => out.push_str(" {}\n"),
        Node::List(items) if items.iter().any(|i| !matches!(i.value, Node::Comment(_))) => {
            if in_seq {
                out.push(' ');
                write_seq(out, items, child, true);
            } else {
                out.push('\n');
                write_seq(out, items, child, false);
            }
        }
        Node::List(_) => out.push_str(" []\n"),
        leaf => match scalar(leaf) {
            Scalar::Inline(s) => {
                out.push(' ');
                out.push_str(&s);
                out.push('\n');
            }
            Scalar::Literal(mut header, text) => {
                if header.contains(char::is_numeric) {
                    // The indentation indicator is relative to the parent's indentation.
                    header = header.replace(&INDENT.to_string(), &(child % INDENT + INDENT).to_string());
                }
                out.push(' ');
                out.push_str(&header);
                out.push('\n');
                let body = text.strip_suffix('\n').unwrap_or(&text);
                for line in body.split('\n') {
                    if !line.is_empty() {
                        pad(out, child);
                        out.push_str(line);
                    }
                    out.push('\n');
                }
            }
        },
    }
}

fn write_key(out: &mut String, key: &str) {
    match string_scalar(key, true) {
        Scalar::Inline(s) | Scalar::Literal(_, s) => out.push_str(&s),
    }
    out.push(':');
}

/// `inline_first`: the cursor already sits at `indent` (after `- `) for the first key.
fn write_map(out: &mut String, entries: &[Entry], indent: usize, inline_first: bool) {
    let mut first = true;
    for e in entries {
        match e {
            Entry::Comment { text, .. } => {
                if first && inline_first {
                    // A comment before the first key of a map inside a list item: print it
                    // on its own line and re-open the item.
                    write_comment_inline(out, text);
                    pad(out, indent);
                    continue;
                }
                write_comment(out, indent, text)
            }
            Entry::Pair { key, value, .. } => {
                if !(first && inline_first) {
                    pad(out, indent);
                }
                first = false;
                write_key(out, key);
                write_value(out, value, next_indent(indent), false);
            }
        }
    }
}

fn write_comment_inline(out: &mut String, text: &Secret) {
    out.push('#');
    out.push_str(&String::from_utf8_lossy(text.expose()));
    out.push('\n');
}

fn write_seq(out: &mut String, items: &[ListItem], indent: usize, inline_first: bool) {
    let mut first = true;
    for item in items {
        if let Node::Comment(text) = &item.value {
            if first && inline_first {
                write_comment_inline(out, text);
                pad(out, indent);
                continue;
            }
            write_comment(out, indent, text);
            continue;
        }
        if !(first && inline_first) {
            pad(out, indent);
        }
        first = false;
        out.push('-');
        write_value(out, &item.value, indent + 2, true);
    }
}

pub(crate) fn emit(branches: &[Vec<Entry>]) -> Vec<u8> {
    let mut out = String::new();
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if b.iter().any(|e| matches!(e, Entry::Pair { .. })) {
            write_map(&mut out, b, 0, false);
        } else {
            for e in b {
                if let Entry::Comment { text, .. } = e {
                    write_comment(&mut out, 0, text);
                }
            }
            out.push_str("{}\n");
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_yaml_v3() {
        assert!(matches!(resolve_plain("5432"), Node::Int(5432)));
        assert!(matches!(resolve_plain("0.75"), Node::Float(f) if f == 0.75));
        assert!(matches!(resolve_plain("true"), Node::Bool(true)));
        assert!(matches!(resolve_plain("yes"), Node::Str(_)));
        assert!(matches!(resolve_plain("~"), Node::Null));
        assert!(matches!(resolve_plain("1_000"), Node::Int(1000)));
        assert!(matches!(resolve_plain("0x1F"), Node::Int(31)));
        assert!(matches!(resolve_plain("2001-12-14"), Node::Time(_)));
    }

    #[test]
    fn quoting_like_yaml_v3() {
        let s = |x: &str| match string_scalar(x, false) {
            Scalar::Inline(s) => s,
            Scalar::Literal(h, _) => h,
        };
        assert_eq!(s("plain text"), "plain text");
        assert_eq!(s("true"), "\"true\"");
        assert_eq!(s("123"), "\"123\"");
        assert_eq!(s(""), "\"\"");
        assert_eq!(s("yes"), "\"yes\"");
        assert_eq!(s("a: b"), "'a: b'");
        assert_eq!(s("#x"), "'#x'");
        assert_eq!(s(" lead"), "' lead'");
        assert_eq!(s("a\nb"), "|-");
        assert_eq!(s("a\nb\n"), "|");
        assert_eq!(s("tab\there"), "\"tab\\there\"");
        assert_eq!(s("2001-12-14"), "\"2001-12-14\"");
    }
}
