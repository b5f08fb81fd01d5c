//! Management paths in manifests: which resources carry the controller's access to each host,
//! and the checks that reject paths no rollback watchdog could protect.
//!
//! A host's path is its `spec.managementPath` plus every `TunnelClient` whose
//! `carriesManagementFor` names it. The rules, checked by `aegis validate`:
//!
//! 1. **Only containers.** An entry must be a `Stack` or a `TunnelClient`: a rollback watchdog
//!    restores containers. A `Network`, `DnsGuard` or `Host` entry is rejected, because
//!    nothing could undo a bad change to it once the path is cut. (A network recreate that
//!    would disconnect a critical container is held back by the planner anyway.)
//! 2. **No reach cycle.** Reaching host H needs every resource on H's path to work, and
//!    changing a resource that lives on host G needs G to be reachable. So H is *reached
//!    through* G when H's path holds a resource on G (G ≠ H). If hosts are reached through each
//!    other in a cycle, none of them can be reached first, and after a bad change on one the
//!    controller can reach neither the broken host nor the one whose check would confirm it:
//!    rejected, naming the cycle.
//! 3. **A path resource on its own host** (H's path holds a resource on H, like the Newt site
//!    on the VPS it makes reachable) is allowed because of rule 1: the watchdog on H swaps the
//!    containers itself, on H, so the change does not run over the connection it cuts
//!    (deploy-rs #153), and restores the old container by itself when no confirm arrives. A
//!    non-container there is exactly the case "a host that can only be reached through itself,
//!    where no watchdog could help", and rule 1 rejects it.
//! 4. `spec.probe` names exactly one of `tcp: host:port` or `http: URL`; `confirmTimeout` is at
//!    least [`MIN_CONFIRM_TIMEOUT`]; `agentSocket` is an absolute path.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    kinds::{HostManifestSpec, Manifest},
    load::{AnyManifest, Located, ManifestSet},
};
use crate::{
    desired::{Kind, ResourceRef},
    diagnostic::Diagnostics,
    graph,
    yaml::FieldPath,
};

/// The shortest `confirmTimeout` accepted: the controller keeps a safety margin before the
/// watchdog's deadline and needs time to reconnect and check.
pub const MIN_CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One entry of a host's management path, with where it was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    pub resource: ResourceRef,
    /// The manifest that put it on the path: the `Host` (its `spec.managementPath`) or the
    /// `TunnelClient` (its `spec.carriesManagementFor`).
    pub declared_by: ResourceRef,
    /// The field, e.g. `spec.managementPath[1]`.
    pub field: FieldPath,
}

/// Every host's management path (hosts without one are absent). Entries keep declaration
/// order, `managementPath` first; duplicates are kept (validation reports them).
pub fn paths(set: &ManifestSet) -> BTreeMap<String, Vec<PathEntry>> {
    let mut out: BTreeMap<String, Vec<PathEntry>> = BTreeMap::new();
    for m in set.of_kind(Kind::Host) {
        if let AnyManifest::Host(h) = &m.value {
            for (i, r) in h.spec.management_path.iter().enumerate() {
                out.entry(h.metadata.name.clone()).or_default().push(PathEntry {
                    resource: r.clone(),
                    declared_by: m.value.reference(),
                    field: FieldPath::parse("spec.managementPath").index(i),
                });
            }
        }
    }
    for m in set.of_kind(Kind::TunnelClient) {
        if let AnyManifest::TunnelClient(t) = &m.value {
            for (i, host) in t.spec.carries_management_for.iter().enumerate() {
                out.entry(host.clone()).or_default().push(PathEntry {
                    resource: m.value.reference(),
                    declared_by: m.value.reference(),
                    field: FieldPath::parse("spec.carriesManagementFor").index(i),
                });
            }
        }
    }
    out
}

/// Whether a resource is critical: on some path, or `critical: true`.
pub fn is_critical(set: &ManifestSet, paths: &BTreeMap<String, Vec<PathEntry>>, r: &ResourceRef) -> bool {
    let flagged = matches!(set.get(r).map(|m| &m.value), Some(AnyManifest::Stack(s)) if s.spec.critical);
    flagged || paths.values().flatten().any(|e| &e.resource == r)
}

/// The checks of the module doc. Entries that are not declared are reported elsewhere
/// (`validate::check_host`) and skipped here.
pub(super) fn check(set: &ManifestSet, diags: &mut Diagnostics) {
    let paths = paths(set);
    let mut reached_through: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // (from host, to host) → the entry that makes the edge, for the cycle message.
    let mut edge_at: BTreeMap<(String, String), PathEntry> = BTreeMap::new();
    for (host, entries) in &paths {
        let mut seen = BTreeSet::new();
        for e in entries {
            let Some(declarer) = set.get(&e.declared_by) else {
                continue;
            };
            // The same resource in `managementPath` and in its own `carriesManagementFor` says
            // one thing twice, which is fine; twice in one list is a mistake.
            if !seen.insert((&e.declared_by, &e.resource)) {
                diags.push(
                    declarer
                        .diag(
                            e.field.clone(),
                            format!("{} is on host `{host}`'s management path twice", e.resource),
                        )
                        .with_hint("list it once"),
                );
                continue;
            }
            let Some(target) = set.get(&e.resource) else {
                continue;
            };
            if !matches!(e.resource.kind, Kind::Stack | Kind::TunnelClient) {
                diags.push(
                    declarer
                        .diag(
                            e.field.clone(),
                            format!(
                                "{} cannot be on a management path: a rollback watchdog restores \
                                 containers only, so nothing could undo a bad change to it",
                                e.resource
                            ),
                        )
                        .with_hint(
                            "list the Stacks or TunnelClients that carry the path; aegis never \
                             recreates a network a critical container is attached to",
                        ),
                );
                continue;
            }
            let Ok(lives_on) = set.host_of(&target.value) else {
                continue;
            };
            if &lives_on != host {
                reached_through
                    .entry(host.clone())
                    .or_default()
                    .push(lives_on.clone());
                edge_at
                    .entry((host.clone(), lives_on))
                    .or_insert_with(|| e.clone());
            }
        }
    }
    for deps in reached_through.values_mut() {
        deps.sort();
        deps.dedup();
    }
    if let Some(cycle) = graph::find_cycle(&reached_through) {
        let first = edge_at.get(&(cycle[0].clone(), cycle[1].clone()));
        if let Some((e, declarer)) = first.and_then(|e| set.get(&e.declared_by).map(|d| (e, d))) {
            diags.push(
                declarer
                    .diag(
                        e.field.clone(),
                        format!(
                            "management paths form a cycle: host {} (each host is reached \
                             through a resource on the next), so none of them can be reached \
                             first and a broken path could never be confirmed or repaired",
                            cycle.join(" is reached through host ")
                        ),
                    )
                    .with_hint("one host of the cycle must be reachable without the others"),
            );
        }
    }
    for m in &set.items {
        match &m.value {
            AnyManifest::Host(h) => check_host_fields(m, h, diags),
            AnyManifest::Stack(s) => {
                if let Some(t) = s.spec.confirm_timeout {
                    if t.0 < MIN_CONFIRM_TIMEOUT {
                        diags.push(m.diag(
                            FieldPath::parse("spec.confirmTimeout"),
                            format!(
                                "confirmTimeout must be at least {}s: the controller needs time to \
                                 reconnect, check and confirm before the watchdog's deadline",
                                MIN_CONFIRM_TIMEOUT.as_secs()
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_host_fields(m: &Located<AnyManifest>, h: &Manifest<HostManifestSpec>, diags: &mut Diagnostics) {
    if let Some(p) = &h.spec.probe {
        let at = FieldPath::parse("spec.probe");
        match (&p.tcp, &p.http) {
            (Some(_), Some(_)) | (None, None) => diags.push(
                m.diag(at, "a probe has exactly one of `tcp` or `http`")
                    .with_hint(
                    "e.g. `probe: {tcp: \"10.0.0.5:2376\"}` or `probe: {http: \"http://10.0.0.5:8080/\"}`",
                ),
            ),
            (Some(t), None) => {
                let ok = t
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
                if !ok {
                    diags.push(m.diag(at.key("tcp"), format!("`{t}` is not host:port")));
                }
            }
            (None, Some(u)) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    diags.push(m.diag(at.key("http"), format!("`{u}` is not an http:// or https:// URL")));
                }
            }
        }
    }
    if let Some(s) = &h.spec.agent_socket {
        if !s.starts_with('/') {
            diags.push(m.diag(
                FieldPath::parse("spec.agentSocket"),
                format!("`{s}` is not an absolute path (the socket as seen on the host, e.g. /var/run/docker.sock)"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::{load_dir, validate};

    fn check(body: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.yaml"), body).expect("write");
        let (set, mut diags) = load_dir(dir.path());
        diags.extend(validate(&set));
        diags.to_string()
    }

    fn host(name: &str, path: &str) -> String {
        format!(
            "apiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {{name: {name}}}\nspec:\n  endpoint: unix:///{name}.sock\n  managementPath: [{path}]\n---\n"
        )
    }

    fn stack(name: &str, host: &str) -> String {
        format!(
            "apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {{name: {name}}}\nspec: {{host: {host}, services: {{}}}}\n---\n"
        )
    }

    #[test]
    fn own_host_container_on_the_path_is_fine() {
        // The seed: Newt on the VPS carries the VPS; the tunnel client on komodo too.
        let text = check(&format!(
            "{}{}{}{}",
            host("komodo", ""),
            host("vps", "Stack/client, Stack/newt"),
            stack("client", "komodo"),
            stack("newt", "vps")
        ));
        assert_eq!(text, "");
    }

    #[test]
    fn a_reach_cycle_is_rejected_with_its_hosts() {
        let text = check(&format!(
            "{}{}{}{}",
            host("a", "Stack/on-b"),
            host("b", "Stack/on-a"),
            stack("on-a", "a"),
            stack("on-b", "b")
        ));
        assert!(
            text.contains("m.yaml:6: spec.managementPath[0]: management paths form a cycle: host a is reached through host b is reached through host a"),
            "{text}"
        );
    }

    #[test]
    fn non_containers_duplicates_and_fields() {
        let text = check(&format!(
            "{}{}apiVersion: aegis.dev/v1alpha1\nkind: Network\nmetadata: {{name: n}}\nspec: {{host: a}}\n---\napiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {{name: c}}\nspec:\n  endpoint: unix:///c.sock\n  probe: {{tcp: nope, http: \"http://x/\"}}\n  agentSocket: run/docker.sock\n---\napiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {{name: quick}}\nspec: {{host: c, services: {{}}, confirmTimeout: 1s}}\n",
            host("a", "Network/n, Stack/s, Stack/s"),
            stack("s", "a"),
        ));
        assert!(
            text.contains("spec.managementPath[0]: Network/n cannot be on a management path"),
            "{text}"
        );
        assert!(
            text.contains("spec.managementPath[2]: Stack/s is on host `a`'s management path twice"),
            "{text}"
        );
        assert!(
            text.contains("spec.probe: a probe has exactly one of `tcp` or `http`"),
            "{text}"
        );
        assert!(
            text.contains("spec.agentSocket: `run/docker.sock` is not an absolute path"),
            "{text}"
        );
        assert!(
            text.contains("spec.confirmTimeout: confirmTimeout must be at least 5s"),
            "{text}"
        );
    }

    #[test]
    fn tunnel_clients_join_the_paths_they_carry() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("m.yaml"),
            format!(
                "{}{}apiVersion: aegis.dev/v1alpha1\nkind: TunnelClient\nmetadata: {{name: mgmt}}\nspec: {{host: a, type: newt, image: x, endpoint: \"https://p.example\", carriesManagementFor: [b]}}\n---\n",
                host("a", ""),
                host("b", "Stack/s"),
            ) + &stack("s", "b"),
        )
        .expect("write");
        let (set, _) = load_dir(dir.path());
        let paths = super::paths(&set);
        let b: Vec<String> = paths["b"].iter().map(|e| e.resource.to_string()).collect();
        assert_eq!(b, ["Stack/s", "TunnelClient/mgmt"]);
        assert!(super::is_critical(
            &set,
            &paths,
            &crate::desired::ResourceRef::new(crate::desired::Kind::TunnelClient, "mgmt")
        ));
    }
}
