//! Key-level checks done on the generic tree before the typed decode: extension fields
//! (`x-*`) are dropped, and keys compose knows but aegis does not support get an error with
//! a hint instead of serde's bare "unknown field".
//!
//! Every unknown key of a mapping is reported (the typed decode would stop at the first).

use serde_json::{Map, Value};

use super::report::Report;
use crate::yaml::FieldPath;

/// Removes `x-*` keys from a mapping (compose extension fields).
pub fn strip_extensions(map: &mut Map<String, Value>) {
    map.retain(|k, _| !k.starts_with("x-"));
}

/// Service keys compose knows that aegis rejects, with what to do instead.
fn unsupported_service_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "develop" => "compose watch is a development feature and is not supported",
        "provider" | "models" => {
            "provider services and models run through Docker Desktop's plugins (model runner), \
             which a Docker Engine alone does not have; run the model server as an ordinary \
             service instead"
        }
        "container_name_prefix" => "not a compose key; use `container_name` or the Stack's name",
        "stop_timeout" => "not a compose key (Compose v2 refuses it too); use `stop_grace_period`",
        "credential_spec" => "Windows containers only; not supported by aegis",
        "lifecycle" => {
            "not a compose key (Kubernetes spells hooks that way); use `post_start` and `pre_stop`"
        }
        _ => return None,
    })
}

/// Checks a service mapping's keys: extension fields and null values are dropped; unsupported
/// and unknown keys are reported and dropped, so that the typed decode of the rest still
/// finds the other errors.
pub fn check_service_keys(
    report: &mut Report,
    path: &FieldPath,
    map: &mut Map<String, Value>,
    known: &[&str],
) {
    strip_extensions(map);
    map.retain(|_, v| !v.is_null());
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if known.contains(&key.as_str()) {
            continue;
        }
        let at = path.key(key.clone());
        match unsupported_service_key(&key) {
            Some(hint) => report.error_hint(&at, format!("`{key}` is not supported"), hint),
            None => report.error_hint(
                &at,
                format!("unknown key `{key}`"),
                format!("supported service keys: {}", known.join(", ")),
            ),
        }
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::SourceMap;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn reports_every_unknown_key_with_a_hint() {
        let mut v = json!({"image": "x", "develop": {}, "x-meta": 1, "frobnicate": true, "user": null});
        let map = SourceMap::default();
        let mut report = Report::new(Path::new("c.yaml"), &map);
        let obj = v.as_object_mut().expect("map");
        check_service_keys(
            &mut report,
            &FieldPath::parse("services.a"),
            obj,
            &["image", "user"],
        );
        assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["image"]);
        let text = report.errors.to_string();
        assert_eq!(report.errors.len(), 2, "{text}");
        assert!(
            text.contains("services.a.develop: `develop` is not supported"),
            "{text}"
        );
        assert!(text.contains("compose watch"), "{text}");
        assert!(
            text.contains("services.a.frobnicate: unknown key `frobnicate`"),
            "{text}"
        );
    }
}
