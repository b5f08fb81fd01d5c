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

/// IPAM of a network. The first pool's fields are flat (the form every earlier version
/// hashed, so existing networks keep their hash); compose's further `ipam.config` entries are
/// in [`Ipam::more`]. Empty additions are not serialized, for the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Ipam {
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    /// The first pool's `aux_addresses` (host name → address).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
    /// Pools after the first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<IpamPool>,
    /// IPAM driver options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// One `ipam.config` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct IpamPool {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

impl Ipam {
    /// Every pool, the first one included (none when the first has no field set and there
    /// are no others).
    pub fn pools(&self) -> Vec<IpamPool> {
        let first = IpamPool {
            subnet: self.subnet.clone(),
            gateway: self.gateway.clone(),
            ip_range: self.ip_range.clone(),
            aux_addresses: self.aux_addresses.clone(),
        };
        let mut out = Vec::new();
        if first != IpamPool::default() {
            out.push(first);
        }
        out.extend(self.more.iter().cloned());
        out
    }
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
