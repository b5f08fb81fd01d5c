//! One container of the desired state, seen the way the rules look at it: which networks it
//! is *effectively* on (a `network_mode: service:X` container is on X's networks), which
//! mounts expose the Docker socket, which ports reach all of the host's addresses.

use std::net::IpAddr;

use crate::{
    desired::{BindSource, ContainerSpec, DesiredHost, MountKind, NetworkMode, PortBinding},
    manifest::kinds::Selector,
};

/// A container together with where it runs.
#[derive(Debug)]
pub(super) struct Workload<'a> {
    pub host: &'a str,
    /// The kind that declares the container (a Stack, or a DnsGuard's or TunnelClient's
    /// expansion); selectors match all of them by name (`Stack/NAME` is the compose project).
    pub kind: crate::desired::Kind,
    pub stack: &'a str,
    pub c: &'a ContainerSpec,
    pub netns: NetNs,
}

/// The network namespace a container ends up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NetNs {
    /// On these Docker networks; `via` names the `network_mode` it inherits them through.
    Networks { names: Vec<String>, via: Option<String> },
    /// The host's own network stack.
    Host { via: Option<String> },
    /// `network_mode: none`.
    Isolated,
    /// Shares the namespace of a container aegis does not declare (`container:NAME`).
    Unknown(String),
}

impl<'a> Workload<'a> {
    /// Every container of `host`, with its effective network namespace.
    pub fn all(host: &'a DesiredHost) -> Vec<Workload<'a>> {
        let mut out = Vec::new();
        for stack in &host.stacks {
            for c in &stack.containers {
                out.push(Workload {
                    host: &host.host.name,
                    kind: stack.kind,
                    stack: &stack.name,
                    c,
                    netns: netns(host, &stack.name, c, 0),
                });
            }
        }
        out
    }

    pub fn matches(&self, s: &Selector) -> bool {
        s.matches(self.stack, &self.c.service, &self.c.name)
    }

    pub fn matches_any(&self, selectors: &[Selector]) -> bool {
        selectors.iter().any(|s| self.matches(s))
    }

    /// `Stack/identity service lldap (container lldap)`, `DnsGuard/vps-dns service dnsguard
    /// (container aegis-dnsguard-vps-dns)`.
    pub fn who(&self) -> String {
        format!(
            "{}/{} service {} (container {})",
            self.kind, self.stack, self.c.service, self.c.name
        )
    }

    /// Whether it declares `network_mode: host` itself.
    pub fn declares_host_network(&self) -> bool {
        self.c.network_mode == NetworkMode::Host
    }

    /// Host paths of bind mounts that expose the Docker socket.
    pub fn socket_mounts(&self) -> Vec<&'a str> {
        self.c
            .mounts
            .iter()
            .filter_map(|m| match &m.kind {
                MountKind::Bind {
                    source: BindSource::Host(p),
                    ..
                } if exposes_docker_socket(p) => Some(p.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Published ports that listen on every address of the host. Ports of a host-network
    /// container are ignored by Docker (compose warns), so there are none.
    pub fn ports_on_all_addresses(&self) -> Vec<&'a PortBinding> {
        if matches!(self.netns, NetNs::Host { .. }) {
            return Vec::new();
        }
        self.c
            .ports
            .iter()
            .filter(|p| on_all_addresses(p.host_ip.as_deref()))
            .collect()
    }
}

fn netns(host: &DesiredHost, stack: &str, c: &ContainerSpec, depth: usize) -> NetNs {
    // compose rejects cycles of `service:` references; the bound only guards against a bug.
    if depth > 8 {
        return NetNs::Unknown(c.name.clone());
    }
    let inherit = |inner: NetNs, via: String| match inner {
        NetNs::Networks { names, via: None } => NetNs::Networks {
            names,
            via: Some(via),
        },
        NetNs::Host { via: None } => NetNs::Host { via: Some(via) },
        other => other,
    };
    match &c.network_mode {
        NetworkMode::Networks => NetNs::Networks {
            names: c.networks.iter().map(|n| n.network.clone()).collect(),
            via: None,
        },
        NetworkMode::Host => NetNs::Host { via: None },
        NetworkMode::None => NetNs::Isolated,
        NetworkMode::Service(svc) => {
            let target = host
                .stacks
                .iter()
                .filter(|s| s.name == stack)
                .flat_map(|s| &s.containers)
                .find(|x| &x.service == svc);
            match target {
                Some(t) => inherit(netns(host, stack, t, depth + 1), format!("service:{svc}")),
                None => NetNs::Unknown(format!("service:{svc}")),
            }
        }
        NetworkMode::Container(name) => {
            let target = host
                .stacks
                .iter()
                .flat_map(|s| s.containers.iter().map(move |x| (s.name.as_str(), x)))
                .find(|(_, x)| &x.name == name);
            match target {
                Some((s, t)) => inherit(netns(host, s, t, depth + 1), format!("container:{name}")),
                None => NetNs::Unknown(format!("container:{name}")),
            }
        }
    }
}

/// `/var/run/docker.sock`, `/run/docker.sock`, any `*docker.sock`, or a directory holding
/// the socket (`/`, `/run`, `/var/run`, `/var`): each hands the container the Docker API,
/// which is root on the host. Read-only doesn't help: the API is reached by connecting.
pub(super) fn exposes_docker_socket(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    let p = if p.is_empty() { "/" } else { p };
    p.ends_with("docker.sock") || matches!(p, "/" | "/run" | "/var/run" | "/var")
}

/// No address, `0.0.0.0` or `::`: Docker binds the port on every address.
pub(super) fn on_all_addresses(host_ip: Option<&str>) -> bool {
    match host_ip {
        None => true,
        Some(ip) => ip.parse::<IpAddr>().map(|a| a.is_unspecified()).unwrap_or(false),
    }
}

/// `0.0.0.0:8080->80/tcp`, like `docker ps` shows it.
pub(super) fn show_port(p: &PortBinding) -> String {
    let ip = p.host_ip.as_deref().unwrap_or("0.0.0.0");
    let host = p.host_port.as_deref().unwrap_or("");
    let ip = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("{ip}:{host}->{}/{}", p.container_port, p.protocol)
}

/// Why an image reference is not pinned, or `None` when it is (a tag other than `latest`,
/// or a digest).
pub(super) fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) => Some("the tag `latest` moves"),
        Some((_, tag)) if !tag.is_empty() => None,
        _ => Some("no tag means `latest`, which moves"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_socket_paths() {
        for p in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/run/",
            "/var/run",
            "/",
            "/srv/docker.sock",
        ] {
            assert!(exposes_docker_socket(p), "{p}");
        }
        for p in ["/etc/resolv.conf", "/var/lib/data", "/run/secrets"] {
            assert!(!exposes_docker_socket(p), "{p}");
        }
    }

    #[test]
    fn addresses() {
        assert!(on_all_addresses(None));
        assert!(on_all_addresses(Some("0.0.0.0")));
        assert!(on_all_addresses(Some("::")));
        assert!(!on_all_addresses(Some("127.0.0.1")));
        assert!(!on_all_addresses(Some("::1")));
    }

    #[test]
    fn pinned_images() {
        assert_eq!(unpinned("traefik:v3.6.8"), None);
        assert_eq!(unpinned("registry.example:5000/a/b:1.2"), None);
        assert_eq!(unpinned("busybox@sha256:abcd"), None);
        assert!(unpinned("busybox").is_some());
        assert!(unpinned("registry.example:5000/a/b").is_some());
        assert!(unpinned("mohitsharma44/komodo-periphery-sops:latest").is_some());
    }
}
