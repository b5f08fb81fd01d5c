//! The loose value shapes compose accepts: a string or a list, a list or a map, a number
//! written as a string (which every interpolated value is), and so on.
//!
//! Each type deserializes from a generic value and says plainly what it expected.

use indexmap::IndexMap;
use serde::{de::DeserializeOwned, Deserialize, Deserializer};
use serde_json::Value;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Text of a scalar. An integral float prints without `.0` (`1e3` → `1000`), as compose's
/// Go formatting does.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn custom<E: serde::de::Error>(msg: impl std::fmt::Display) -> E {
    E::custom(msg)
}

/// Decodes a nested value; the message of a failure (e.g. `unknown field`) is kept.
fn nested<T: DeserializeOwned, E: serde::de::Error>(v: Value) -> Result<T, E> {
    serde_json::from_value(v).map_err(custom)
}

/// A string, number or boolean, as text (`1.5`, `true`, `80`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        scalar_text(&v)
            .map(Scalar)
            .ok_or_else(|| custom(format!("expected a string or number, found {}", kind(&v))))
    }
}

/// A boolean, also written as a string (`"true"`, `yes`, `off`), as compose accepts after
/// interpolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bool(pub bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Bool(b) => Ok(Bool(*b)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "on" => Ok(Bool(true)),
                "false" | "no" | "n" | "off" => Ok(Bool(false)),
                _ => Err(custom(format!("expected true or false, found `{s}`"))),
            },
            _ => Err(custom(format!("expected true or false, found {}", kind(&v)))),
        }
    }
}

/// An integer, also written as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let parsed = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        parsed
            .map(Int)
            .ok_or_else(|| custom(format!("expected an integer, found {}", shown(&v))))
    }
}

fn shown(v: &Value) -> String {
    match scalar_text(v) {
        Some(s) => format!("`{s}`"),
        None => kind(v).to_string(),
    }
}

/// One string or a list of strings (`dns: 1.1.1.1` or `dns: [1.1.1.1]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StringOrList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    scalar_text(i)
                        .ok_or_else(|| custom(format!("expected a list of strings, found {} in it", kind(i))))
                })
                .collect::<Result<_, _>>()
                .map(StringOrList),
            _ => scalar_text(&v)
                .map(|s| StringOrList(vec![s]))
                .ok_or_else(|| custom(format!("expected a string or a list, found {}", kind(&v)))),
        }
    }
}

/// A command: one string (to be split like a shell would) or a list (used as-is). Unlike
/// [`StringOrList`], the two forms stay distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Shell(String),
    Exec(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::Array(_) => nested::<StringOrList, D::Error>(v).map(|l| CommandLine::Exec(l.0)),
            other => scalar_text(&other)
                .map(CommandLine::Shell)
                .ok_or_else(|| custom(format!("expected a string or a list, found {}", kind(&other)))),
        }
    }
}

/// A string (or number) in short syntax, or a mapping in long syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum StrOr<T> {
    Str(String),
    Long(T),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for StrOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::Object(_) => nested(v).map(StrOr::Long),
            other => scalar_text(&other)
                .map(StrOr::Str)
                .ok_or_else(|| custom(format!("expected a string or a mapping, found {}", kind(&other)))),
        }
    }
}

/// One item or a list of them (`env_file: .env` or `env_file: [a, b]`).
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::Array(items) => items
                .into_iter()
                .map(nested)
                .collect::<Result<_, _>>()
                .map(OneOrMany),
            other => nested(other).map(|one| OneOrMany(vec![one])),
        }
    }
}

/// compose's "list or dict": `["K=V", "K"]` or `{K: V, K: null}`. Values stay `None` where
/// none was given (`K` alone, or `K: null`); what that means depends on the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOrMap(pub Vec<(String, Option<String>)>);

impl ListOrMap {
    /// Splits list items at the first of `seps`.
    pub fn parse(v: Value, seps: &[char]) -> Result<Self, String> {
        match v {
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    let s = scalar_text(i)
                        .ok_or_else(|| format!("expected a list of strings, found {} in it", kind(i)))?;
                    Ok(match s.find(seps) {
                        Some(at) => (s[..at].to_string(), Some(s[at + 1..].to_string())),
                        None => (s, None),
                    })
                })
                .collect::<Result<_, String>>()
                .map(ListOrMap),
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::Null => Ok((k, None)),
                    other => scalar_text(&other)
                        .map(|s| (k.clone(), Some(s)))
                        .ok_or_else(|| format!("`{k}`: expected a string or number, found {}", kind(&other))),
                })
                .collect::<Result<_, String>>()
                .map(ListOrMap),
            Value::Null => Ok(ListOrMap::default()),
            other => Err(format!("expected a list or a mapping, found {}", kind(&other))),
        }
    }
}

impl<'de> Deserialize<'de> for ListOrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ListOrMap::parse(Value::deserialize(d)?, &['=']).map_err(custom)
    }
}

/// `extra_hosts`: list items are `host:ip` or `host=ip` (the first `=`, else the first `:`),
/// map values are an IP or a list of IPs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtraHosts(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for ExtraHosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let mut out = Vec::new();
        match v {
            Value::Array(items) => {
                for i in &items {
                    let s = scalar_text(i).ok_or_else(|| custom("expected a list of `host:ip` strings"))?;
                    let at = s.find('=').or_else(|| s.find(':'));
                    let Some(at) = at else {
                        return Err(custom(format!("`{s}` is not `host:ip` or `host=ip`")));
                    };
                    out.push((s[..at].to_string(), s[at + 1..].to_string()));
                }
            }
            Value::Object(map) => {
                for (host, ips) in map {
                    for ip in nested::<StringOrList, D::Error>(ips)?.0 {
                        out.push((host.clone(), ip));
                    }
                }
            }
            other => {
                return Err(custom(format!(
                    "expected a list or a mapping, found {}",
                    kind(&other)
                )))
            }
        }
        Ok(ExtraHosts(out))
    }
}

/// A list of names, or a mapping from name to an optional long form
/// (`networks:`, `depends_on:`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamesOrMap<T>(pub IndexMap<String, Option<T>>);

impl<T> Default for NamesOrMap<T> {
    fn default() -> Self {
        Self(IndexMap::new())
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for NamesOrMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let mut out = IndexMap::new();
        match v {
            Value::Array(items) => {
                for i in &items {
                    let s = scalar_text(i).ok_or_else(|| custom("expected a list of names"))?;
                    out.insert(s, None);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let long = match v {
                        Value::Null => None,
                        other => Some(nested(other).map_err(|e: D::Error| custom(format!("`{k}`: {e}")))?),
                    };
                    out.insert(k, long);
                }
            }
            other => {
                return Err(custom(format!(
                    "expected a list or a mapping, found {}",
                    kind(&other)
                )))
            }
        }
        Ok(NamesOrMap(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_accept_strings() {
        assert_eq!(
            serde_json::from_value::<Bool>(json!("yes")).expect("ok"),
            Bool(true)
        );
        assert_eq!(
            serde_json::from_value::<Bool>(json!(false)).expect("ok"),
            Bool(false)
        );
        assert!(serde_json::from_value::<Bool>(json!("maybe")).is_err());
        assert_eq!(serde_json::from_value::<Int>(json!("42")).expect("ok"), Int(42));
        assert_eq!(serde_json::from_value::<Scalar>(json!(1.5)).expect("ok").0, "1.5");
        assert_eq!(
            serde_json::from_value::<Scalar>(json!(1000.0)).expect("ok").0,
            "1000"
        );
    }

    #[test]
    fn list_or_map() {
        let l: ListOrMap = serde_json::from_value(json!(["A=1", "B", "C=x=y"])).expect("ok");
        assert_eq!(
            l.0,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("C".into(), Some("x=y".into()))
            ]
        );
        let m: ListOrMap = serde_json::from_value(json!({"A": 1, "B": null, "C": true})).expect("ok");
        assert_eq!(
            m.0,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("C".into(), Some("true".into()))
            ]
        );
    }

    #[test]
    fn extra_hosts_forms() {
        let l: ExtraHosts = serde_json::from_value(json!(["a:1.2.3.4", "b=::1", "c:::1"])).expect("ok");
        assert_eq!(
            l.0,
            vec![
                ("a".into(), "1.2.3.4".into()),
                ("b".into(), "::1".into()),
                ("c".into(), "::1".into())
            ]
        );
        let m: ExtraHosts = serde_json::from_value(json!({"a": "1.2.3.4", "b": ["1", "2"]})).expect("ok");
        assert_eq!(m.0.len(), 3);
    }
}
