//! Management paths, resolved from one revision: which resources are critical, what each one
//! carries, and how every host is reached and checked.
//!
//! A resource is **critical** when it is on some host's `managementPath`, when it is a
//! `TunnelClient` that `carriesManagementFor` a host, or when it says `critical: true`. A
//! critical container is changed last, one at a time, and commit-confirmed (see
//! [`crate::agent::rollback`]); the planner never prunes or recreates it as a side effect
//! ([`crate::plan::critical`]).

use std::{collections::BTreeMap, time::Duration};

use super::ResourceRef;

/// The default time a critical change has to be confirmed: `netplan try`'s 120 s.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(120);
/// Where agents find the Docker socket on a host unless `Host.spec.agentSocket` says otherwise.
pub const DEFAULT_AGENT_SOCKET: &str = "/var/run/docker.sock";
/// How long one probe attempt may take unless `Host.spec.probe.timeout` says otherwise.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything about management paths in one revision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Management {
    /// Every critical resource of the revision.
    pub critical: BTreeMap<ResourceRef, CriticalResource>,
    /// Per host (every host of the revision): how it is reached and checked.
    pub hosts: BTreeMap<String, HostAccess>,
}

/// One critical resource.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticalResource {
    /// The host it lives on: where its rollback watchdog runs.
    pub host: String,
    /// Hosts whose management path includes it, sorted. Empty for a resource that is only
    /// `critical: true`.
    pub carries: Vec<String>,
    /// `spec.confirmTimeout`, or [`DEFAULT_CONFIRM_TIMEOUT`].
    pub confirm_timeout: Duration,
}

/// How one host is reached, as far as management-path safety is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct HostAccess {
    /// `spec.managementPath`, plus the TunnelClients that carry management for this host.
    pub path: Vec<ResourceRef>,
    pub probe: Option<Probe>,
    /// `spec.agentImage`; `None`: the image aegis builds from its own executable.
    pub agent_image: Option<String>,
    /// `spec.agentSocket`, or [`DEFAULT_AGENT_SOCKET`].
    pub agent_socket: String,
}

impl Default for HostAccess {
    fn default() -> Self {
        Self {
            path: Vec::new(),
            probe: None,
            agent_image: None,
            agent_socket: DEFAULT_AGENT_SOCKET.to_string(),
        }
    }
}

/// `Host.spec.probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub target: ProbeTarget,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// `host:port` that must accept a TCP connection.
    Tcp(String),
    /// A URL that must answer 2xx or 3xx.
    Http(String),
}

impl std::fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeTarget::Tcp(a) => write!(f, "tcp {a}"),
            ProbeTarget::Http(u) => write!(f, "http {u}"),
        }
    }
}

impl Management {
    pub fn is_critical(&self, r: &ResourceRef) -> bool {
        self.critical.contains_key(r)
    }

    /// The hosts to check after changing `r`: the hosts whose path carries it and the host it
    /// lives on (which must be reachable to confirm). Sorted, no duplicates.
    pub fn affected_hosts(&self, r: &ResourceRef) -> Vec<String> {
        let Some(c) = self.critical.get(r) else {
            return Vec::new();
        };
        let mut hosts = c.carries.clone();
        hosts.push(c.host.clone());
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// How deep each host sits behind other hosts: 0 for a host whose path (if any) lives on
    /// the host itself, else 1 + the deepest host its path resources live on. Validation
    /// rejects cycles; a cycle here is cut (the depth stops growing) rather than looping.
    pub fn reach_depth(&self) -> BTreeMap<String, usize> {
        let mut depth: BTreeMap<String, usize> = self.hosts.keys().map(|h| (h.clone(), 0)).collect();
        // Longest path by relaxation; at most |hosts| rounds in an acyclic graph.
        for _ in 0..self.hosts.len() {
            let mut changed = false;
            for (h, access) in &self.hosts {
                for r in &access.path {
                    let Some(c) = self.critical.get(r) else { continue };
                    if &c.host == h {
                        continue;
                    }
                    let want = depth.get(&c.host).copied().unwrap_or(0) + 1;
                    if depth.get(h).copied().unwrap_or(0) < want && want <= self.hosts.len() {
                        depth.insert(h.clone(), want);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Kind;

    fn r(name: &str) -> ResourceRef {
        ResourceRef::new(Kind::Stack, name)
    }

    fn critical(host: &str, carries: &[&str]) -> CriticalResource {
        CriticalResource {
            host: host.into(),
            carries: carries.iter().map(|s| s.to_string()).collect(),
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }

    #[test]
    fn affected_hosts_include_the_resource_host() {
        let mut m = Management::default();
        m.critical.insert(r("relay"), critical("a", &["b", "c"]));
        m.critical.insert(r("solo"), critical("a", &[]));
        assert_eq!(m.affected_hosts(&r("relay")), ["a", "b", "c"]);
        assert_eq!(m.affected_hosts(&r("solo")), ["a"]);
        assert!(m.affected_hosts(&r("nope")).is_empty());
    }

    #[test]
    fn depth_counts_hosts_behind_hosts() {
        // c is reached through b, b through a; a directly.
        let mut m = Management::default();
        m.critical.insert(r("on-a"), critical("a", &["b"]));
        m.critical.insert(r("on-b"), critical("b", &["c", "b"]));
        for h in ["a", "b", "c"] {
            m.hosts.insert(h.into(), HostAccess::default());
        }
        m.hosts.get_mut("b").unwrap().path = vec![r("on-a"), r("on-b")];
        m.hosts.get_mut("c").unwrap().path = vec![r("on-b")];
        let d = m.reach_depth();
        assert_eq!((d["a"], d["b"], d["c"]), (0, 1, 2));
    }
}
