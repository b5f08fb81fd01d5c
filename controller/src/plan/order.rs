//! Turning decisions into an ordered DAG of steps.
//!
//! Order, from the outside in:
//! 1. pruning containers comes first (like `docker compose up --remove-orphans`), so a renamed
//!    service can take over the old one's host port or name;
//! 2. networks and volumes before the containers that use them;
//! 3. a Stack's `dependsOn` resources before the Stack (their containers Ready);
//! 4. inside a stack, `network_mode: service:X` / `container:X` after X is started, and
//!    `depends_on` by its condition;
//! 5. pruning networks last, once no container of ours is left on them.
//!
//! Steps with no edge between them run in parallel (bounded by the executor).

use std::collections::BTreeMap;

use super::{Action, Decisions, Gate, HostPlan, Step, StepId};
use crate::desired::{
    ContainerSpec, DependsCondition, DesiredHost, Kind, MountKind, NetworkMode, ResourceRef,
};

pub(super) fn assemble(desired: &DesiredHost, net: Decisions, ctr: Decisions, plan: &mut HostPlan) {
    let specs: BTreeMap<&str, &ContainerSpec> = desired
        .stacks
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| (c.name.as_str(), c)))
        .collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut by_object: BTreeMap<String, StepId> = BTreeMap::new();
    for (resource, mut action) in net.actions.into_iter().chain(ctr.actions) {
        if let Action::RecreateNetwork { reconnect, .. } = &mut action {
            reconnect.retain(|r| !ctr.changing.contains_key(&r.container));
        }
        let id = steps.len();
        by_object.insert(object_key(&action), id);
        steps.push(Step {
            id,
            resource,
            action,
            after: Vec::new(),
            critical: false,
        });
    }
    let prune_containers: Vec<StepId> = steps
        .iter()
        .filter(|s| matches!(s.action, Action::RemoveContainer { .. }))
        .map(|s| s.id)
        .collect();
    let container_steps: Vec<StepId> = steps
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                Action::CreateContainer { .. }
                    | Action::ReplaceContainer { .. }
                    | Action::StartContainer { .. }
            )
        })
        .map(|s| s.id)
        .collect();
    let stack_deps: BTreeMap<String, Vec<ResourceRef>> = desired
        .stacks
        .iter()
        .map(|s| (s.name.clone(), s.depends_on.clone()))
        .collect();

    let mut edges: Vec<(StepId, Vec<(StepId, Gate)>)> = Vec::new();
    for step in &steps {
        let mut after: Vec<(StepId, Gate)> = Vec::new();
        match &step.action {
            Action::CreateContainer { spec, .. } | Action::ReplaceContainer { spec, .. } => {
                after.extend(prune_containers.iter().map(|p| (*p, Gate::Done)));
                after.extend(container_inputs(spec, &by_object, &specs));
                after.extend(stack_dependencies(spec, &stack_deps, &steps));
            }
            Action::StartContainer { name, .. } => {
                if let Some(spec) = specs.get(name.as_str()) {
                    after.extend(container_inputs(spec, &by_object, &specs));
                    after.extend(stack_dependencies(spec, &stack_deps, &steps));
                }
            }
            Action::RemoveNetwork { .. } => {
                after.extend(
                    prune_containers
                        .iter()
                        .chain(&container_steps)
                        .map(|p| (*p, Gate::Done)),
                );
            }
            _ => {}
        }
        after.retain(|(dep, _)| *dep != step.id);
        after.sort_by_key(|(d, _)| *d);
        after.dedup_by_key(|(d, _)| *d);
        edges.push((step.id, after));
    }
    for (id, after) in edges {
        steps[id].after = after;
    }
    plan.steps = steps;
}

fn object_key(action: &Action) -> String {
    match action {
        Action::CreateNetwork { .. } | Action::RecreateNetwork { .. } | Action::RemoveNetwork { .. } => {
            format!("network:{}", action.object())
        }
        Action::CreateVolume { .. } | Action::RemoveVolume { .. } => format!("volume:{}", action.object()),
        _ => format!("container:{}", action.object()),
    }
}

/// Networks, volumes and sibling containers a container needs first.
fn container_inputs(
    spec: &ContainerSpec,
    by_object: &BTreeMap<String, StepId>,
    specs: &BTreeMap<&str, &ContainerSpec>,
) -> Vec<(StepId, Gate)> {
    let mut after = Vec::new();
    let mut need = |key: String, gate: Gate| {
        if let Some(id) = by_object.get(&key) {
            after.push((*id, gate));
        }
    };
    for n in &spec.networks {
        need(format!("network:{}", n.network), Gate::Done);
    }
    for m in &spec.mounts {
        if let MountKind::Volume { name: Some(v), .. } = &m.kind {
            need(format!("volume:{v}"), Gate::Done);
        }
    }
    // Every replica of a service (a service can run several containers).
    let siblings = |service: &str| -> Vec<String> {
        specs
            .values()
            .filter(|c| c.stack == spec.stack && c.service == service)
            .map(|c| c.name.clone())
            .collect()
    };
    match &spec.network_mode {
        NetworkMode::Service(svc) => {
            if let Some(name) = siblings(svc).into_iter().min() {
                need(format!("container:{name}"), Gate::Started);
            }
        }
        NetworkMode::Container(name) => need(format!("container:{name}"), Gate::Started),
        _ => {}
    }
    for dep in &spec.depends_on {
        let gate = match dep.condition {
            DependsCondition::Started => Gate::Started,
            DependsCondition::Healthy => Gate::Healthy,
            DependsCondition::CompletedSuccessfully => Gate::CompletedSuccessfully,
        };
        for name in siblings(&dep.service) {
            need(format!("container:{name}"), gate);
        }
    }
    after
}

/// Every step of the resources a Stack (or TunnelClient) `dependsOn`: containers Ready, other
/// objects Done.
fn stack_dependencies(
    spec: &ContainerSpec,
    stack_deps: &BTreeMap<String, Vec<ResourceRef>>,
    steps: &[Step],
) -> Vec<(StepId, Gate)> {
    let Some(deps) = stack_deps.get(&spec.stack) else {
        return Vec::new();
    };
    steps
        .iter()
        .filter(|s| deps.contains(&s.resource))
        .filter(|s| {
            !matches!(
                s.action,
                Action::RemoveContainer { .. } | Action::RemoveNetwork { .. }
            )
        })
        .map(|s| {
            // Containers of a Stack, DnsGuard or TunnelClient must be Ready (running, and
            // healthy where they have a healthcheck: a DnsGuard's agent after its first pass).
            let gate = if s.resource.kind != Kind::Network
                && matches!(
                    s.action,
                    Action::CreateContainer { .. }
                        | Action::ReplaceContainer { .. }
                        | Action::StartContainer { .. }
                ) {
                Gate::Ready
            } else {
                Gate::Done
            };
            (s.id, gate)
        })
        .collect()
}
