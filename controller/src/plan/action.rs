//! The plan: a DAG of steps, each one Docker operation (or a short, fixed sequence of them,
//! such as compose's create-new/stop-old/remove-old/rename replace).

use std::collections::BTreeMap;

use super::changes::Change;
use crate::desired::{ContainerSpec, NetworkAttachment, NetworkSpec, ResourceRef, VolumeSpec};

pub type StepId = usize;

/// One step's Docker operation. Pruning removes containers, networks and (only with
/// `--prune-volumes`) volumes: no action deletes a directory on the host, so a stack's
/// project directory and the state directories in it (see [`crate::compose::state_dir`])
/// survive every revision and the stack's removal.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateNetwork {
        spec: NetworkSpec,
        hash: String,
    },
    /// The network's configuration drifted: disconnect its containers, remove it, create it
    /// again, and reconnect the containers that are not being recreated anyway.
    RecreateNetwork {
        spec: NetworkSpec,
        hash: String,
        old_id: String,
        reconnect: Vec<Reconnect>,
        changes: Vec<Change>,
    },
    CreateVolume {
        spec: VolumeSpec,
    },
    CreateContainer {
        spec: Box<ContainerSpec>,
        hash: String,
        spec_json: String,
    },
    /// Replace the compose way: create the new container, stop and remove the old one, rename
    /// the new one, start it.
    ReplaceContainer {
        spec: Box<ContainerSpec>,
        hash: String,
        spec_json: String,
        old_id: String,
        changes: Vec<Change>,
    },
    /// Same configuration, but not running: start it again.
    StartContainer {
        name: String,
        id: String,
    },
    RemoveContainer {
        name: String,
        id: String,
        /// A scale-down (its service is still in the Stack): the desired container of that
        /// service whose `pre_stop` hooks run before it goes, as Compose v2.40's `up` does.
        /// `None` for an orphan (v2 runs no hook for those).
        pre_stop_of: Option<String>,
    },
    RemoveNetwork {
        name: String,
        id: String,
    },
    /// Only with `--prune-volumes`.
    RemoveVolume {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reconnect {
    pub container: String,
    pub attachment: NetworkAttachment,
}

impl Action {
    /// The Docker object this step acts on (container or network name).
    pub fn object(&self) -> &str {
        match self {
            Action::CreateNetwork { spec, .. } | Action::RecreateNetwork { spec, .. } => &spec.name,
            Action::CreateVolume { spec } => &spec.name,
            Action::CreateContainer { spec, .. } | Action::ReplaceContainer { spec, .. } => &spec.name,
            Action::StartContainer { name, .. }
            | Action::RemoveContainer { name, .. }
            | Action::RemoveNetwork { name, .. }
            | Action::RemoveVolume { name } => name,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Action::CreateNetwork { .. } | Action::CreateVolume { .. } | Action::CreateContainer { .. } => {
                "create"
            }
            Action::RecreateNetwork { .. } | Action::ReplaceContainer { .. } => "recreate",
            Action::StartContainer { .. } => "start",
            Action::RemoveContainer { .. } | Action::RemoveNetwork { .. } | Action::RemoveVolume { .. } => {
                "prune"
            }
        }
    }
}

/// What a dependent step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gate {
    /// The step finished.
    Done,
    /// The container is running (compose `service_started`).
    Started,
    /// The container's healthcheck passes (compose `service_healthy`).
    Healthy,
    /// The container exited 0 (compose `service_completed_successfully`).
    CompletedSuccessfully,
    /// Healthy if it has a healthcheck, else running (Flux-style readiness for `dependsOn`).
    Ready,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: StepId,
    /// The resource this step belongs to (`Stack/demo`, `Network/web`).
    pub resource: ResourceRef,
    pub action: Action,
    pub after: Vec<(StepId, Gate)>,
    /// A change to a critical resource's container (replace or remove): not run with the
    /// other steps, but after every other change, one at a time, commit-confirmed. See
    /// [`super::critical`].
    pub critical: bool,
}

/// What happens to one resource in a pass, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceCounts {
    pub created: usize,
    pub recreated: usize,
    pub started: usize,
    pub pruned: usize,
    pub unchanged: usize,
}

impl ResourceCounts {
    pub fn is_noop(&self) -> bool {
        self.created + self.recreated + self.started + self.pruned == 0
    }

    /// `created`, `recreated`, `unchanged`, `pruned` or a mix such as `created 1, unchanged 2`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("created", self.created),
            ("recreated", self.recreated),
            ("started", self.started),
            ("pruned", self.pruned),
            ("unchanged", self.unchanged),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| format!("{w} {n}"))
        .collect();
        if parts.is_empty() {
            "unchanged".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The plan for one host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostPlan {
    pub host: String,
    pub steps: Vec<Step>,
    pub resources: BTreeMap<ResourceRef, ResourceCounts>,
    /// Problems that don't block the pass (e.g. a volume that exists but isn't aegis's).
    pub warnings: Vec<String>,
    /// Problems that stop one resource from being applied; its steps are not in the plan.
    pub errors: Vec<(ResourceRef, super::PlanError)>,
    /// Steps taken out of the plan to protect critical resources (see [`super::critical`]).
    pub held: Vec<super::critical::Held>,
}

impl HostPlan {
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }

    /// The errors as lines for people.
    pub fn error_messages(&self) -> Vec<String> {
        self.errors.iter().map(|(r, e)| format!("{r}: {e}")).collect()
    }
}

impl HostPlan {
    /// The steps of one resource only, for a per-resource reconcile. Edges to other
    /// resources' steps are dropped: the control loop orders resources itself (a resource
    /// whose `dependsOn` is not Ready is requeued rather than applied). Step ids are renumbered.
    pub fn only(&self, resource: &ResourceRef) -> HostPlan {
        let kept: Vec<&Step> = self.steps.iter().filter(|s| &s.resource == resource).collect();
        let new_id: BTreeMap<StepId, StepId> = kept.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        let steps = kept
            .iter()
            .map(|s| Step {
                id: new_id[&s.id],
                resource: s.resource.clone(),
                action: s.action.clone(),
                after: s
                    .after
                    .iter()
                    .filter_map(|(d, g)| new_id.get(d).map(|n| (*n, *g)))
                    .collect(),
                critical: s.critical,
            })
            .collect();
        HostPlan {
            host: self.host.clone(),
            steps,
            resources: self
                .resources
                .iter()
                .filter(|(r, _)| *r == resource)
                .map(|(r, c)| (r.clone(), *c))
                .collect(),
            warnings: self.warnings.clone(),
            errors: self
                .errors
                .iter()
                .filter(|(r, _)| r == resource)
                .cloned()
                .collect(),
            held: self
                .held
                .iter()
                .filter(|h| &h.resource == resource)
                .cloned()
                .collect(),
        }
    }
}
