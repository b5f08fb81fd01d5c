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
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            self.old.as_deref().unwrap_or("(none)"),
            self.new.as_deref().unwrap_or("(none)")
        )
    }
}

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
    keys.into_iter()
        .filter_map(|k| {
            let o = old.get(k).filter(|v| !is_empty(v));
            let n = new.get(k).filter(|v| !is_empty(v));
            (o != n).then(|| Change {
                field: k.clone(),
                old: o.map(Value::to_string),
                new: n.map(Value::to_string),
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
        assert_eq!(c[0].field, "env");
        assert_eq!(c[0].to_string(), r#"env: {"A":"1"} -> {"A":"2"}"#);
        assert_eq!(between(None, "{}")[0].field, "spec");
    }
}
