//! Rules that guard nothing: a `deny` selector or a service rule's `match` that picks no
//! container, a network rule for a network no covered host has. A typo there silently
//! weakens the policy, so each one is a warning at the policy's own line. (A typo in an
//! allow list needs no warning: the service it meant to admit is then rejected.)

use std::collections::BTreeSet;

use super::{locate::at_policy, workload::Workload, PolicyCtx};
use crate::{desired::DesiredState, diagnostic::Diagnostic, manifest::kinds::Selector, yaml::FieldPath};

pub(super) fn check(policies: &[PolicyCtx], state: &DesiredState) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for p in policies {
        let hosts: Vec<_> = state.hosts.iter().filter(|h| p.covers(&h.host.name)).collect();
        let workloads: Vec<Workload> = hosts.iter().flat_map(|h| Workload::all(h)).collect();
        let mut networks: BTreeSet<String> = hosts
            .iter()
            .flat_map(|h| h.all_networks().map(|n| n.name.clone()))
            .collect();
        networks.extend(
            workloads
                .iter()
                .flat_map(|w| w.c.networks.iter().map(|n| n.network.clone())),
        );
        let shown_hosts = if p.spec.hosts.is_empty() {
            "any host".to_string()
        } else {
            format!("host {}", p.spec.hosts.join(", "))
        };
        let mut unmatched = |path: FieldPath, s: &Selector| {
            if !workloads.iter().any(|w| w.matches(s)) {
                out.push(p.warn(
                    path,
                    format!(
                        "Policy/{}: `{s}` matches no container on {shown_hosts}, so this part of the rule applies to nothing yet",
                        p.name
                    ),
                ));
            }
        };
        for (i, rule) in p.spec.networks.iter().enumerate() {
            let at = FieldPath::parse("spec.networks").index(i);
            for (j, s) in rule.deny.iter().enumerate() {
                unmatched(at.key("deny").index(j), s);
            }
        }
        for (i, rule) in p.spec.services.iter().enumerate() {
            let at = FieldPath::parse("spec.services").index(i).key("match");
            for (j, s) in rule.selects.iter().enumerate() {
                unmatched(at.index(j), s);
            }
        }
        for (i, rule) in p.spec.networks.iter().enumerate() {
            if !networks.contains(&rule.network) {
                out.push(p.warn(
                    FieldPath::parse("spec.networks").index(i).key("network"),
                    format!(
                        "Policy/{}: no network `{}` on {shown_hosts}, so the rule guards nothing yet",
                        p.name, rule.network
                    ),
                ));
            }
        }
    }
    out
}

impl PolicyCtx<'_> {
    fn warn(&self, path: FieldPath, message: String) -> Diagnostic {
        at_policy(&self.m.file, &self.m.map, path, message)
            .with_hint("check the name for a typo; the rule takes effect once it matches")
    }
}
