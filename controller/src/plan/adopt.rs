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
//! A critical resource (on a management path) is adopted too, but as a critical step
//! ([`super::Step::critical`]): the executor runs it last, alone, commit-confirmed with a
//! rollback watchdog (the bootstrap Newt of the seed, started by hand, is exactly such a
//! container). A step that waited for it no longer does: until its turn, the old container
//! keeps running, as for any critical replace ([`HostPlan::without_critical`]).
//!
//! Containers labelled by another aegis instance are not "unlabelled": they stay a
//! [`PlanError::OtherInstance`] conflict.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, HostPlan};
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
        step.critical = critical.contains(&step.resource);
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
    adopted
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
    fn a_critical_resource_is_adopted_as_a_critical_step() {
        let (mut desired, observed) = two_stacks_app_depends_on_db();
        desired
            .stacks
            .iter_mut()
            .find(|s| s.name == "db")
            .expect("db")
            .critical = true;
        let mut plan = plan_host(&desired, &observed, &Default::default());
        let adopted = adopt(&mut plan, &desired, &[foreign("db")]);
        assert_eq!(adopted.len(), 1);
        let db = plan
            .steps
            .iter()
            .find(|s| s.action.object() == "db")
            .expect("db step");
        assert!(db.critical && matches!(db.action, Action::ReplaceContainer { .. }));
        // The normal pass creates app without waiting for db's turn.
        let normal = plan.without_critical();
        let objects: Vec<&str> = normal.steps.iter().map(|s| s.action.object()).collect();
        assert_eq!(objects, ["app"]);
        assert!(normal.steps[0].after.is_empty());
    }
}
