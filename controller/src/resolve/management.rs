//! Manifests → [`Management`]: the critical set, every host's path, probe and agent settings.
//! Runs after validation, so references are known to resolve.

use std::collections::BTreeMap;

use crate::{
    desired::{
        management::{DEFAULT_AGENT_SOCKET, DEFAULT_CONFIRM_TIMEOUT, DEFAULT_PROBE_TIMEOUT},
        CriticalResource, HostAccess, Kind, Management, Probe, ProbeTarget, ResourceRef,
    },
    diagnostic::Diagnostic,
    manifest::{self, AnyManifest, ManifestSet},
    yaml::FieldPath,
};

/// The revision's management paths. `hosts` are the revision's host names.
pub(super) fn management(set: &ManifestSet, hosts: &[String]) -> Management {
    let paths = manifest::management::paths(set);
    let mut m = Management::default();
    for h in hosts {
        let mut access = HostAccess {
            path: paths
                .get(h)
                .map(|es| es.iter().map(|e| e.resource.clone()).collect())
                .unwrap_or_default(),
            ..Default::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        access.path.retain(|r| seen.insert(r.clone()));
        if let Some(AnyManifest::Host(spec)) = set.get(&ResourceRef::new(Kind::Host, h)).map(|l| &l.value) {
            access.agent_image = spec.spec.agent_image.clone();
            access.agent_socket = spec
                .spec
                .agent_socket
                .clone()
                .unwrap_or_else(|| DEFAULT_AGENT_SOCKET.to_string());
            access.probe = spec.spec.probe.as_ref().and_then(|p| {
                let target = match (&p.tcp, &p.http) {
                    (Some(t), None) => ProbeTarget::Tcp(t.clone()),
                    (None, Some(u)) => ProbeTarget::Http(u.clone()),
                    _ => return None,
                };
                Some(Probe {
                    target,
                    timeout: p.timeout.map_or(DEFAULT_PROBE_TIMEOUT, |d| d.0),
                })
            });
        }
        m.hosts.insert(h.clone(), access);
    }
    let mut carries: BTreeMap<ResourceRef, Vec<String>> = BTreeMap::new();
    for (host, entries) in &paths {
        for e in entries {
            carries.entry(e.resource.clone()).or_default().push(host.clone());
        }
    }
    for item in &set.items {
        let r = item.value.reference();
        let flagged = matches!(&item.value, AnyManifest::Stack(s) if s.spec.critical);
        let carried = carries.remove(&r);
        if !flagged && carried.is_none() {
            continue;
        }
        let Ok(host) = set.host_of(&item.value) else {
            continue;
        };
        let mut carries = carried.unwrap_or_default();
        carries.sort();
        carries.dedup();
        let confirm_timeout = match &item.value {
            AnyManifest::Stack(s) => s.spec.confirm_timeout.map(|d| d.0),
            _ => None,
        }
        .unwrap_or(DEFAULT_CONFIRM_TIMEOUT);
        m.critical.insert(
            r,
            CriticalResource {
                host,
                carries,
                confirm_timeout,
            },
        );
    }
    m
}

/// Warnings about hosts: plain-TCP endpoints that validation let through.
pub(super) fn warnings(set: &ManifestSet) -> Vec<Diagnostic> {
    set.of_kind(Kind::Host)
        .filter_map(|m| {
            let AnyManifest::Host(h) = &m.value else {
                return None;
            };
            let ep = h.spec.endpoint.as_deref()?;
            let w = manifest::endpoint::plain_tcp_verdict(ep, h.spec.tls.is_some(), h.spec.insecure)
                .ok()
                .flatten()?;
            Some(m.diag(FieldPath::parse("spec.endpoint"), w))
        })
        .collect()
}
