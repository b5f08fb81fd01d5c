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
    /// Resources whose disruption cuts the controller off from this host. They may live on
    /// other hosts. Each is critical: changed last, one at a time, commit-confirmed with a
    /// rollback watchdog, never pruned or recreated as a side effect.
    #[serde(default)]
    pub management_path: Vec<ResourceRef>,
    /// A `tcp://` endpoint without `tls` that is not on loopback sends the Docker API (root on
    /// that host) in clear text: refused unless this is `true`.
    #[serde(default)]
    pub insecure: bool,
    /// Image of aegis's in-host agents (rollback watchdog, DnsGuard). Omitted: aegis builds one
    /// from its own executable and copies it to the host through the Docker API.
    #[serde(default)]
    pub agent_image: Option<String>,
    /// The Docker socket as a path on the host itself, bind-mounted into agents. Default
    /// `/var/run/docker.sock`.
    #[serde(default)]
    pub agent_socket: Option<String>,
    /// An extra check that the host is reachable after a management-path change, besides a
    /// fresh Docker connection: a TCP connect or an HTTP GET, from the controller.
    #[serde(default)]
    pub probe: Option<HostProbe>,
    /// The home directory on the host, an absolute path: what `~` stands for in the bind
    /// sources of its stacks (`~/data:/data`), as Compose v2 expands it to the home of the
    /// user who runs it. Default `/root`, what Compose run by root on the host gives.
    #[serde(default)]
    pub home_dir: Option<String>,
}

/// `Host.spec.probe`: exactly one of `tcp` or `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostProbe {
    /// `host:port` that must accept a TCP connection.
    #[serde(default)]
    pub tcp: Option<String>,
    /// `http://` or `https://` URL that must answer 2xx or 3xx.
    #[serde(default)]
    pub http: Option<String>,
    /// How long one attempt may take. Default 5s.
    #[serde(default)]
    pub timeout: Option<super::Duration>,
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
