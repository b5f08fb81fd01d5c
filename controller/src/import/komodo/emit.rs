//! The manifests as YAML text: one document per resource, comments first.

use serde_json::{json, Map, Value};

use super::{HostOut, StackOut};
use crate::manifest::kinds::API_VERSION;

const HEADER: &str = "# Imported from Komodo resource-sync TOML by `aegisctl import komodo`.\n";

pub(super) fn hosts(hosts: &[HostOut]) -> String {
    let docs = hosts.iter().map(|h| {
        let mut spec = Map::new();
        spec.insert("endpoint".into(), json!(h.endpoint));
        if let Some([ca, cert, key]) = &h.tls {
            spec.insert("tls".into(), json!({"ca": ca, "cert": cert, "key": key}));
        }
        (
            h.comments.as_slice(),
            manifest("Host", &h.name, &h.labels, &h.annotations, spec),
        )
    });
    documents(docs)
}

pub(super) fn stacks(stacks: &[StackOut]) -> String {
    let docs = stacks.iter().map(|s| {
        let mut spec = Map::new();
        if let Some(h) = &s.host {
            spec.insert("host".into(), json!(h));
        }
        spec.insert("compose".into(), json!(s.compose));
        if !s.environment.is_empty() {
            spec.insert("environment".into(), json!(s.environment));
        }
        if !s.secrets.is_empty() {
            let secrets: Vec<Value> = s
                .secrets
                .iter()
                .map(|(sops, env_file)| match env_file {
                    Some(e) => json!({"sopsEnv": sops, "envFile": e}),
                    None => json!({"sopsEnv": sops}),
                })
                .collect();
            spec.insert("secrets".into(), Value::Array(secrets));
        }
        if !s.depends_on.is_empty() {
            spec.insert("dependsOn".into(), json!(s.depends_on));
        }
        (
            s.comments.as_slice(),
            manifest("Stack", &s.name, &s.labels, &s.annotations, spec),
        )
    });
    documents(docs)
}

fn manifest(
    kind: &str,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    annotations: &std::collections::BTreeMap<String, String>,
    spec: Map<String, Value>,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if !labels.is_empty() {
        metadata.insert("labels".into(), json!(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), json!(annotations));
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    })
}

fn documents<'a>(docs: impl Iterator<Item = (&'a [String], Value)>) -> String {
    let mut out = String::from(HEADER);
    for (i, (comments, value)) in docs.enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        for c in comments {
            out.push_str("# ");
            out.push_str(c);
            out.push('\n');
        }
        // Plain data of strings, maps and lists: serializing it cannot fail.
        out.push_str(&serde_saphyr::to_string(&value).unwrap_or_default());
    }
    out
}
