//! Which fields changed between the applied spec (from the `aegis.dev/spec` label) and the
//! desired one. This is what `diff` prints and what a recreate gives as its reason.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Top-level field name, e.g. `env` or `image_id`.
    pub field: String,
    /// Compact JSON of the old value (`None`: field absent).
    pub old: Option<String>,
    pub new: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.old, &self.new) {
            // A changed secret: there is nothing to show on either side.
            (None, Some(n)) if n == SECRET_CHANGED => write!(f, "{}: {SECRET_CHANGED}", self.field),
            (o, n) => write!(
                f,
                "{}: {} -> {}",
                self.field,
                o.as_deref().unwrap_or("(none)"),
                n.as_deref().unwrap_or("(none)")
            ),
        }
    }
}

const SECRET_CHANGED: &str = "(secret changed)";

/// Field-level differences between two spec JSON documents. An unreadable old spec (e.g. an
/// object created by an older aegis) yields a single `spec` change.
pub fn between(old_json: Option<&str>, new_json: &str) -> Vec<Change> {
    let new: Value = serde_json::from_str(new_json).unwrap_or(Value::Null);
    let old: Option<Value> = old_json.and_then(|s| serde_json::from_str(s).ok());
    let (Some(Value::Object(old)), Value::Object(new)) = (old, &new) else {
        return vec![Change {
            field: "spec".into(),
            old: None,
            new: Some("(changed)".into()),
        }];
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let o = old.get(k).filter(|v| !is_empty(v));
        let n = new.get(k).filter(|v| !is_empty(v));
        if o == n {
            continue;
        }
        match k.as_str() {
            "env" => out.extend(env_changes(o, n)),
            _ => out.push(Change {
                field: k.clone(),
                old: o.map(Value::to_string),
                new: n.map(Value::to_string),
            }),
        }
    }
    out
}

/// `env` changes one variable at a time, so a diff names the variable; a secret shows as
/// `(secret)` and a changed one as `(secret changed)`: neither its value nor its digest.
fn env_changes(old: Option<&Value>, new: Option<&Value>) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let old = old.and_then(Value::as_object).unwrap_or(&empty);
    let new = new.and_then(Value::as_object).unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let is_secret = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.starts_with(crate::desired::SECRET_PREFIX))
    };
    let show = |v: &Value| {
        if is_secret(v) {
            "(secret)".to_string()
        } else {
            v.to_string()
        }
    };
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (old.get(k), new.get(k));
            if o == n {
                return None;
            }
            let (o_text, n_text) = match (o, n) {
                (Some(a), Some(b)) if is_secret(a) && is_secret(b) => {
                    (None, Some(SECRET_CHANGED.to_string()))
                }
                _ => (o.map(show), n.map(show)),
            };
            Some(Change {
                field: format!("env.{k}"),
                old: o_text,
                new: n_text,
            })
        })
        .collect()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_changed_fields() {
        let c = between(
            Some(r#"{"env":{"A":"1"},"image":"x","dns":[]}"#),
            r#"{"env":{"A":"2"},"image":"x"}"#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "env.A");
        assert_eq!(c[0].to_string(), r#"env.A: "1" -> "2""#);
        assert_eq!(between(None, "{}")[0].field, "spec");
    }

    #[test]
    fn secrets_show_neither_value_nor_digest() {
        let c = between(
            Some(r#"{"env":{"PW":"secret:aaaa","NEW":"x"}}"#),
            r#"{"env":{"PW":"secret:bbbb","TOKEN":"secret:cccc"}}"#,
        );
        let text: Vec<String> = c.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "env.NEW: \"x\" -> (none)",
                "env.PW: (secret changed)",
                "env.TOKEN: (none) -> (secret)"
            ]
        );
    }
}
