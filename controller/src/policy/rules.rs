//! The rules of one Policy against one container: network membership, what the selected
//! services may do, and the privilege allow lists. Pure: it returns what is broken.

use std::net::IpAddr;

use super::{
    locate::Spot,
    workload::{on_all_addresses, show_port, unpinned, NetNs, Workload},
    PolicyCtx,
};
use crate::{
    manifest::kinds::{NetworkRule, Selector, ServiceRule},
    yaml::FieldPath,
};

/// One broken rule, about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Violation {
    pub spot: Spot,
    pub message: String,
    pub hint: String,
}

/// Every rule of `p` that `w` breaks. The caller has checked that `p` covers `w`'s host.
pub(super) fn check(p: &PolicyCtx, w: &Workload) -> Vec<Violation> {
    let mut out = Vec::new();
    for (i, rule) in p.spec.networks.iter().enumerate() {
        network_rule(p, i, rule, w, &mut out);
    }
    for (i, rule) in p.spec.services.iter().enumerate() {
        if w.matches_any(&rule.selects) && !w.matches_any(&rule.exclude) {
            service_rule(p, i, rule, w, &mut out);
        }
    }
    privileges(p, w, &mut out);
    out
}

fn list(selectors: &[Selector]) -> String {
    if selectors.is_empty() {
        return "nobody".into();
    }
    selectors
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn network_rule(p: &PolicyCtx, i: usize, rule: &NetworkRule, w: &Workload, out: &mut Vec<Violation>) {
    let NetNs::Networks { names, via } = &w.netns else {
        return;
    };
    let net = &rule.network;
    if !names.contains(net) {
        return;
    }
    let at = FieldPath::parse("spec.networks").index(i);
    let (joins, spot) = match via {
        Some(v) => (
            format!("is on network `{net}` through `network_mode: {v}`"),
            Spot::Key("network_mode"),
        ),
        None => (format!("joins network `{net}`"), Spot::Network(net.clone())),
    };
    if let Some(j) = rule.deny.iter().position(|s| w.matches(s)) {
        out.push(Violation {
            spot,
            message: format!(
                "{} {joins}, which {} forbids (`{}`)",
                w.who(),
                p.cite(&at.key("deny").index(j), &format!("networks[{net}].deny")),
                rule.deny[j]
            ),
            hint: format!("take the service off `{net}`; the policy keeps it off on purpose"),
        });
    } else if let Some(allow) = &rule.allow {
        if !w.matches_any(allow) {
            out.push(Violation {
                spot,
                message: format!(
                    "{} {joins}, but {} admits only {}",
                    w.who(),
                    p.cite(&at.key("allow"), &format!("networks[{net}].allow")),
                    list(allow)
                ),
                hint: format!(
                    "take the service off `{net}`, or add `Stack/{}/{}` to the rule's allow list",
                    w.stack, w.c.service
                ),
            });
        }
    }
}

fn service_rule(p: &PolicyCtx, i: usize, rule: &ServiceRule, w: &Workload, out: &mut Vec<Violation>) {
    let at = FieldPath::parse("spec.services").index(i);
    let label = match &rule.name {
        Some(n) => format!("services[{n}]"),
        None => format!("services[{i}]"),
    };
    let cite = |field: &str| p.cite(&at.key(field), &format!("{label}.{field}"));
    let who = w.who();
    if let Some(allowed) = &rule.networks {
        let only = if allowed.is_empty() {
            "no network".to_string()
        } else {
            allowed
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &w.netns {
            NetNs::Networks { names, via } => {
                for n in names.iter().filter(|n| !allowed.contains(n)) {
                    let (joins, spot) = match via {
                        Some(v) => (
                            format!("is on network `{n}` through `network_mode: {v}`"),
                            Spot::Key("network_mode"),
                        ),
                        None => (format!("joins network `{n}`"), Spot::Network(n.clone())),
                    };
                    out.push(Violation {
                        spot,
                        message: format!("{who} {joins}, but {} allows only {only}", cite("networks")),
                        hint: format!("take the service off `{n}`, or add it to the rule's networks"),
                    });
                }
            }
            NetNs::Host { via } => out.push(Violation {
                spot: Spot::Key("network_mode"),
                message: format!(
                    "{who} uses the host's network{}, but {} allows only {only}",
                    via.as_deref().map(|v| format!(" through `network_mode: {v}`")).unwrap_or_default(),
                    cite("networks")
                ),
                hint: "remove `network_mode: host` and join the allowed networks".into(),
            }),
            NetNs::Unknown(what) => out.push(Violation {
                spot: Spot::Key("network_mode"),
                message: format!(
                    "{who} shares the network namespace of `{what}`, which aegis does not declare, so {} cannot be checked",
                    cite("networks")
                ),
                hint: "join the allowed networks instead of sharing a namespace".into(),
            }),
            NetNs::Isolated => {}
        }
    }
    if let Some(addrs) = &rule.publish_on {
        publish_on(&cite("publishOn"), addrs, w, out);
    }
    if rule.require_healthcheck {
        // An empty `test` only retimes the image's own check, which can't be seen before the
        // image is on the host: it doesn't count.
        let test =
            w.c.healthcheck
                .as_ref()
                .map(|h| h.test.first().map(String::as_str));
        let missing = match test {
            None | Some(None) => Some("no"),
            Some(Some("NONE")) => Some("a disabled"),
            Some(Some(_)) => None,
        };
        if let Some(what) = missing {
            out.push(Violation {
                spot: if w.c.healthcheck.is_some() { Spot::Key("healthcheck") } else { Spot::Service },
                message: format!("{who} has {what} healthcheck, but {} requires one", cite("requireHealthcheck")),
                hint: "add a `healthcheck:` with a `test` to the service (one in the image can't be checked before it is pulled)"
                    .into(),
            });
        }
    }
    if rule.require_pinned_image {
        if let Some(why) = unpinned(&w.c.image) {
            out.push(Violation {
                spot: Spot::Key("image"),
                message: format!(
                    "{who} uses image `{}` ({why}), but {} requires a pinned tag",
                    w.c.image,
                    cite("requirePinnedImage")
                ),
                hint: "pin a release tag (e.g. `traefik:v3.6.8`) or a digest (`image@sha256:...`)".into(),
            });
        }
    }
}

fn publish_on(cite: &str, addrs: &[String], w: &Workload, out: &mut Vec<Violation>) {
    let parsed: Vec<IpAddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
    let any = parsed.iter().any(IpAddr::is_unspecified);
    let allowed = if addrs.is_empty() {
        "allows no published ports".to_string()
    } else {
        format!("allows ports only on {}", addrs.join(", "))
    };
    // Docker ignores `ports:` of a host-network container; host networking itself is
    // governed by privileges.hostNetwork and by a service rule's `networks`.
    if matches!(w.netns, NetNs::Host { .. }) {
        return;
    }
    for port in &w.c.ports {
        let ok = match port.host_ip.as_deref() {
            _ if any => true,
            ip if on_all_addresses(ip) => false,
            Some(ip) => ip.parse::<IpAddr>().is_ok_and(|a| parsed.contains(&a)),
            None => false,
        };
        if !ok {
            let shown = show_port(port);
            let needle = port
                .host_port
                .clone()
                .unwrap_or_else(|| port.container_port.to_string());
            out.push(Violation {
                spot: Spot::Entry("ports", needle),
                message: format!("{} publishes {shown}, but {cite} {allowed}", w.who()),
                hint: if addrs.is_empty() {
                    "remove the port: containers on the same network reach it without publishing".into()
                } else {
                    format!("bind an allowed address, e.g. `{}:{}`", addrs[0], port_pair(port))
                },
            });
        }
    }
}

/// `8080:80` (or `80` for an ephemeral host port).
fn port_pair(p: &crate::desired::PortBinding) -> String {
    match &p.host_port {
        Some(h) => format!("{h}:{}", p.container_port),
        None => p.container_port.to_string(),
    }
}

fn privileges(p: &PolicyCtx, w: &Workload, out: &mut Vec<Violation>) {
    let pr = &p.spec.privileges;
    let at = FieldPath::parse("spec.privileges");
    let who = w.who();
    let sel = format!("Stack/{}/{}", w.stack, w.c.service);
    if let Some(allow) = &pr.docker_socket {
        if !w.matches_any(allow) {
            for path in w.socket_mounts() {
                out.push(Violation {
                    spot: Spot::Entry("volumes", path.to_string()),
                    message: format!(
                        "{who} mounts `{path}`, which exposes the Docker socket (root on host {}), but {} admits only {}",
                        w.host,
                        p.cite(&at.key("dockerSocket"), "privileges.dockerSocket"),
                        list(allow)
                    ),
                    hint: format!("remove the mount, or add `{sel}` to privileges.dockerSocket"),
                });
            }
        }
    }
    if let Some(allow) = &pr.privileged {
        if w.c.privileged && !w.matches_any(allow) {
            out.push(Violation {
                spot: Spot::Key("privileged"),
                message: format!(
                    "{who} runs `privileged: true`, but {} admits only {}",
                    p.cite(&at.key("privileged"), "privileges.privileged"),
                    list(allow)
                ),
                hint: format!("grant the capabilities it needs with cap_add instead, or add `{sel}` to privileges.privileged"),
            });
        }
    }
    if let Some(allow) = &pr.host_network {
        if w.declares_host_network() && !w.matches_any(allow) {
            out.push(Violation {
                spot: Spot::Key("network_mode"),
                message: format!(
                    "{who} uses `network_mode: host`, but {} admits only {}",
                    p.cite(&at.key("hostNetwork"), "privileges.hostNetwork"),
                    list(allow)
                ),
                hint: format!("join a network instead, or add `{sel}` to privileges.hostNetwork"),
            });
        }
    }
    if let Some(grants) = &pr.cap_add {
        for cap in &w.c.cap_add {
            let want = capability(cap);
            let granted = grants
                .iter()
                .any(|g| w.matches_any(&g.selects) && g.capabilities.iter().any(|c| capability(c) == want));
            if !granted {
                out.push(Violation {
                    spot: Spot::Entry("cap_add", cap.clone()),
                    message: format!(
                        "{who} adds capability `{want}`, which {} does not grant it",
                        p.cite(&at.key("capAdd"), "privileges.capAdd")
                    ),
                    hint: format!("remove it, or grant it: privileges.capAdd: [{{match: [{sel}], capabilities: [{want}]}}]"),
                });
            }
        }
    }
}

/// `cap_net_admin` and `NET_ADMIN` are the same capability.
pub(super) fn capability(s: &str) -> String {
    let up = s.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}
