use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `Network`: a Docker network on a host. `metadata.name` is the Docker network's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkManifestSpec {
    /// The Host it lives on; may be omitted when there is one host.
    #[serde(default)]
    pub host: Option<String>,
    /// `true`: the network must already exist; aegis never creates, changes or deletes it.
    #[serde(default)]
    pub external: bool,
    /// Default `bridge`.
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default, rename = "enableIPv6")]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub ipam: Option<NetworkIpam>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options, e.g. `com.docker.network.bridge.name`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkIpam {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub ip_range: Option<String>,
}
