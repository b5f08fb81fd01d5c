//! Runs a plan's DAG: each step starts once the steps it waits for have finished and their
//! gates (started, healthy, completed) hold. Independent steps run in parallel, at most
//! `parallel` at once. A failed step skips what depends on it; everything else still runs.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use tokio::{sync::Semaphore, task::JoinSet};
use tracing::Instrument as _;

use super::{labels, step, ApplyOptions};
use crate::{
    desired::{ContainerSpec, DesiredHost},
    docker::{wait, DockerHost},
    plan::{Gate, HostPlan, StepId},
};

enum Event {
    Step(StepId, Result<(), String>),
    Gate(StepId, Gate, Result<(), String>),
}

/// Runs every step; returns one message per failed or skipped step.
pub(super) async fn run(
    host: &DockerHost,
    desired: &DesiredHost,
    plan: &HostPlan,
    who: &labels::Ctx,
    opts: &ApplyOptions,
) -> Vec<String> {
    let specs: Arc<BTreeMap<String, ContainerSpec>> = Arc::new(
        desired
            .stacks
            .iter()
            .flat_map(|s| s.containers.iter().map(|c| (c.name.clone(), c.clone())))
            .collect(),
    );
    let sem = Arc::new(Semaphore::new(opts.parallel.max(1)));
    let mut tasks: JoinSet<Event> = JoinSet::new();
    let mut started: BTreeSet<StepId> = BTreeSet::new();
    let mut satisfied: BTreeSet<(StepId, Gate)> = BTreeSet::new();
    let mut gates_started: BTreeSet<(StepId, Gate)> = BTreeSet::new();
    let mut failed: BTreeMap<StepId, String> = BTreeMap::new();
    let mut failed_gates: BTreeSet<(StepId, Gate)> = BTreeSet::new();
    let mut failures = Vec::new();

    loop {
        // Skip steps whose dependencies failed.
        for s in &plan.steps {
            if started.contains(&s.id) || failed.contains_key(&s.id) {
                continue;
            }
            if let Some((dep, _)) = s
                .after
                .iter()
                .find(|dg| failed.contains_key(&dg.0) || failed_gates.contains(dg))
            {
                let why = format!(
                    "{} {}: skipped because {} failed",
                    s.action.verb(),
                    s.action.object(),
                    plan.steps[*dep].action.object()
                );
                failed.insert(s.id, why.clone());
                failures.push(why);
            }
        }
        // Start what is ready.
        for s in &plan.steps {
            if started.contains(&s.id) || failed.contains_key(&s.id) {
                continue;
            }
            if s.after.iter().all(|dg| satisfied.contains(dg)) {
                started.insert(s.id);
                let (h, sem, action, resource, who, specs) = (
                    host.clone(),
                    sem.clone(),
                    s.action.clone(),
                    s.resource.clone(),
                    who.clone(),
                    specs.clone(),
                );
                let id = s.id;
                // A spawned task starts with no span: hand it the reconcile's, so that the
                // step is part of the reconcile's trace and not a trace of its own.
                tasks.spawn(
                    async move {
                        let _permit = sem.acquire().await;
                        let r = step::run(&h, &who, &resource, &action, &specs).await;
                        Event::Step(id, r)
                    }
                    .in_current_span(),
                );
            }
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let event = match joined {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("internal error: a step task ended abnormally: {e}"));
                continue;
            }
        };
        match event {
            Event::Step(id, Ok(())) => {
                satisfied.insert((id, Gate::Done));
                // Start the gate waits dependents need.
                let needed: BTreeSet<Gate> = plan
                    .steps
                    .iter()
                    .flat_map(|s| s.after.iter())
                    .filter(|(d, _)| *d == id)
                    .map(|(_, g)| *g)
                    .collect();
                for gate in needed {
                    if gate == Gate::Done || !gates_started.insert((id, gate)) {
                        continue;
                    }
                    let name = plan.steps[id].action.object().to_string();
                    let has_healthcheck = specs.get(&name).is_some_and(|c| c.healthcheck.is_some());
                    let (h, timeout) = (host.clone(), opts.health_timeout);
                    tasks.spawn(
                        async move {
                            let r = wait_gate(&h, &name, gate, has_healthcheck, timeout).await;
                            Event::Gate(id, gate, r)
                        }
                        .in_current_span(),
                    );
                }
            }
            Event::Step(id, Err(e)) => {
                failed.insert(id, e.clone());
                failures.push(e);
            }
            Event::Gate(id, gate, Ok(())) => {
                satisfied.insert((id, gate));
            }
            Event::Gate(id, gate, Err(e)) => {
                failed_gates.insert((id, gate));
                failures.push(e);
            }
        }
    }
    failures
}

async fn wait_gate(
    host: &DockerHost,
    name: &str,
    gate: Gate,
    has_healthcheck: bool,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let span = tracing::info_span!("health", otel.name = "health.wait", object = name, gate = ?gate);
    let r = match gate {
        Gate::Done | Gate::Started => return Ok(()),
        Gate::Ready if !has_healthcheck => return Ok(()),
        Gate::Healthy | Gate::Ready => {
            wait::wait_healthy(host, name, timeout)
                .instrument(span.clone())
                .await
        }
        Gate::CompletedSuccessfully => {
            wait::wait_exited_ok(host, name, timeout)
                .instrument(span.clone())
                .await
        }
    };
    r.map_err(|e| e.to_string())
        .inspect_err(|e| crate::telemetry::spans::record_error(&span, e))
}
