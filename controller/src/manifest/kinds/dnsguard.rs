use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// `DnsGuard`: the host DNS failsafe (four tiers), run as the `aegis agent dnsguard` container
/// on its host. See `agent::dnsguard` for what the agent does.
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
    /// Tier 2: the host-side backup to restore, under /etc. Default `/etc/resolv.conf.pre-pangolin`.
    #[serde(default)]
    pub backup_path: Option<String>,
    /// The file being guarded, under /etc. Default `/etc/resolv.conf`.
    #[serde(default)]
    pub resolv_conf: Option<String>,
    /// Tier 4: nameservers (IP addresses) written as a last resort. Also the default
    /// `upstreamDns` of the pangolin-cli TunnelClients this guard protects.
    #[serde(default)]
    pub fallback_nameservers: Vec<String>,
    /// Nameservers in this subnet mean "resolv.conf points at the proxy". Default: the /24
    /// around the probe address (Pangolin's per-organisation utility subnet, 100.96.128.0/24).
    #[serde(default)]
    pub utility_subnet: Option<String>,
    /// Image of the agent; defaults to the agent image aegis builds from its own executable.
    #[serde(default)]
    pub image: Option<String>,
    /// The host directory the agent sees as the host's `/etc` (mounted read-write so
    /// `resolv.conf` can be replaced, symlink included). Default `/etc`; tests point it at a
    /// scratch directory.
    #[serde(default)]
    pub host_etc: Option<String>,
    /// The host directory of systemd-resolved's stub file (mounted read-only). Default
    /// `/run/systemd/resolve`.
    #[serde(default)]
    pub host_resolved_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsProbe {
    /// `ip:port` (or `ip`, port 53) of the DNS server to query, e.g. `100.96.128.1:53`.
    pub server: String,
    /// The name to resolve. Default `example.com`.
    #[serde(default)]
    pub name: Option<String>,
    /// Default 2s.
    #[serde(default)]
    pub timeout: Option<Duration>,
}
