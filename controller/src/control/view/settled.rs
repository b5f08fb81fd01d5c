//! A reconcile's own writes, as the view will show them: what to expect (so its events are
//! not drift), and whether the view shows all of them yet. Pure.

use super::Expected;
use crate::{
    docker::containers::REPLACEMENT_SUFFIX,
    labels,
    observed::{ContainerState, ObservedHost},
    plan::{Action, HostPlan},
};

/// The objects `plan`'s steps stop, remove, create or rename.
pub fn expected(plan: &HostPlan) -> Expected {
    let mut e = Expected::default();
    for step in &plan.steps {
        match &step.action {
            Action::CreateContainer { spec, .. } => {
                e.container_names.insert(spec.name.clone());
            }
            Action::ReplaceContainer { spec, old_id, .. } => {
                e.container_ids.insert(old_id.clone());
                e.container_names.insert(spec.name.clone());
                e.container_names
                    .insert(format!("{}{REPLACEMENT_SUFFIX}", spec.name));
            }
            Action::StartContainer { name, .. } => {
                e.container_names.insert(name.clone());
            }
            Action::RemoveContainer { id, .. } => {
                e.container_ids.insert(id.clone());
            }
            Action::RecreateNetwork { spec, old_id, .. } => {
                e.network_ids.insert(old_id.clone());
                e.network_names.insert(spec.name.clone());
            }
            Action::RemoveNetwork { name, id } => {
                e.network_ids.insert(id.clone());
                e.network_names.insert(name.clone());
            }
            Action::CreateNetwork { .. } | Action::CreateVolume { .. } | Action::RemoveVolume { .. } => {}
        }
    }
    e
}

/// Whether `view` shows the end state of every step of `plan` (all of them succeeded).
pub fn reflects(view: &ObservedHost, plan: &HostPlan) -> bool {
    plan.steps.iter().all(|s| step_reflected(view, &s.action))
}

fn step_reflected(view: &ObservedHost, action: &Action) -> bool {
    let container = |name: &str| view.containers.iter().find(|c| c.name == name);
    let started = |name: &str, hash: Option<&str>| {
        container(name).is_some_and(|c| {
            c.state != ContainerState::Created && hash.is_none_or(|h| c.spec_hash() == Some(h))
        })
    };
    let gone = |id: &str| !view.containers.iter().any(|c| c.id == id);
    let network = |name: &str, hash: &str| {
        view.networks
            .iter()
            .any(|n| n.name == name && n.labels.get(labels::SPEC_HASH).map(String::as_str) == Some(hash))
    };
    match action {
        Action::CreateContainer { spec, hash, .. } => started(&spec.name, Some(hash)),
        Action::ReplaceContainer {
            spec, hash, old_id, ..
        } => gone(old_id) && started(&spec.name, Some(hash)),
        Action::StartContainer { name, id } => {
            container(name).is_some_and(|c| &c.id == id && c.state != ContainerState::Created)
                && container(name).is_some_and(|c| c.state != ContainerState::Exited)
        }
        Action::RemoveContainer { id, .. } => gone(id),
        Action::CreateNetwork { spec, hash } => network(&spec.name, hash),
        Action::RecreateNetwork {
            spec, hash, old_id, ..
        } => !view.networks.iter().any(|n| &n.id == old_id) && network(&spec.name, hash),
        Action::RemoveNetwork { id, .. } => !view.networks.iter().any(|n| &n.id == id),
        Action::CreateVolume { spec } => view.volumes.iter().any(|v| v.name == spec.name),
        Action::RemoveVolume { name } => !view.volumes.iter().any(|v| &v.name == name),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{desired::ResourceRef, observed::ObservedContainer, plan::Step};

    fn plan(action: Action) -> HostPlan {
        HostPlan {
            steps: vec![Step {
                id: 0,
                resource: ResourceRef::new(crate::desired::Kind::Stack, "s"),
                action,
                after: Vec::new(),
                critical: false,
            }],
            ..Default::default()
        }
    }

    fn container(id: &str, name: &str, hash: &str, state: ContainerState) -> ObservedContainer {
        ObservedContainer {
            id: id.into(),
            name: name.into(),
            labels: BTreeMap::from([(labels::SPEC_HASH.to_string(), hash.to_string())]),
            state,
            health: None,
            exit_code: None,
            image_id: String::new(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn a_replace_is_reflected_once_the_old_is_gone_and_the_new_started_under_its_name() {
        let p = plan(Action::RemoveContainer {
            name: "web".into(),
            id: "old".into(),
            pre_stop_of: None,
        });
        let mut view = ObservedHost {
            containers: vec![container("old", "web", "h1", ContainerState::Running)],
            ..Default::default()
        };
        assert!(!reflects(&view, &p));
        view.containers.clear();
        assert!(reflects(&view, &p));

        let e = expected(&p);
        assert!(e.container_ids.contains("old"));
    }

    #[test]
    fn a_created_container_counts_once_started_with_the_new_hash() {
        let spec = crate::desired::ContainerSpec {
            name: "web".into(),
            ..Default::default()
        };
        let p = plan(Action::ReplaceContainer {
            spec: Box::new(spec),
            hash: "h2".into(),
            spec_json: String::new(),
            old_id: "old".into(),
            changes: Vec::new(),
        });
        let mut view = ObservedHost {
            containers: vec![
                container("old", "web", "h1", ContainerState::Running),
                container("new", "web_aegis_new", "h2", ContainerState::Created),
            ],
            ..Default::default()
        };
        assert!(!reflects(&view, &p), "the old one is still there");
        view.containers.remove(0);
        assert!(!reflects(&view, &p), "not renamed nor started yet");
        view.containers[0].name = "web".into();
        assert!(!reflects(&view, &p), "not started yet");
        view.containers[0].state = ContainerState::Running;
        assert!(reflects(&view, &p));
        let e = expected(&p);
        assert!(e.container_names.contains("web_aegis_new") && e.container_ids.contains("old"));
    }
}
