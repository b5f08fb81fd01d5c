//! Compose v2's merge of a service over the service it `extends` (compose-go v2.9
//! `override.ExtendService`, then `EnforceUnicity`), on the generic tree.
//!
//! - scalars: the service's own value wins;
//! - mappings (`deploy`, `healthcheck`, `build`, ...): merged key by key, recursively;
//! - `environment`, `labels`, `annotations`, `sysctls`, `tmpfs`, `env_file`, `dns*`: both sides
//!   turned into `KEY=value` lists (a mapping sorted by key), concatenated, and one entry kept
//!   per key (the service's value, at the base's position);
//! - `command`, `entrypoint`, `healthcheck.test`, each `ulimits` entry: replaced whole;
//! - `networks`, `depends_on`: list or mapping form, merged as mappings;
//! - `logging`: options merged when both name the same driver (or either names none);
//! - `extra_hosts`: the union;
//! - other lists (`ports`, `volumes`, `cap_add`, `expose`, `links`, `volumes_from`, ...):
//!   concatenated; `ports` and `cap_*` keep one of each, `volumes`/`devices` one per target.
//!
//! `depends_on`, `links` and `volumes_from` of the base are inherited, as Compose v2 does.

use serde_json::{Map, Value};

/// `own` merged over `base` (both service mappings). `Err` gives the service key whose two
/// values cannot be merged (a mapping over a list, ...) and the message.
pub fn extend_service(
    base: &Map<String, Value>,
    own: &Map<String, Value>,
) -> Result<Map<String, Value>, (String, String)> {
    let mut merged = Map::new();
    for (k, v) in base {
        merged.insert(k.clone(), v.clone());
    }
    for (k, v) in own {
        let value = match merged.get(k) {
            None => v.clone(),
            Some(e) => merge_value(e, v, &[k]).map_err(|m| (k.clone(), m))?,
        };
        merged.insert(k.clone(), value);
    }
    merged.remove("extends");
    unique(&mut merged);
    Ok(merged)
}

fn merge_mappings(
    mut into: Map<String, Value>,
    other: &Map<String, Value>,
    path: &[&str],
) -> Result<Map<String, Value>, String> {
    for (k, v) in other {
        let merged = match into.get(k) {
            None => v.clone(),
            Some(e) => {
                let mut p = path.to_vec();
                p.push(k);
                merge_value(e, v, &p)?
            }
        };
        into.insert(k.clone(), merged);
    }
    Ok(into)
}

/// compose-go's `mergeSpecials`, at paths relative to the service.
fn merge_value(e: &Value, o: &Value, path: &[&str]) -> Result<Value, String> {
    match path {
        ["environment" | "labels" | "annotations" | "sysctls" | "tmpfs" | "env_file" | "label_file"
        | "dns" | "dns_opt" | "dns_search"]
        | ["build", "args" | "labels" | "additional_contexts"]
        | ["deploy", "labels"] => return Ok(to_sequence_concat(e, o)),
        ["command" | "entrypoint"] | ["healthcheck", "test"] | ["ulimits", _] => return Ok(o.clone()),
        ["depends_on"] => {
            let dflt = serde_json::json!({"condition": "service_started", "required": true});
            return merge_mappings(into_mapping(e, &dflt), &into_mapping(o, &dflt), path).map(Value::Object);
        }
        ["networks"] => {
            return merge_mappings(
                into_mapping(e, &Value::Null),
                &into_mapping(o, &Value::Null),
                path,
            )
            .map(Value::Object)
        }
        ["extra_hosts"] | ["build", "extra_hosts"] => {
            let mut out = into_sequence(e);
            for v in into_sequence(o) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            return Ok(Value::Array(out));
        }
        ["build"] => {
            let ctx = |v: &Value| match v {
                Value::String(s) => Map::from_iter([("context".to_string(), Value::String(s.clone()))]),
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            return merge_mappings(ctx(e), &ctx(o), path).map(Value::Object);
        }
        ["logging"] => {
            if let (Value::Object(base), Value::Object(own)) = (e, o) {
                let same = match (base.get("driver"), own.get("driver")) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                return if same {
                    merge_mappings(base.clone(), own, path).map(Value::Object)
                } else {
                    Ok(o.clone())
                };
            }
        }
        _ => {}
    }
    match (e, o) {
        (_, Value::Null) => Ok(e.clone()),
        (Value::Object(base), Value::Object(own)) => {
            merge_mappings(base.clone(), own, path).map(Value::Object)
        }
        (Value::Array(base), Value::Array(own)) => {
            Ok(Value::Array(base.iter().chain(own).cloned().collect()))
        }
        (Value::Object(_) | Value::Array(_), _) => Err(format!(
            "`{}` cannot be merged over the extended service's value of another type",
            path.join(".")
        )),
        _ => Ok(o.clone()),
    }
}

fn to_sequence_concat(e: &Value, o: &Value) -> Value {
    let mut out = into_sequence(e);
    out.extend(into_sequence(o));
    Value::Array(out)
}

/// compose-go's `convertIntoSequence`: a mapping becomes sorted `KEY=value` (or `KEY` for a
/// null value) entries.
fn into_sequence(v: &Value) -> Vec<Value> {
    match v {
        Value::Object(m) => {
            let mut seq: Vec<String> = Vec::new();
            for (k, val) in m {
                match val {
                    Value::Null => seq.push(k.clone()),
                    Value::Array(items) => seq.extend(items.iter().map(|i| format!("{k}={}", scalar(i)))),
                    other => seq.push(format!("{k}={}", scalar(other))),
                }
            }
            seq.sort();
            seq.into_iter().map(Value::String).collect()
        }
        Value::Array(a) => a.clone(),
        Value::String(s) => vec![Value::String(s.clone())],
        _ => Vec::new(),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// compose-go's `convertIntoMapping`: a list of names becomes a mapping of each to `dflt`.
fn into_mapping(v: &Value, dflt: &Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(|s| (s.to_string(), dflt.clone())))
            .collect(),
        _ => Map::new(),
    }
}

/// compose-go's `EnforceUnicity` on one service: in these lists a later entry with the same
/// key replaces an earlier one, in the earlier one's place.
fn unique(service: &mut Map<String, Value>) {
    for (key, v) in service.iter_mut() {
        let index: fn(&Value) -> Option<String> = match key.as_str() {
            "annotations" | "cap_add" | "cap_drop" | "dns" | "dns_opt" | "dns_search" | "environment"
            | "labels" | "links" | "profiles" | "sysctls" | "tmpfs" => key_value_index,
            "devices" => device_index,
            "volumes" => volume_index,
            "ports" => port_index,
            "expose" => |v: &Value| Some(scalar(v)),
            "env_file" => |v: &Value| match v {
                Value::Object(m) => m.get("path").map(scalar),
                other => Some(scalar(other)),
            },
            "secrets" => |v: &Value| mount_index("/run/secrets", v),
            "configs" => |v: &Value| mount_index("", v),
            "networks" => {
                if let Value::Object(nets) = v {
                    for net in nets.values_mut() {
                        if let Value::Object(n) = net {
                            for k in ["aliases", "link_local_ips"] {
                                if let Some(list) = n.get_mut(k) {
                                    dedup(list, key_value_index);
                                }
                            }
                        }
                    }
                }
                continue;
            }
            _ => continue,
        };
        dedup(v, index);
    }
}

fn dedup(v: &mut Value, index: fn(&Value) -> Option<String>) {
    let Value::Array(items) = v else { return };
    let mut out: Vec<Value> = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for item in items.drain(..) {
        match index(&item) {
            Some(k) => match seen.iter().find(|(s, _)| *s == k) {
                Some((_, at)) => out[*at] = item,
                None => {
                    seen.push((k, out.len()));
                    out.push(item);
                }
            },
            None => out.push(item),
        }
    }
    *items = out;
}

fn key_value_index(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    Some(s.split_once('=').map_or(s, |(k, _)| k).to_string())
}

fn volume_index(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("target").map(scalar),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() == 1 { parts[0] } else { parts[1] }.to_string())
        }
        _ => None,
    }
}

fn device_index(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("target").map(scalar),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() == 1 { parts[0] } else { parts[1] }.to_string())
        }
        _ => None,
    }
}

fn port_index(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => {
            let get = |k: &str, d: &str| m.get(k).map_or(d.to_string(), scalar);
            Some(format!(
                "{}:{}:{}/{}",
                get("host_ip", "0.0.0.0"),
                get("published", ""),
                get("target", ""),
                get("protocol", "tcp")
            ))
        }
        other => Some(scalar(other)),
    }
}

fn mount_index(dflt: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("{dflt}/{s}")),
        Value::Object(m) => match m.get("target") {
            Some(t) => Some(scalar(t)),
            None => Some(format!(
                "{dflt}/{}",
                m.get("source").map(scalar).unwrap_or_default()
            )),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ext(base: Value, own: Value) -> Value {
        let (Value::Object(b), Value::Object(o)) = (base, own) else {
            panic!("mappings")
        };
        Value::Object(extend_service(&b, &o).expect("merges"))
    }

    #[test]
    fn scalars_are_overridden_and_base_keys_inherited() {
        let m = ext(
            json!({"image": "a", "restart": "always", "user": "1"}),
            json!({"image": "b", "extends": "base"}),
        );
        assert_eq!(m, json!({"image": "b", "restart": "always", "user": "1"}));
    }

    #[test]
    fn environment_and_labels_of_either_form_are_merged_by_key() {
        let m = ext(
            json!({"environment": {"A": "1", "B": "2", "N": null}, "labels": ["x=1", "y=2"]}),
            json!({"environment": ["B=3", "C=4"], "labels": {"y": "3", "z": 4}}),
        );
        assert_eq!(m["environment"], json!(["A=1", "B=3", "N", "C=4"]));
        assert_eq!(m["labels"], json!(["x=1", "y=3", "z=4"]));
    }

    #[test]
    fn lists_are_appended_with_compose_unicity() {
        let m = ext(
            json!({"ports": ["80:80", "443:443"], "volumes": ["./a:/data", "logs:/logs"], "cap_add": ["NET_ADMIN"],
                   "dns": "1.1.1.1", "devices": ["/dev/a:/dev/x"]}),
            json!({"ports": ["80:80", "8080:8080"], "volumes": ["./b:/data:ro"], "cap_add": ["NET_ADMIN", "SYS_TIME"],
                   "dns": ["1.1.1.1", "9.9.9.9"], "devices": ["/dev/b:/dev/x"]}),
        );
        assert_eq!(m["ports"], json!(["80:80", "443:443", "8080:8080"]));
        assert_eq!(m["volumes"], json!(["./b:/data:ro", "logs:/logs"]));
        assert_eq!(m["cap_add"], json!(["NET_ADMIN", "SYS_TIME"]));
        assert_eq!(m["dns"], json!(["1.1.1.1", "9.9.9.9"]));
        assert_eq!(m["devices"], json!(["/dev/b:/dev/x"]));
    }

    #[test]
    fn command_entrypoint_healthcheck_test_and_ulimits_are_replaced() {
        let m = ext(
            json!({"command": ["a", "b"], "entrypoint": "sh", "healthcheck": {"test": ["CMD", "x"], "interval": "5s"},
                   "ulimits": {"nofile": {"soft": 1, "hard": 2}, "nproc": 5}}),
            json!({"command": "c", "healthcheck": {"test": ["CMD", "y"]}, "ulimits": {"nofile": {"soft": 3, "hard": 4}}}),
        );
        assert_eq!(m["command"], json!("c"));
        assert_eq!(m["entrypoint"], json!("sh"));
        assert_eq!(m["healthcheck"], json!({"test": ["CMD", "y"], "interval": "5s"}));
        assert_eq!(
            m["ulimits"],
            json!({"nofile": {"soft": 3, "hard": 4}, "nproc": 5})
        );
    }

    #[test]
    fn networks_depends_on_and_deploy_merge_as_mappings() {
        let m = ext(
            json!({"networks": ["front"], "depends_on": ["db"], "deploy": {"resources": {"limits": {"cpus": "1", "memory": "1g"}}},
                   "links": ["db"]}),
            json!({"networks": {"back": {"aliases": ["b"]}}, "depends_on": {"cache": {"condition": "service_healthy"}},
                   "deploy": {"resources": {"limits": {"memory": "2g"}}}, "links": ["db", "cache"]}),
        );
        assert_eq!(m["networks"], json!({"front": null, "back": {"aliases": ["b"]}}));
        assert_eq!(
            m["depends_on"],
            json!({"db": {"condition": "service_started", "required": true}, "cache": {"condition": "service_healthy"}})
        );
        assert_eq!(
            m["deploy"],
            json!({"resources": {"limits": {"cpus": "1", "memory": "2g"}}})
        );
        assert_eq!(m["links"], json!(["db", "cache"]));
    }

    #[test]
    fn logging_options_merge_only_for_the_same_driver() {
        let same = ext(
            json!({"logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": "3"}}}),
            json!({"logging": {"options": {"max-size": "5m"}}}),
        );
        assert_eq!(
            same["logging"],
            json!({"driver": "json-file", "options": {"max-size": "5m", "max-file": "3"}})
        );
        let other = ext(
            json!({"logging": {"driver": "json-file", "options": {"max-size": "1m"}}}),
            json!({"logging": {"driver": "local"}}),
        );
        assert_eq!(other["logging"], json!({"driver": "local"}));
    }

    #[test]
    fn extra_hosts_are_a_union_and_type_clashes_are_errors() {
        let m = ext(
            json!({"extra_hosts": ["a:1.2.3.4"]}),
            json!({"extra_hosts": ["a:1.2.3.4", "b:5.6.7.8"]}),
        );
        assert_eq!(m["extra_hosts"], json!(["a:1.2.3.4", "b:5.6.7.8"]));
        let (Value::Object(b), Value::Object(o)) =
            (json!({"deploy": {"replicas": 1}}), json!({"deploy": ["x"]}))
        else {
            panic!()
        };
        let (key, e) = extend_service(&b, &o).expect_err("clash");
        assert_eq!(key, "deploy");
        assert!(e.contains("`deploy`"), "{e}");
    }
}
