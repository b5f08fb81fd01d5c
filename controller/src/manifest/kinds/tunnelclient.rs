use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `TunnelClient`: a tunnel agent container (Pangolin machine client or Newt site). Parsed and
/// validated here; its container expansion is built separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TunnelClientSpec {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(rename = "type")]
    pub tunnel_type: TunnelType,
    pub image: String,
    /// The Pangolin endpoint, e.g. `https://pangolin.example`.
    pub endpoint: String,
    /// The DnsGuard that must be in place before the client starts.
    #[serde(default)]
    pub dns_guard: Option<String>,
    /// Hosts whose management path this tunnel carries.
    #[serde(default)]
    pub carries_management_for: Vec<String>,
    /// Extra (non-secret) environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelType {
    PangolinCli,
    Newt,
}
