use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::desired::ResourceRef;

/// `Host`: one Docker endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostManifestSpec {
    /// `unix:///var/run/docker.sock` or `tcp://host:2376`. Omitted: `$DOCKER_HOST` or the
    /// default socket.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// TLS client material for `tcp://` endpoints. The server certificate is always verified.
    #[serde(default)]
    pub tls: Option<HostTls>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Resources whose disruption cuts the controller off from this host (applied last, one at
    /// a time). Used by the management-path safety work.
    #[serde(default)]
    pub management_path: Vec<ResourceRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostTls {
    /// CA certificate (PEM) that signed the server certificate.
    pub ca: String,
    /// Client certificate (PEM).
    pub cert: String,
    /// Client key (PEM).
    pub key: String,
}
