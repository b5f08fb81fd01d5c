//! Warnings for risky settings that no Policy governs: `privileged`, Docker socket mounts,
//! host networking and ports published on every address. They don't reject the revision;
//! a Policy that allows the setting explicitly silences them (one that forbids it turns them
//! into errors, from [`super::rules`]).

use super::{
    locate::Spot,
    workload::{show_port, Workload},
    PolicyCtx,
};

/// A risky setting of one container that no covering Policy rules on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Warning {
    pub spot: Spot,
    pub message: String,
    pub hint: String,
}

/// Warnings for `w`, given the policies that cover its host.
pub(super) fn check(covering: &[&PolicyCtx], w: &Workload) -> Vec<Warning> {
    let mut out = Vec::new();
    let who = w.who();
    let sel = format!("Stack/{}/{}", w.stack, w.c.service);
    let host = w.host;
    let governs = |f: fn(&PolicyCtx) -> bool| covering.iter().any(|p| f(p));
    if w.c.privileged && !governs(|p| p.spec.privileges.privileged.is_some()) {
        out.push(Warning {
            spot: Spot::Key("privileged"),
            message: format!("{who} runs privileged: every capability and every device of host {host}"),
            hint: format!(
                "use cap_add for what it needs; if privileged is intended, say so in a Policy: privileges.privileged: [{sel}]"
            ),
        });
    }
    if !governs(|p| p.spec.privileges.docker_socket.is_some()) {
        for path in w.socket_mounts() {
            out.push(Warning {
                spot: Spot::Entry("volumes", path.to_string()),
                message: format!(
                    "{who} mounts `{path}`, which exposes the Docker socket: root on host {host}"
                ),
                hint: format!("if intended, say so in a Policy: privileges.dockerSocket: [{sel}]"),
            });
        }
    }
    if w.declares_host_network() && !governs(|p| p.spec.privileges.host_network.is_some()) {
        out.push(Warning {
            spot: Spot::Key("network_mode"),
            message: format!("{who} uses `network_mode: host`: no network isolation from host {host}"),
            hint: format!("if intended, say so in a Policy: privileges.hostNetwork: [{sel}]"),
        });
    }
    let open = w.ports_on_all_addresses();
    let ports_governed = covering.iter().any(|p| {
        p.spec
            .services
            .iter()
            .any(|r| r.publish_on.is_some() && w.matches_any(&r.selects) && !w.matches_any(&r.exclude))
    });
    if !open.is_empty() && !ports_governed {
        let shown: Vec<String> = open.iter().map(|p| show_port(p)).collect();
        let needle = open[0]
            .host_port
            .clone()
            .unwrap_or_else(|| open[0].container_port.to_string());
        out.push(Warning {
            spot: Spot::Entry("ports", needle),
            message: format!(
                "{who} publishes {} on every address of host {host}",
                shown.join(", ")
            ),
            hint: format!(
                "bind an address (e.g. `127.0.0.1:8080:80`); if every address is intended, say so in a Policy: services: [{{match: [{sel}], publishOn: [0.0.0.0]}}]"
            ),
        });
    }
    out
}
