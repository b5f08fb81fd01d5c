//! Adoption (`aegis apply --adopt`): a declared container whose name is held by a container
//! aegis does not own — made by `docker run`, `docker compose` or Komodo before aegis — is
//! replaced by a labelled one instead of failing on the name.
//!
//! Pure: it rewrites a finished [`HostPlan`]. A `CreateContainer` whose name an unlabelled
//! container holds becomes a compose-style `ReplaceContainer` of that container (create the
//! new one under a temporary name, stop and remove the old, rename, start: the service
//! restarts once). The plan's edges are kept, so adoption runs in dependency order (networks,
//! `dependsOn`, `network_mode: service:X`, `depends_on`).
//!
//! A critical resource (on a management path) is not adopted: replacing it must be
//! commit-confirmed, with a rollback watchdog on the host, and that path is not in this
//! build. Its steps, and every step that waits for them, are taken out of the plan and the
//! resource gets [`PlanError::AdoptCritical`]; everything else is adopted.
//!
//! Containers labelled by another aegis instance are not "unlabelled": they stay a
//! [`PlanError::OtherInstance`] conflict.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, HostPlan, PlanError, Step, StepId};
use crate::{
    desired::{DesiredHost, ResourceRef},
    observed::ObservedContainer,
};

/// One container adopted by the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    pub resource: ResourceRef,
    pub container: String,
    /// The unlabelled container's ID.
    pub old_id: String,
}

/// Rewrites `plan` to adopt the `foreign` (unlabelled) containers that hold declared names.
/// Returns what it adopted.
pub fn adopt(plan: &mut HostPlan, desired: &DesiredHost, foreign: &[ObservedContainer]) -> Vec<Adopted> {
    let by_name: BTreeMap<&str, &ObservedContainer> = foreign.iter().map(|c| (c.name.as_str(), c)).collect();
    let critical: BTreeSet<ResourceRef> = desired
        .stacks
        .iter()
        .filter(|s| s.critical)
        .map(|s| s.owner())
        .collect();
    let mut adopted = Vec::new();
    let mut blocked: BTreeMap<StepId, (ResourceRef, String)> = BTreeMap::new();
    for step in &mut plan.steps {
        let Action::CreateContainer {
            spec,
            hash,
            spec_json,
        } = &step.action
        else {
            continue;
        };
        let Some(old) = by_name.get(spec.name.as_str()) else {
            continue;
        };
        if critical.contains(&step.resource) {
            blocked.insert(step.id, (step.resource.clone(), spec.name.clone()));
            continue;
        }
        adopted.push(Adopted {
            resource: step.resource.clone(),
            container: spec.name.clone(),
            old_id: old.id.clone(),
        });
        step.action = Action::ReplaceContainer {
            spec: spec.clone(),
            hash: hash.clone(),
            spec_json: spec_json.clone(),
            old_id: old.id.clone(),
            changes: vec![Change {
                field: "owner".into(),
                old: Some(format!(
                    "unlabelled container {} (not managed by aegis)",
                    short(&old.id)
                )),
                new: Some("aegis (adopted: replaced by a labelled container)".into()),
            }],
        };
        if let Some(c) = plan.resources.get_mut(&step.resource) {
            c.created = c.created.saturating_sub(1);
            c.recreated += 1;
        }
    }
    if !blocked.is_empty() {
        let removed = remove_with_dependents(plan, &blocked.keys().copied().collect());
        for (resource, container) in blocked.into_values() {
            plan.errors.push((
                resource.clone(),
                PlanError::AdoptCritical {
                    host: plan.host.clone(),
                    resource: resource.clone(),
                    container,
                },
            ));
        }
        for step in removed {
            if let Some(c) = plan.resources.get_mut(&step.resource) {
                match step.action {
                    Action::CreateContainer { .. } => c.created = c.created.saturating_sub(1),
                    Action::ReplaceContainer { .. } => c.recreated = c.recreated.saturating_sub(1),
                    Action::StartContainer { .. } => c.started = c.started.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }
    adopted
}

/// Takes `ids` and every step that waits on one of them (transitively) out of the plan,
/// renumbering the rest; returns every removed step (`ids` included).
fn remove_with_dependents(plan: &mut HostPlan, ids: &BTreeSet<StepId>) -> Vec<Step> {
    let mut gone = ids.clone();
    loop {
        let more: Vec<StepId> = plan
            .steps
            .iter()
            .filter(|s| !gone.contains(&s.id) && s.after.iter().any(|(d, _)| gone.contains(d)))
            .map(|s| s.id)
            .collect();
        if more.is_empty() {
            break;
        }
        gone.extend(more);
    }
    let (removed, kept): (Vec<Step>, Vec<Step>) = std::mem::take(&mut plan.steps)
        .into_iter()
        .partition(|s| gone.contains(&s.id));
    let new_id: BTreeMap<StepId, StepId> = kept.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    plan.steps = kept
        .into_iter()
        .map(|s| Step {
            id: new_id[&s.id],
            after: s
                .after
                .iter()
                .filter_map(|(d, g)| new_id.get(d).map(|n| (*n, *g)))
                .collect(),
            ..s
        })
        .collect();
    removed
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        desired::{ContainerSpec, Endpoint, HostSpec, Kind, StackSpec},
        observed::{ContainerState, ObservedHost},
        plan::plan_host,
    };

    /// Stack `app` (container `app`) dependsOn Stack `db` (container `db`); nothing exists yet.
    fn two_stacks_app_depends_on_db() -> (DesiredHost, ObservedHost) {
        let stack = |name: &str, deps: Vec<ResourceRef>| StackSpec {
            kind: Kind::Stack,
            name: name.into(),
            depends_on: deps,
            containers: vec![ContainerSpec {
                name: name.into(),
                stack: name.into(),
                service: name.into(),
                image: "busybox:1.36".into(),
                ..Default::default()
            }],
            networks: vec![],
            volumes: vec![],
            critical: false,
        };
        let desired = DesiredHost {
            host: HostSpec {
                name: "local".into(),
                endpoint: Endpoint::Default,
                labels: BTreeMap::new(),
            },
            networks: vec![],
            stacks: vec![
                stack("db", vec![]),
                stack("app", vec![ResourceRef::new(Kind::Stack, "db")]),
            ],
        };
        let observed = ObservedHost {
            images: BTreeMap::from([("busybox:1.36".to_string(), "sha256:img".to_string())]),
            ..Default::default()
        };
        (desired, observed)
    }

    fn foreign(name: &str) -> ObservedContainer {
        ObservedContainer {
            id: format!("{name}-0123456789abcdef"),
            name: name.into(),
            labels: BTreeMap::new(),
            state: ContainerState::Running,
            health: None,
            exit_code: None,
            image_id: "sha256:old".into(),
            networks: vec![],
        }
    }

    #[test]
    fn a_foreign_container_with_a_declared_name_is_replaced_in_order() {
        let (desired, observed) = two_stacks_app_depends_on_db();
        let mut plan = plan_host(&desired, &observed, &Default::default());
        let creates_before = plan.steps.len();
        let adopted = adopt(&mut plan, &desired, &[foreign("db"), foreign("unrelated")]);
        assert_eq!(adopted.len(), 1);
        assert_eq!(adopted[0].container, "db");
        assert_eq!(plan.steps.len(), creates_before, "no step added or dropped");
        let db = plan
            .steps
            .iter()
            .find(|s| s.action.object() == "db")
            .expect("db step");
        match &db.action {
            Action::ReplaceContainer { old_id, changes, .. } => {
                assert_eq!(old_id, "db-0123456789abcdef");
                assert_eq!(changes[0].field, "owner");
            }
            other => panic!("db must be replaced, got {other:?}"),
        }
        // app still waits for db.
        let app = plan
            .steps
            .iter()
            .find(|s| s.action.object() == "app")
            .expect("app step");
        assert!(app.after.iter().any(|(d, _)| *d == db.id), "{plan:#?}");
        let counts = plan.resources[&ResourceRef::new(Kind::Stack, "db")];
        assert_eq!((counts.created, counts.recreated), (0, 1));
    }

    #[test]
    fn a_critical_resource_is_not_adopted_and_its_dependents_wait() {
        let (mut desired, observed) = two_stacks_app_depends_on_db();
        desired
            .stacks
            .iter_mut()
            .find(|s| s.name == "db")
            .expect("db")
            .critical = true;
        let mut plan = plan_host(&desired, &observed, &Default::default());
        let adopted = adopt(&mut plan, &desired, &[foreign("db")]);
        assert!(adopted.is_empty());
        assert!(
            plan.steps
                .iter()
                .all(|s| s.action.object() != "db" && s.action.object() != "app"),
            "db and what waits for it are out of the plan: {plan:#?}"
        );
        let msgs = plan.error_messages();
        assert!(
            msgs.iter()
                .any(|m| m.contains("Stack/db") && m.contains("commit-confirmed")),
            "{msgs:#?}"
        );
        // Step ids stay dense for the executor.
        assert!(plan.steps.iter().enumerate().all(|(i, s)| s.id == i));
    }
}
