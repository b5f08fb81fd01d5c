//! The ordered tree sops works on (Go: `sops.TreeBranch`, `[]interface{}`, `sops.Comment`).
//! Maps keep their key order, comments are items of their own, and every scalar is kept with
//! the Go type it has in sops (`string`, `int`, `float64`, `bool`, `[]byte`, `nil`), because the
//! type decides both the MAC bytes and how the value is printed. `Debug` never shows a value.

use std::fmt;

use crate::secrets::Secret;

/// One item of a map: a key with its value, or a comment line.
#[derive(Clone, PartialEq)]
pub enum Entry {
    Pair {
        key: String,
        value: Node,
        line: Option<usize>,
    },
    Comment {
        text: Secret,
        line: Option<usize>,
    },
}

/// One item of a list (comments may sit between list items in YAML).
#[derive(Clone, PartialEq)]
pub struct ListItem {
    pub value: Node,
    pub line: Option<usize>,
}

/// A value in the tree.
#[derive(Clone, PartialEq)]
pub enum Node {
    Null,
    Str(Secret),
    Bytes(Secret),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A timestamp (Go `time.Time`, sops `type:time`), kept as its RFC 3339 text.
    Time(Secret),
    Map(Vec<Entry>),
    List(Vec<ListItem>),
    Comment(Secret),
}

impl Node {
    /// The scalar's bytes as Go's `sops.ToBytes` gives them (the MAC input). `None` for
    /// maps, lists, null and comments, which the MAC skips.
    pub(crate) fn mac_bytes(&self) -> Option<Vec<u8>> {
        Some(match self {
            Node::Str(s) | Node::Bytes(s) | Node::Time(s) => s.expose().to_vec(),
            Node::Int(i) => i.to_string().into_bytes(),
            Node::Float(f) => go_format_f(*f).into_bytes(),
            Node::Bool(b) => if *b { "True" } else { "False" }.as_bytes().to_vec(),
            _ => return None,
        })
    }

    /// Look up `path` (map keys) below this node.
    pub fn get(&self, path: &[&str]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        match self {
            Node::Map(entries) => entries.iter().find_map(|e| match e {
                Entry::Pair { key, value, .. } if key == first => value.get(rest),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The scalar as text the way a dotenv/INI consumer wants it (strings as they are,
    /// numbers and booleans in their usual spelling). `None` for maps, lists and null.
    pub fn as_secret(&self) -> Option<Secret> {
        Some(match self {
            Node::Str(s) | Node::Bytes(s) | Node::Time(s) => s.clone(),
            Node::Int(i) => Secret::new(i.to_string()),
            Node::Float(f) => Secret::new(go_format_f(*f)),
            Node::Bool(b) => Secret::new(b.to_string()),
            _ => return None,
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::Int(_) => "int",
            Node::Float(_) => "float",
            Node::Bool(_) => "bool",
            Node::Time(_) => "time",
            Node::Map(_) => "map",
            Node::List(_) => "list",
            Node::Comment(_) => "comment",
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Map(entries) => f.debug_list().entries(entries).finish(),
            Node::List(items) => f.debug_list().entries(items.iter().map(|i| &i.value)).finish(),
            Node::Null => f.write_str("null"),
            other => write!(f, "<redacted {}>", other.kind()),
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Pair { key, value, .. } => write!(f, "{key:?}: {value:?}"),
            Entry::Comment { .. } => f.write_str("#<redacted comment>"),
        }
    }
}

impl fmt::Debug for ListItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits that round-trip, never an
/// exponent. Rust's `Display` for `f64` is the same apart from the infinities.
pub(crate) fn go_format_f(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{f}")
}

/// Shortest round-trip digits of `f` (finite, non-zero handled by callers) as
/// (negative, digits, decimal exponent) where value = 0.d1d2… × 10^exp … expressed as
/// `dp`: the position of the decimal point (Go's `decimalSlice.dp`).
fn shortest(f: f64) -> (bool, String, i32) {
    let e = format!("{:e}", f.abs()); // e.g. "1.234568e9"
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().expect("exponent");
    (f.is_sign_negative(), digits, exp + 1)
}

fn go_exp_form(neg: bool, digits: &str, dp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let exp = dp - 1;
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` (what gopkg.in/yaml.v3 prints for a float64),
/// with yaml's `.inf`/`-.inf`/`.nan`.
pub(crate) fn go_format_g_yaml(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (neg, digits, dp) = shortest(f);
    let nd = digits.len() as i32;
    let mut eprec = 6;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        go_exp_form(neg, &digits, dp)
    } else {
        format!("{f}")
    }
}

/// Go `encoding/json` for a float64: `'f'` format, or `'e'` when |f| < 1e-6 or ≥ 1e21, with
/// `e-07` shortened to `e-7`.
pub(crate) fn go_format_json(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let (neg, digits, dp) = shortest(f);
        let mut s = go_exp_form(neg, &digits, dp);
        let n = s.len();
        let b = s.as_bytes();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        s
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        assert_eq!(go_format_g_yaml(1234568000.0), "1.234568e+09");
        assert_eq!(go_format_g_yaml(2.71), "2.71");
        assert_eq!(go_format_g_yaml(25.4), "25.4");
        assert_eq!(go_format_g_yaml(100000.0), "100000");
        assert_eq!(go_format_g_yaml(1e6), "1e+06");
        assert_eq!(go_format_g_yaml(7.0), "7");
        assert_eq!(go_format_g_yaml(0.0001), "0.0001");
        assert_eq!(go_format_g_yaml(0.00001), "1e-05");
        assert_eq!(go_format_g_yaml(-2.5), "-2.5");
        assert_eq!(go_format_g_yaml(123456.0), "123456");
        assert_eq!(go_format_g_yaml(1234567.0), "1.234567e+06");
        assert_eq!(go_format_f(1234568000.0), "1234568000");
        assert_eq!(go_format_f(0.75), "0.75");
        assert_eq!(go_format_json(25.4), "25.4");
        assert_eq!(go_format_json(1e21), "1e+21");
        assert_eq!(go_format_json(1e-7), "1e-7");
        assert_eq!(go_format_json(7.0), "7");
    }

    #[test]
    fn debug_redacts() {
        let n = Node::Map(vec![Entry::Pair {
            key: "k".into(),
            value: Node::Str(Secret::new("v4lue")),
            line: None,
        }]);
        let d = format!("{n:?}");
        assert!(!d.contains("v4lue"), "{d}");
        assert!(d.contains("\"k\""));
    }
}
