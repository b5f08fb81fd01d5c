//! Desired Docker networks and volumes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ResourceRef;

/// A Docker network as aegis wants it. Declared by a `Network` manifest, or by a compose
/// file's top-level `networks:` (then named `<stack>_<name>` and owned by the Stack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    /// The Docker network's name.
    pub name: String,
    /// The resource that owns it (`Network/web`, or `Stack/demo` for compose networks).
    #[serde(skip)]
    pub owner: ResourceRef,
    /// `external: true`: must exist already; aegis never creates, changes or deletes it.
    #[serde(skip)]
    pub external: bool,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub ipam: Option<Ipam>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipam {
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// A named volume. Volumes hold data: aegis creates them but never prunes them unless asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeSpec {
    pub name: String,
    #[serde(skip)]
    pub owner: ResourceRef,
    #[serde(skip)]
    pub external: bool,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}
