//! Health waits as requeues. A pass runs the steps it can; a step that must wait for a
//! container to become healthy (or to complete) is deferred to a later pass instead of being
//! waited for inside this one, so a slow healthcheck never holds one of the host's reconcile
//! slots. The later pass reads the container's health from the host's view (kept by its
//! `health_status` events) and runs the step once the condition holds. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    desired::{ContainerSpec, DependsCondition},
    observed::{ContainerState, Health, ObservedHost},
    plan::{Action, Gate, HostPlan, Step, StepId},
};

/// `plan` without the steps that must wait for a health or completion condition (and the
/// steps after them), and what they wait for; `None` when nothing waits. `containers`: every
/// container of the desired host.
pub fn defer_waits<'a>(
    plan: &HostPlan,
    containers: impl IntoIterator<Item = &'a ContainerSpec>,
    observed: &ObservedHost,
) -> (HostPlan, Option<String>) {
    let specs: BTreeMap<&str, &ContainerSpec> =
        containers.into_iter().map(|c| (c.name.as_str(), c)).collect();
    let in_plan: BTreeSet<&str> = plan.steps.iter().map(|s| s.action.object()).collect();
    let mut deferred: BTreeSet<StepId> = BTreeSet::new();
    let mut why: Vec<String> = Vec::new();
    for s in &plan.steps {
        // A gate on a step of this pass that only time can open.
        let gated = s.after.iter().find(|(dep, gate)| {
            matches!(gate, Gate::Healthy | Gate::CompletedSuccessfully)
                || (*gate == Gate::Ready
                    && plan
                        .steps
                        .get(*dep)
                        .and_then(|d| specs.get(d.action.object()))
                        .is_some_and(|c| c.healthcheck.is_some()))
        });
        if let Some((dep, gate)) = gated {
            deferred.insert(s.id);
            if let Some(d) = plan.steps.get(*dep) {
                why.push(format!("{} to be {}", d.action.object(), gate_word(*gate)));
            }
            continue;
        }
        // A `depends_on` container that this pass does not touch, not there yet.
        let Some(spec) = starts(&s.action).and_then(|n| specs.get(n)) else {
            continue;
        };
        for dep in &spec.depends_on {
            let Some(dep_spec) = specs
                .values()
                .find(|c| c.stack == spec.stack && c.service == dep.service)
            else {
                continue;
            };
            if in_plan.contains(dep_spec.name.as_str()) {
                continue;
            }
            if let Some(wait) = unmet(observed, dep_spec, dep.condition) {
                deferred.insert(s.id);
                why.push(wait);
            }
        }
    }
    if deferred.is_empty() {
        return (plan.clone(), None);
    }
    // Whatever comes after a deferred step waits too.
    loop {
        let more: Vec<StepId> = plan
            .steps
            .iter()
            .filter(|s| !deferred.contains(&s.id) && s.after.iter().any(|(d, _)| deferred.contains(d)))
            .map(|s| s.id)
            .collect();
        if more.is_empty() {
            break;
        }
        deferred.extend(more);
    }
    why.sort();
    why.dedup();
    (
        retain(plan, |s| !deferred.contains(&s.id)),
        Some(format!("waiting for {}", why.join(", "))),
    )
}

/// The container a step creates or starts.
fn starts(action: &Action) -> Option<&str> {
    match action {
        Action::CreateContainer { .. } | Action::ReplaceContainer { .. } | Action::StartContainer { .. } => {
            Some(action.object())
        }
        _ => None,
    }
}

fn gate_word(gate: Gate) -> &'static str {
    match gate {
        Gate::CompletedSuccessfully => "completed successfully",
        Gate::Done | Gate::Started => "started",
        Gate::Healthy | Gate::Ready => "healthy",
    }
}

/// What `condition` on the container of `dep` still waits for in `observed`, if anything.
fn unmet(observed: &ObservedHost, dep: &ContainerSpec, condition: DependsCondition) -> Option<String> {
    let c = observed.containers.iter().find(|c| c.name == dep.name);
    let running = c.is_some_and(|c| c.state == ContainerState::Running);
    let met = match condition {
        DependsCondition::Started => c.is_some_and(|c| c.state != ContainerState::Created),
        DependsCondition::Healthy if dep.healthcheck.is_none() => running,
        DependsCondition::Healthy => running && c.is_some_and(|c| c.health == Some(Health::Healthy)),
        DependsCondition::CompletedSuccessfully => {
            c.is_some_and(|c| c.state == ContainerState::Exited && c.exit_code == Some(0))
        }
    };
    let word = match condition {
        DependsCondition::Started => "started",
        DependsCondition::Healthy => "healthy",
        DependsCondition::CompletedSuccessfully => "completed successfully",
    };
    (!met).then(|| format!("{} to be {word}", dep.name))
}

/// The steps of `plan` that `keep` keeps, renumbered, with their edges among them.
fn retain(plan: &HostPlan, keep: impl Fn(&Step) -> bool) -> HostPlan {
    let kept: Vec<&Step> = plan.steps.iter().filter(|s| keep(s)).collect();
    let new_id: BTreeMap<StepId, StepId> = kept.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    HostPlan {
        steps: kept
            .iter()
            .map(|s| Step {
                id: new_id[&s.id],
                after: s
                    .after
                    .iter()
                    .filter_map(|(d, g)| new_id.get(d).map(|n| (*n, *g)))
                    .collect(),
                ..(*s).clone()
            })
            .collect(),
        ..plan.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        desired::{DependsOn, Kind, ResourceRef},
        observed::ObservedContainer,
    };

    fn spec(
        name: &str,
        service: &str,
        healthcheck: bool,
        depends: &[(&str, DependsCondition)],
    ) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            stack: "s".into(),
            service: service.into(),
            healthcheck: healthcheck.then(|| crate::desired::Healthcheck {
                test: vec!["CMD".into(), "true".into()],
                interval: None,
                timeout: None,
                retries: None,
                start_period: None,
                start_interval: None,
            }),
            depends_on: depends
                .iter()
                .map(|(svc, condition)| DependsOn {
                    service: (*svc).into(),
                    condition: *condition,
                    required: true,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn create(id: StepId, c: &ContainerSpec, after: Vec<(StepId, Gate)>) -> Step {
        Step {
            id,
            resource: ResourceRef::new(Kind::Stack, "s"),
            action: Action::CreateContainer {
                spec: Box::new(c.clone()),
                hash: "h".into(),
                spec_json: String::new(),
            },
            after,
            critical: false,
        }
    }

    fn observed(name: &str, state: ContainerState, health: Option<Health>) -> ObservedContainer {
        ObservedContainer {
            id: name.into(),
            name: name.into(),
            labels: Default::default(),
            state,
            health,
            exit_code: None,
            image_id: String::new(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn a_step_gated_on_health_in_this_pass_is_deferred_with_what_follows_it() {
        let db = spec("db", "db", true, &[]);
        let web = spec("web", "web", false, &[("db", DependsCondition::Healthy)]);
        let edge = spec("edge", "edge", false, &[("web", DependsCondition::Started)]);
        let plan = HostPlan {
            steps: vec![
                create(0, &db, vec![]),
                create(1, &web, vec![(0, Gate::Healthy)]),
                create(2, &edge, vec![(1, Gate::Started)]),
            ],
            ..Default::default()
        };
        let (now, waiting) = defer_waits(&plan, &[db, web, edge], &ObservedHost::default());
        assert_eq!(now.steps.len(), 1);
        assert_eq!(now.steps[0].action.object(), "db");
        assert_eq!(waiting.as_deref(), Some("waiting for db to be healthy"));
    }

    #[test]
    fn a_later_pass_runs_the_step_once_the_view_shows_the_dependency_healthy() {
        let db = spec("db", "db", true, &[]);
        let web = spec("web", "web", false, &[("db", DependsCondition::Healthy)]);
        let plan = HostPlan {
            steps: vec![create(0, &web, vec![])],
            ..Default::default()
        };
        let d = [db, web];
        let mut obs = ObservedHost {
            containers: vec![observed("db", ContainerState::Running, Some(Health::Starting))],
            ..Default::default()
        };
        let (now, waiting) = defer_waits(&plan, &d, &obs);
        assert!(now.steps.is_empty());
        assert_eq!(waiting.as_deref(), Some("waiting for db to be healthy"));
        obs.containers[0].health = Some(Health::Healthy);
        let (now, waiting) = defer_waits(&plan, &d, &obs);
        assert_eq!((now.steps.len(), waiting), (1, None));
    }

    #[test]
    fn completion_needs_exit_zero() {
        let job = spec("job", "job", false, &[]);
        let web = spec(
            "web",
            "web",
            false,
            &[("job", DependsCondition::CompletedSuccessfully)],
        );
        let plan = HostPlan {
            steps: vec![create(0, &web, vec![])],
            ..Default::default()
        };
        let d = [job, web];
        let mut done = observed("job", ContainerState::Exited, None);
        done.exit_code = Some(1);
        let mut obs = ObservedHost {
            containers: vec![done],
            ..Default::default()
        };
        assert!(defer_waits(&plan, &d, &obs).1.is_some());
        obs.containers[0].exit_code = Some(0);
        assert!(defer_waits(&plan, &d, &obs).1.is_none());
    }
}
