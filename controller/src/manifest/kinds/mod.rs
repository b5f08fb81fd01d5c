//! The resource kinds, as written in manifests (`apiVersion: aegis.dev/v1alpha1`).
//!
//! These types are the public API: field names are camelCase like Kubernetes, unknown fields
//! are errors, and the JSON Schemas in `crds/` are generated from them.

mod dnsguard;
mod host;
mod network;
mod policy;
mod stack;
mod tunnelclient;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use dnsguard::{DnsGuardSpec, DnsProbe};
pub use host::{HostManifestSpec, HostProbe, HostTls};
pub use network::{NetworkIpam, NetworkManifestSpec};
pub use policy::{CapabilityGrant, NetworkRule, PolicySpec, Privileges, Selector, ServiceRule};
pub use stack::{StackManifestSpec, StackSecret};
pub use tunnelclient::{PangolinApi, SopsValue, TunnelClientSpec, TunnelSecret, TunnelType};

pub const API_VERSION: &str = "aegis.dev/v1alpha1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The resource's name, unique per kind. For a Network it is also the Docker network's name.
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest of one kind: `apiVersion`, `kind`, `metadata` and the typed `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest<S> {
    /// Always `aegis.dev/v1alpha1`.
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

/// A duration written like compose and Kubernetes do: `30s`, `1m30s`, `500ms`, `2h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut total = std::time::Duration::ZERO;
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err("empty duration".into());
        }
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (num, tail) = rest.split_at(num_end);
            let unit_end = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            let n: f64 = num
                .parse()
                .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 1m30s, 500ms)"))?;
            let secs = match unit {
                "ns" => n / 1e9,
                "us" | "µs" => n / 1e6,
                "ms" => n / 1e3,
                "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(format!("`{s}` has an unknown unit `{unit}` (use ms, s, m or h)")),
            };
            total += std::time::Duration::from_secs_f64(secs);
            rest = tail;
        }
        Ok(Self(total))
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9.]+(ns|us|ms|s|m|h))+$",
            "description": "A duration such as 30s, 1m30s or 500ms."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("1m30s").map(|d| d.0.as_secs()), Ok(90));
        assert_eq!(Duration::parse("500ms").map(|d| d.0.as_millis()), Ok(500));
        assert!(Duration::parse("5 parsecs").is_err());
        assert!(Duration::parse("").is_err());
    }
}
