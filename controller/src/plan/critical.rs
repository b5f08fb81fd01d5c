//! Critical resources in a plan: what is held back, what is marked, and in which order the
//! marked steps run.
//!
//! A Stack is critical when it is on some host's management path or says `critical: true`
//! ([`crate::desired::Management`]). Guarantees, all decided here without Docker:
//!
//! - **Marked, not batched.** Replacing or removing a critical container is a *critical step*
//!   ([`super::Step::critical`]). The executor leaves it out of the normal DAG
//!   ([`HostPlan::without_critical`]) and runs it afterwards, commit-confirmed, one at a time
//!   across the fleet ([`fleet_sequence`]). Creating a critical container that does not exist
//!   yet, or starting a stopped one, is not critical: it cannot cut a path that works, and a
//!   stopped path container should come back at once.
//! - **Never a side effect.** A network recreate or prune that would disconnect a critical
//!   container is held back ([`Held`], reason [`HoldReason::CriticalAttached`]) and reported:
//!   it needs a person (or a confirmed apply of the container first). Containers of a critical
//!   resource that left the source are recognised by their [`crate::labels::CRITICAL`] label,
//!   so pruning them is a critical (confirmed) step too.
//! - **One attempt at a time.** While a rollback watchdog guards a resource (its labels are in
//!   the observed state), every step of that resource, and every step touching the two
//!   containers it swaps, is held ([`HoldReason::AttemptInFlight`]): the watchdog, not the
//!   planner, decides what happens to them. A parked or not-yet-swapped container whose
//!   watchdog is gone (its name says which attempt it belongs to) is left to the recovery
//!   ([`HoldReason::AttemptLeftover`]): pruning a parked old container could leave no
//!   container at all.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, HostPlan, Step, StepId};
use crate::{
    desired::{DesiredHost, ResourceRef},
    labels,
    observed::{ObservedContainer, ObservedHost},
};

/// A step taken out of the plan to protect a critical resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The resource the step belonged to.
    pub resource: ResourceRef,
    /// `recreate`, `prune`, ...
    pub verb: &'static str,
    /// The container or network.
    pub object: String,
    pub reason: HoldReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// A commit-confirmed change is in flight; its watchdog decides what happens next.
    AttemptInFlight { attempt: String, resource: ResourceRef },
    /// The step would disconnect these critical containers from a network.
    CriticalAttached { containers: Vec<String> },
    /// The container is left over from an interrupted attempt (its name says so) whose
    /// watchdog is gone: recovery, not the planner, puts it back or removes it.
    AttemptLeftover { attempt: String },
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} held back: ", self.verb, self.object)?;
        match &self.reason {
            HoldReason::AttemptInFlight { attempt, resource } => write!(
                f,
                "a commit-confirmed change of {resource} is in flight (rollback watchdog \
                 aegis-rollback-{attempt}); it is planned again once the watchdog has finished"
            ),
            HoldReason::CriticalAttached { containers } => write!(
                f,
                "it would disconnect critical container(s) {} from the network, which may cut a \
                 management path; aegis never does that as a side effect — change the network \
                 by hand in a maintenance window, or detach them first",
                containers.join(", ")
            ),
            HoldReason::AttemptLeftover { attempt } => write!(
                f,
                "it is left over from the interrupted commit-confirmed attempt {attempt}; the \
                 controller's recovery restores or removes it"
            ),
        }
    }
}

/// Marks critical steps and holds back the ones that would harm a critical resource (see the
/// module doc). Runs at the end of [`super::plan_host`].
pub(super) fn protect(desired: &DesiredHost, observed: &ObservedHost, plan: &mut HostPlan) {
    let critical: BTreeSet<ResourceRef> = desired
        .stacks
        .iter()
        .filter(|s| s.critical)
        .map(|s| s.owner())
        .collect();
    let is_critical = |c: &ObservedContainer| {
        c.labels.get(labels::CRITICAL).map(String::as_str) == Some("true")
            || c.resource()
                .and_then(|r| r.parse::<ResourceRef>().ok())
                .is_some_and(|r| critical.contains(&r))
    };
    let attempts = observed.rollback_attempts();
    let by_id: BTreeMap<&str, &ObservedContainer> =
        observed.containers.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut held: Vec<(StepId, HoldReason)> = Vec::new();
    for step in &mut plan.steps {
        let touched = touched_container(&step.action);
        if let Some((a, _)) = attempts
            .iter()
            .find(|(a, _)| a.resource == step.resource || touched.is_some_and(|id| a.guards(id)))
        {
            held.push((
                step.id,
                HoldReason::AttemptInFlight {
                    attempt: a.id.clone(),
                    resource: a.resource.clone(),
                },
            ));
            continue;
        }
        let touched_name = touched.and_then(|id| by_id.get(id)).map(|c| c.name.as_str());
        if let Some(a) = touched_name.and_then(crate::observed::rollback::attempt_name) {
            let (crate::observed::rollback::AttemptName::Next { attempt, .. }
            | crate::observed::rollback::AttemptName::Old { attempt, .. }) = a;
            held.push((
                step.id,
                HoldReason::AttemptLeftover {
                    attempt: attempt.to_string(),
                },
            ));
            continue;
        }
        match &step.action {
            Action::RecreateNetwork { spec, .. } => {
                if let Some(r) = attached(observed, &spec.name, &is_critical) {
                    held.push((step.id, r));
                }
            }
            Action::RemoveNetwork { name, .. } => {
                if let Some(r) = attached(observed, name, &is_critical) {
                    held.push((step.id, r));
                }
            }
            Action::ReplaceContainer { .. } => step.critical = critical.contains(&step.resource),
            Action::RemoveContainer { id, .. } => {
                step.critical = critical.contains(&step.resource)
                    || by_id.get(id.as_str()).is_some_and(|c| is_critical(c));
            }
            _ => {}
        }
    }
    if held.is_empty() {
        return;
    }
    let reasons: BTreeMap<StepId, HoldReason> = held.into_iter().collect();
    for step in plan.steps.iter().filter(|s| reasons.contains_key(&s.id)) {
        let counts = plan.resources.entry(step.resource.clone()).or_default();
        let n = match step.action.verb() {
            "create" => &mut counts.created,
            "recreate" => &mut counts.recreated,
            "start" => &mut counts.started,
            _ => &mut counts.pruned,
        };
        *n = n.saturating_sub(1);
        plan.held.push(Held {
            resource: step.resource.clone(),
            verb: step.action.verb(),
            object: step.action.object().to_string(),
            reason: reasons[&step.id].clone(),
        });
    }
    let steps = std::mem::take(&mut plan.steps);
    plan.steps = retain(steps, |s| !reasons.contains_key(&s.id));
}

/// The container a step acts on, by ID, when it acts on an existing one.
fn touched_container(a: &Action) -> Option<&str> {
    match a {
        Action::ReplaceContainer { old_id, .. } => Some(old_id),
        Action::StartContainer { id, .. } | Action::RemoveContainer { id, .. } => Some(id),
        _ => None,
    }
}

/// The critical containers attached to `network`, as a hold reason.
fn attached(
    observed: &ObservedHost,
    network: &str,
    is_critical: &impl Fn(&ObservedContainer) -> bool,
) -> Option<HoldReason> {
    let containers: Vec<String> = observed
        .containers
        .iter()
        .filter(|c| c.networks.iter().any(|n| n == network) && is_critical(c))
        .map(|c| c.name.clone())
        .collect();
    (!containers.is_empty()).then_some(HoldReason::CriticalAttached { containers })
}

/// Keeps the steps `keep` accepts, renumbered, with edges to dropped steps removed.
fn retain(steps: Vec<Step>, keep: impl Fn(&Step) -> bool) -> Vec<Step> {
    let kept: Vec<Step> = steps.into_iter().filter(|s| keep(s)).collect();
    let new_id: BTreeMap<StepId, StepId> = kept.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    kept.into_iter()
        .map(|mut s| {
            s.id = new_id[&s.id];
            s.after = s
                .after
                .iter()
                .filter_map(|(d, g)| new_id.get(d).map(|n| (*n, *g)))
                .collect();
            s
        })
        .collect()
}

impl HostPlan {
    /// The plan without its critical steps: what the normal executor runs. Edges from other
    /// steps to a critical step are dropped: until its turn, the old critical container keeps
    /// running, and that is what a dependent sees.
    pub fn without_critical(&self) -> HostPlan {
        HostPlan {
            steps: retain(self.steps.clone(), |s| !s.critical),
            ..self.clone()
        }
    }

    /// Whether the plan has steps to run with a watchdog.
    pub fn has_critical(&self) -> bool {
        self.steps.iter().any(|s| s.critical)
    }

    /// This host's critical steps in the order to run them, one at a time: dependencies among
    /// them first (a topological order of their `after` edges), otherwise plan order.
    pub fn critical_steps(&self) -> Vec<&Step> {
        let crit: Vec<&Step> = self.steps.iter().filter(|s| s.critical).collect();
        let ids: BTreeSet<StepId> = crit.iter().map(|s| s.id).collect();
        let mut done: BTreeSet<StepId> = BTreeSet::new();
        let mut out = Vec::with_capacity(crit.len());
        while out.len() < crit.len() {
            let next = crit.iter().find(|s| {
                !done.contains(&s.id) && s.after.iter().all(|(d, _)| !ids.contains(d) || done.contains(d))
            });
            // A cycle cannot come out of the planner; take plan order rather than loop.
            let Some(s) = next.or_else(|| crit.iter().find(|s| !done.contains(&s.id))) else {
                break;
            };
            done.insert(s.id);
            out.push(*s);
        }
        out
    }
}

/// Every critical step of the fleet in the order to run them, one at a time: hosts that sit
/// deeper behind other hosts first (`depth`, from [`crate::desired::Management::reach_depth`]),
/// so a host's own path resources change while the path to it is still known to work; then by
/// host name; then each host's [`HostPlan::critical_steps`] order.
pub fn fleet_sequence<'a>(
    plans: &'a [HostPlan],
    depth: &BTreeMap<String, usize>,
) -> Vec<(&'a HostPlan, &'a Step)> {
    let mut hosts: Vec<&HostPlan> = plans.iter().filter(|p| p.has_critical()).collect();
    hosts.sort_by(|a, b| {
        let (da, db) = (
            depth.get(&a.host).copied().unwrap_or(0),
            depth.get(&b.host).copied().unwrap_or(0),
        );
        db.cmp(&da).then_with(|| a.host.cmp(&b.host))
    });
    hosts
        .into_iter()
        .flat_map(|p| p.critical_steps().into_iter().map(move |s| (p, s)))
        .collect()
}

#[cfg(test)]
#[path = "critical_tests.rs"]
mod tests;
