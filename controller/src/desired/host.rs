//! The desired state of every host, as built from one source revision.

use std::{collections::BTreeMap, path::PathBuf};

use super::{ContainerSpec, NetworkSpec, ResourceRef, VolumeSpec};

/// How to reach a Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `$DOCKER_HOST` if set, else the default unix socket.
    Default,
    Unix(PathBuf),
    /// `tcp://host:port`, with optional TLS client material (CA, cert, key paths).
    Tcp {
        addr: String,
        tls: Option<TlsFiles>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub name: String,
    pub endpoint: Endpoint,
    pub labels: BTreeMap<String, String>,
}

/// The containers one resource owns, plus the networks and volumes it declares: a `Stack`
/// (from its compose file), or the expansion of a `DnsGuard` (the agent container) or a
/// `TunnelClient` (the client container). All three plan, apply and prune the same way; the
/// name is also the containers' compose project, so it is unique per host across the kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSpec {
    /// The kind of the manifest that declares these containers.
    pub kind: super::Kind,
    pub name: String,
    /// Other resources this stack waits for (`dependsOn`), same host only.
    pub depends_on: Vec<ResourceRef>,
    pub containers: Vec<ContainerSpec>,
    /// Compose top-level networks that are not external: `<stack>_<name>`, owned by the Stack.
    pub networks: Vec<NetworkSpec>,
    pub volumes: Vec<VolumeSpec>,
    /// Whether this stack is critical: `critical: true` or on some host's management path
    /// (see [`super::Management`]).
    pub critical: bool,
}

impl StackSpec {
    /// The resource that owns these containers, e.g. `Stack/demo` or `DnsGuard/komodo-dns`:
    /// the `aegis.dev/resource` label and the status key.
    pub fn owner(&self) -> ResourceRef {
        ResourceRef::new(self.kind, &self.name)
    }
}

/// Everything aegis wants on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredHost {
    pub host: HostSpec,
    /// Networks declared by `Network` manifests.
    pub networks: Vec<NetworkSpec>,
    pub stacks: Vec<StackSpec>,
}

impl DesiredHost {
    /// Every network that must exist on the host: from manifests and from stacks.
    pub fn all_networks(&self) -> impl Iterator<Item = &NetworkSpec> {
        self.networks
            .iter()
            .chain(self.stacks.iter().flat_map(|s| s.networks.iter()))
    }
}

/// The desired state of all hosts, from one source revision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredState {
    /// A short revision id (content hash for a directory source, commit id for git).
    pub revision: String,
    pub hosts: Vec<DesiredHost>,
    /// Critical resources and how each host is reached.
    pub management: super::Management,
}
