use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// `DnsGuard`: the host DNS failsafe (four tiers). Parsed and validated here; the agent that
/// runs it is built separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsGuardSpec {
    #[serde(default)]
    pub host: Option<String>,
    /// Tier 1: the tunnel's DNS proxy to probe with a real query.
    pub probe: DnsProbe,
    /// How often to probe. Default 30s.
    #[serde(default)]
    pub interval: Option<Duration>,
    /// Tier 2: the host-side backup to restore. Default `/etc/resolv.conf.pre-pangolin`.
    #[serde(default)]
    pub backup_path: Option<String>,
    /// The file being guarded. Default `/etc/resolv.conf`.
    #[serde(default)]
    pub resolv_conf: Option<String>,
    /// Tier 4: nameservers written as a last resort.
    #[serde(default)]
    pub fallback_nameservers: Vec<String>,
    /// Image of the agent; defaults to aegis's own image.
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsProbe {
    /// `ip:port` of the DNS server to query, e.g. `100.96.128.1:53`.
    pub server: String,
    /// The name to resolve. Default `example.com`.
    #[serde(default)]
    pub name: Option<String>,
    /// Default 2s.
    #[serde(default)]
    pub timeout: Option<Duration>,
}
