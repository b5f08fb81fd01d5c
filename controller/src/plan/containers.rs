//! Container decisions: create, replace, start, leave alone, or prune.
//!
//! The rule is compose's: recreate when, and only when, the spec hash differs (the hash covers
//! the resolved configuration and the image ID). One addition: a container that shares the
//! network namespace of a service (`network_mode: service:X`) is recreated whenever X is,
//! because X's namespace goes away with the old X.

use std::collections::BTreeMap;

use super::{hash, Action, Decisions, HostPlan, PlanError};
use crate::{
    desired::{ContainerSpec, DesiredHost, NetworkMode, ResourceRef, RestartPolicy},
    labels,
    observed::{ContainerState, ObservedContainer, ObservedHost},
};

pub(super) fn decide(
    desired: &DesiredHost,
    observed: &ObservedHost,
    instance: &str,
    plan: &mut HostPlan,
    errors: &mut Vec<(ResourceRef, PlanError)>,
) -> Decisions {
    let host = &desired.host.name;
    // Rollback watchdogs are run by their own procedure (`critical::protect` holds back what
    // touches the containers they guard), never planned like a Stack's containers.
    let (mine, others): (Vec<&ObservedContainer>, Vec<&ObservedContainer>) = observed
        .containers
        .iter()
        .filter(|c| !crate::observed::rollback::is_watchdog(&c.labels))
        .partition(|c| labels::owned_by(&c.labels, host, instance));
    let by_name: BTreeMap<&str, &ObservedContainer> = mine.iter().map(|c| (c.name.as_str(), *c)).collect();
    let mut d = Decisions::default();
    // First pass: each container on its own.
    let mut pending: Vec<(ResourceRef, &ContainerSpec, Option<Action>)> = Vec::new();
    for stack in &desired.stacks {
        let owner = stack.owner();
        for spec in &stack.containers {
            if let Some(o) = others.iter().find(|o| o.name == spec.name) {
                errors.push((
                    owner.clone(),
                    PlanError::OtherInstance {
                        host: host.clone(),
                        object: "container",
                        name: spec.name.clone(),
                        owner: labels::instance_of(&o.labels).to_string(),
                        instance: instance.to_string(),
                    },
                ));
                continue;
            }
            let Some(image_id) = observed.images.get(&spec.image) else {
                errors.push((
                    owner.clone(),
                    PlanError::MissingImage {
                        host: host.clone(),
                        container: spec.name.clone(),
                        image: spec.image.clone(),
                    },
                ));
                continue;
            };
            let (h, json) = hash::container(spec, image_id);
            let action = match by_name.get(spec.name.as_str()) {
                None => Some(Action::CreateContainer {
                    spec: Box::new(spec.clone()),
                    hash: h,
                    spec_json: json,
                }),
                Some(o) if o.spec_hash() != Some(h.as_str()) || o.state == ContainerState::Dead => {
                    let changes =
                        super::changes::between(o.labels.get(labels::SPEC).map(String::as_str), &json);
                    Some(Action::ReplaceContainer {
                        spec: Box::new(spec.clone()),
                        hash: h,
                        spec_json: json,
                        old_id: o.id.clone(),
                        changes,
                    })
                }
                Some(o) if !detached_from(spec, o).is_empty() => Some(Action::ReplaceContainer {
                    spec: Box::new(spec.clone()),
                    hash: h,
                    spec_json: json,
                    old_id: o.id.clone(),
                    changes: vec![super::Change {
                        field: "networks".into(),
                        old: Some(format!("detached from {}", detached_from(spec, o).join(", "))),
                        new: Some("attached".into()),
                    }],
                }),
                Some(o) if needs_start(spec, o) => Some(Action::StartContainer {
                    name: o.name.clone(),
                    id: o.id.clone(),
                }),
                Some(_) => None,
            };
            pending.push((owner.clone(), spec, action));
        }
    }
    cascade_shared_namespaces(&mut pending, &by_name, observed);
    for (owner, spec, action) in pending {
        let counts = plan.resources.entry(owner.clone()).or_default();
        match action {
            None => counts.unchanged += 1,
            Some(a) => {
                match &a {
                    Action::CreateContainer { .. } => counts.created += 1,
                    Action::ReplaceContainer { .. } => counts.recreated += 1,
                    _ => counts.started += 1,
                }
                if matches!(
                    a,
                    Action::CreateContainer { .. } | Action::ReplaceContainer { .. }
                ) {
                    d.changing.insert(spec.name.clone(), true);
                }
                d.actions.push((owner, a));
            }
        }
    }
    // Prune: owned containers of this host that no desired container claims.
    let wanted: std::collections::BTreeSet<&str> = desired
        .stacks
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| c.name.as_str()))
        .collect();
    for c in mine.iter().filter(|c| !wanted.contains(c.name.as_str())) {
        let owner = super::networks::owner_of(c.labels.get(labels::RESOURCE), &c.name);
        plan.resources.entry(owner.clone()).or_default().pruned += 1;
        d.actions.push((
            owner,
            Action::RemoveContainer {
                name: c.name.clone(),
                id: c.id.clone(),
                pre_stop_of: scaled_down_from(desired, c),
            },
        ));
    }
    d
}

/// For an unwanted container whose compose service is still desired (a scale-down), the
/// desired container of that service with `pre_stop` hooks to run first.
fn scaled_down_from(desired: &DesiredHost, c: &ObservedContainer) -> Option<String> {
    let (project, service) = (
        c.labels.get(labels::COMPOSE_PROJECT)?,
        c.labels.get(labels::COMPOSE_SERVICE)?,
    );
    desired
        .stacks
        .iter()
        .flat_map(|s| s.containers.iter())
        .find(|d| &d.stack == project && &d.service == service && !d.pre_stop.is_empty())
        .map(|d| d.name.clone())
}

/// A container with the right configuration that is not running gets started again, unless it
/// is a finished one-shot job (exited 0, `restart: no`): starting those on every pass would
/// rerun the job forever.
fn needs_start(spec: &ContainerSpec, o: &ObservedContainer) -> bool {
    match o.state {
        ContainerState::Running
        | ContainerState::Restarting
        | ContainerState::Paused
        | ContainerState::Removing => false,
        ContainerState::Exited => !is_finished_job(spec, o),
        ContainerState::Created | ContainerState::Dead | ContainerState::Unknown => true,
    }
}

/// Networks a running container should be on but isn't (someone ran `docker network
/// disconnect`). Its hash is unchanged, so only this check notices; recreating it restores the
/// attachment with its aliases and address exactly as at create.
fn detached_from(spec: &ContainerSpec, o: &ObservedContainer) -> Vec<String> {
    if spec.network_mode != NetworkMode::Networks || o.state != ContainerState::Running {
        return Vec::new();
    }
    spec.networks
        .iter()
        .filter(|a| !o.networks.contains(&a.network))
        .map(|a| a.network.clone())
        .collect()
}

/// A one-shot job that finished: exited 0 with `restart: no` (or none). It is left alone, and
/// its status counts it as done, not as "not running".
pub fn is_finished_job(spec: &ContainerSpec, o: &ObservedContainer) -> bool {
    o.state == ContainerState::Exited
        && o.exit_code == Some(0)
        && matches!(spec.restart, RestartPolicy::No | RestartPolicy::ExplicitNo)
}

/// A container sharing another's network namespace (`service:X`) is recreated whenever X is.
fn cascade_shared_namespaces(
    pending: &mut [(ResourceRef, &ContainerSpec, Option<Action>)],
    by_name: &BTreeMap<&str, &ObservedContainer>,
    observed: &ObservedHost,
) {
    loop {
        let recreated: Vec<(String, String)> = pending
            .iter()
            .filter(|(_, _, a)| {
                matches!(
                    a,
                    Some(Action::CreateContainer { .. } | Action::ReplaceContainer { .. })
                )
            })
            .map(|(_, s, _)| (s.stack.clone(), s.service.clone()))
            .collect();
        let mut changed = false;
        for (_, spec, action) in pending.iter_mut() {
            let NetworkMode::Service(target) = &spec.network_mode else {
                continue;
            };
            if !recreated.iter().any(|(st, sv)| st == &spec.stack && sv == target) {
                continue;
            }
            if matches!(
                action,
                Some(Action::CreateContainer { .. } | Action::ReplaceContainer { .. })
            ) {
                continue;
            }
            let Some(o) = by_name.get(spec.name.as_str()) else {
                continue;
            };
            let image_id = observed
                .images
                .get(&spec.image)
                .map(String::as_str)
                .unwrap_or_default();
            let (h, json) = hash::container(spec, image_id);
            *action = Some(Action::ReplaceContainer {
                spec: Box::new((*spec).clone()),
                hash: h,
                spec_json: json,
                old_id: o.id.clone(),
                changes: vec![super::Change {
                    field: "network_mode".into(),
                    old: None,
                    new: Some(format!("\"service:{target}\" (namespace owner recreated)")),
                }],
            });
            changed = true;
        }
        if !changed {
            break;
        }
    }
}
