use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::desired::ResourceRef;

/// `TunnelClient`: a tunnel agent container, a Pangolin machine client (`pangolin-cli`) or a
/// Newt site, expanded to the container the seed found by trial and error (privileges,
/// mounts, networks) with its credentials from SOPS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TunnelClientSpec {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(rename = "type")]
    pub tunnel_type: TunnelType,
    /// The image, pinned: a tag other than `latest`, or a digest (seed:
    /// `fosrl/pangolin-cli:0.3.3`, `fosrl/newt:1.9.0`).
    pub image: String,
    /// The Pangolin endpoint, e.g. `https://pangolin.example` (`PANGOLIN_ENDPOINT`). May
    /// instead come from a SOPS file in `secrets`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// SOPS-encrypted dotenv files with the credentials: `CLIENT_ID` and `CLIENT_SECRET`
    /// (pangolin-cli) or `NEWT_ID` and `NEWT_SECRET` (newt), and `PANGOLIN_ENDPOINT` unless
    /// `endpoint` is set. Decrypted in memory; every variable becomes the container's env.
    #[serde(default)]
    pub secrets: Vec<TunnelSecret>,
    /// pangolin-cli: the DnsGuard on the same host that must be Ready before the client
    /// starts. Default: the only DnsGuard on the host (a pangolin-cli client requires one).
    #[serde(default)]
    pub dns_guard: Option<String>,
    /// pangolin-cli: `--upstream-dns` servers (`ip` or `ip:port`); newer clients have no
    /// default. Default: the DnsGuard's `fallbackNameservers`.
    #[serde(default)]
    pub upstream_dns: Vec<String>,
    /// newt: Docker networks to join (a `Network` manifest or an existing network). Default:
    /// Docker's default bridge.
    #[serde(default)]
    pub networks: Vec<String>,
    /// newt: the file Newt writes while it is connected (`HEALTH_FILE`); becomes the
    /// container's healthcheck, so the client is Ready only when connected.
    #[serde(default)]
    pub health_file: Option<String>,
    /// Hosts whose management path this tunnel carries: the client is then critical (applied
    /// last, one at a time, commit-confirmed).
    #[serde(default)]
    pub carries_management_for: Vec<String>,
    /// Resources on the same host that must be applied (and Ready) first.
    #[serde(default)]
    pub depends_on: Vec<ResourceRef>,
    /// Extra (non-secret) environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Extra arguments for the client (after the ones aegis sets).
    #[serde(default)]
    pub args: Vec<String>,
    /// The container's name. Default: the TunnelClient's name.
    #[serde(default)]
    pub container_name: Option<String>,
    /// Optional check against the Pangolin integration API: is the site or client online, and
    /// has it been granted access to the resources it needs?
    #[serde(default)]
    pub pangolin_api: Option<PangolinApi>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelType {
    PangolinCli,
    Newt,
}

impl TunnelType {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelType::PangolinCli => "pangolin-cli",
            TunnelType::Newt => "newt",
        }
    }
}

/// One `spec.secrets` entry of a TunnelClient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TunnelSecret {
    /// A SOPS-encrypted dotenv file, relative to this manifest.
    pub sops_env: String,
}

/// `spec.pangolinApi`: where the Pangolin integration API is and what to check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PangolinApi {
    /// The integration API's base URL, e.g. `https://api.pangolin.example/v1`.
    pub url: String,
    /// The organisation id.
    pub org: String,
    /// The API key (sent as a bearer token): a variable of a SOPS dotenv file.
    pub api_key: SopsValue,
    /// The site's (newt) or client's (pangolin-cli) name in Pangolin. Default: the
    /// TunnelClient's name.
    #[serde(default)]
    pub name: Option<String>,
    /// pangolin-cli: ids of the site resources (private resources) the client must have been
    /// granted access to; a machine client gets none by default (seed, POC finding #3).
    #[serde(default)]
    pub resources: Vec<u64>,
}

/// One variable of a SOPS dotenv file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SopsValue {
    /// The SOPS dotenv file, relative to this manifest.
    pub sops_env: String,
    /// The variable's name in it.
    pub key: String,
}
