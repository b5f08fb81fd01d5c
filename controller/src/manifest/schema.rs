//! JSON Schemas for every kind, generated from the Rust types (`aegis schema`).
//!
//! CI regenerates them and fails if `crds/` differs, so the schemas can't go stale.

use std::path::Path;

use schemars::{schema_for, JsonSchema};

use super::kinds::{
    DnsGuardSpec, HostManifestSpec, Manifest, NetworkManifestSpec, PolicySpec, StackManifestSpec,
    TunnelClientSpec,
};
use crate::desired::Kind;

fn schema<S: JsonSchema>(kind: Kind) -> serde_json::Value {
    let mut s = serde_json::to_value(schema_for!(Manifest<S>)).unwrap_or_default();
    if let Some(obj) = s.as_object_mut() {
        obj.insert("title".into(), serde_json::Value::String(kind.to_string()));
        obj.insert(
            "$id".into(),
            serde_json::Value::String(format!(
                "https://aegis.dev/schemas/v1alpha1/{}.json",
                kind.as_str().to_lowercase()
            )),
        );
    }
    s
}

/// `(file name, pretty JSON)` for every kind.
pub fn all() -> Vec<(String, String)> {
    let entries = [
        (Kind::Host, schema::<HostManifestSpec>(Kind::Host)),
        (Kind::Network, schema::<NetworkManifestSpec>(Kind::Network)),
        (Kind::Stack, schema::<StackManifestSpec>(Kind::Stack)),
        (Kind::DnsGuard, schema::<DnsGuardSpec>(Kind::DnsGuard)),
        (Kind::TunnelClient, schema::<TunnelClientSpec>(Kind::TunnelClient)),
        (Kind::Policy, schema::<PolicySpec>(Kind::Policy)),
    ];
    entries
        .into_iter()
        .map(|(k, v)| {
            let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
            (format!("{}.schema.json", k.as_str().to_lowercase()), text)
        })
        .collect()
}

/// Writes every schema into `dir`.
pub fn write_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in all() {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_has_a_schema_with_its_fields() {
        let all = super::all();
        assert_eq!(all.len(), 6);
        let stack = &all
            .iter()
            .find(|(n, _)| n == "stack.schema.json")
            .expect("stack schema")
            .1;
        assert!(
            stack.contains("dependsOn") && stack.contains("compose"),
            "{stack}"
        );
    }
}
