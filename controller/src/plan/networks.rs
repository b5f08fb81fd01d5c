//! Network and volume decisions.

use std::collections::BTreeSet;

use super::{hash, Action, Change, Decisions, HostPlan, PlanError, PlanOptions, Reconnect};
use crate::{
    desired::{DesiredHost, Kind, NetworkMode, ResourceRef},
    labels,
    observed::ObservedHost,
};

pub(super) fn decide(
    desired: &DesiredHost,
    observed: &ObservedHost,
    opts: &PlanOptions,
    plan: &mut HostPlan,
    errors: &mut Vec<(ResourceRef, PlanError)>,
) -> Decisions {
    let host = &desired.host.name;
    let mut d = Decisions::default();
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    for spec in desired.all_networks() {
        wanted.insert(&spec.name);
        let counts = plan.resources.entry(spec.owner.clone()).or_default();
        let found = observed.networks.iter().find(|n| n.name == spec.name);
        if spec.external {
            if found.is_none() {
                errors.push((
                    spec.owner.clone(),
                    PlanError::MissingExternalNetwork {
                        host: host.clone(),
                        network: spec.name.clone(),
                    },
                ));
            }
            counts.unchanged += 1;
            continue;
        }
        let want_hash = hash::network(spec);
        match found {
            None => {
                counts.created += 1;
                d.changing.insert(spec.name.clone(), true);
                d.actions.push((
                    spec.owner.clone(),
                    Action::CreateNetwork {
                        spec: spec.clone(),
                        hash: want_hash,
                    },
                ));
            }
            Some(n) if !n.is_owned() => errors.push((
                spec.owner.clone(),
                PlanError::NetworkConflict {
                    host: host.clone(),
                    network: spec.name.clone(),
                },
            )),
            Some(n) if !labels::owned_by(&n.labels, host, &opts.instance) => errors.push((
                spec.owner.clone(),
                PlanError::OtherInstance {
                    host: host.clone(),
                    object: "network",
                    name: spec.name.clone(),
                    owner: labels::instance_of(&n.labels).to_string(),
                    instance: opts.instance.clone(),
                },
            )),
            Some(n) if n.labels.get(labels::SPEC_HASH) == Some(&want_hash) => counts.unchanged += 1,
            Some(n) => {
                counts.recreated += 1;
                d.changing.insert(spec.name.clone(), true);
                let old = n.labels.get(labels::SPEC).map(String::as_str);
                let new = serde_json::to_string(spec).unwrap_or_default();
                let changes: Vec<Change> = super::changes::between(old, &new);
                // Reconnect the aegis containers attached to it; ones being recreated are
                // reattached by their own step (decided later, filtered in `order`).
                let mut reconnect = Vec::new();
                for c in &observed.containers {
                    if !c.networks.iter().any(|x| x == &spec.name) {
                        continue;
                    }
                    let attachment = desired
                        .stacks
                        .iter()
                        .flat_map(|s| &s.containers)
                        .find(|dc| dc.name == c.name && dc.network_mode == NetworkMode::Networks)
                        .and_then(|dc| dc.networks.iter().find(|a| a.network == spec.name));
                    if let Some(a) = attachment {
                        reconnect.push(Reconnect {
                            container: c.name.clone(),
                            attachment: a.clone(),
                        });
                    }
                }
                d.actions.push((
                    spec.owner.clone(),
                    Action::RecreateNetwork {
                        spec: spec.clone(),
                        hash: want_hash,
                        old_id: n.id.clone(),
                        reconnect,
                        changes,
                    },
                ));
            }
        }
    }
    for n in observed
        .networks
        .iter()
        .filter(|n| labels::owned_by(&n.labels, host, &opts.instance))
    {
        if wanted.contains(n.name.as_str()) {
            continue;
        }
        let owner = owner_of(n.labels.get(labels::RESOURCE), &n.name);
        plan.resources.entry(owner.clone()).or_default().pruned += 1;
        d.actions.push((
            owner,
            Action::RemoveNetwork {
                name: n.name.clone(),
                id: n.id.clone(),
            },
        ));
    }
    let wanted_volumes: BTreeSet<&str> = desired
        .stacks
        .iter()
        .flat_map(|s| s.volumes.iter().map(|v| v.name.as_str()))
        .collect();
    for v in observed
        .volumes
        .iter()
        .filter(|v| labels::owned_by(&v.labels, host, &opts.instance))
    {
        if wanted_volumes.contains(v.name.as_str()) {
            continue;
        }
        if opts.prune_volumes {
            let owner = owner_of(v.labels.get(labels::RESOURCE), &v.name);
            plan.resources.entry(owner.clone()).or_default().pruned += 1;
            d.actions
                .push((owner, Action::RemoveVolume { name: v.name.clone() }));
        } else {
            plan.warnings.push(format!(
                "volume `{}` is no longer declared; it is kept because it may hold data (remove it with --prune-volumes)",
                v.name
            ));
        }
    }
    for stack in &desired.stacks {
        for v in stack.volumes.iter().filter(|v| !v.external) {
            match observed.volumes.iter().find(|o| o.name == v.name) {
                None => d.actions.push((v.owner.clone(), Action::CreateVolume { spec: v.clone() })),
                Some(o) if !labels::owned_by(&o.labels, host, &opts.instance) => plan.warnings.push(format!(
                    "volume `{}` already exists and was not created by this aegis instance; it is used as is (mark it `external: true` to silence this)",
                    v.name
                )),
                Some(_) => {}
            }
        }
    }
    d
}

/// The owning resource named by an object's `aegis.dev/resource` label.
pub(super) fn owner_of(label: Option<&String>, object: &str) -> ResourceRef {
    label
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| ResourceRef::new(Kind::Stack, format!("(unknown owner of {object})")))
}
