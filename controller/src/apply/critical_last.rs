//! The critical tail of a one-shot pass (`aegis apply`): after every host has run its normal
//! steps (converged or failed), the critical steps of the whole fleet run **one at a time**,
//! in [`crate::plan::critical::fleet_sequence`] order, each commit-confirmed
//! ([`super::confirmed`]). A rollback is a failed step of its host: the pass exits non-zero.
//!
//! The agent image each host needs is put there first ([`crate::agent::image::ensure`]):
//! copied from another engine of the fleet or the controller's local engine when one has it,
//! else built from the running executable.

use std::collections::BTreeMap;

use tracing::Instrument as _;

use super::{
    confirm_span,
    confirmed::{self, ConfirmedChange, NewSpec, OldContainer, Outcome, Timing},
    reach::HostCheck,
    step, ApplyError, ApplyOptions, HostReport,
};
use crate::{
    agent::{
        image::{self, AgentImage},
        rollback::ConfirmKey,
    },
    desired::{
        management::DEFAULT_CONFIRM_TIMEOUT, ContainerSpec, DesiredHost, DesiredState, Endpoint, HostSpec,
        ResourceRef,
    },
    docker::DockerHost,
    plan::{critical, Action, HostPlan, Step},
};

/// What one critical step came to.
#[derive(Debug, Clone)]
pub struct CriticalResult {
    pub resource: ResourceRef,
    /// `recreate` or `prune`.
    pub verb: &'static str,
    pub object: String,
    /// `Err`: the attempt did not start (nothing was changed).
    pub result: Result<Outcome, String>,
}

impl CriticalResult {
    pub fn is_success(&self) -> bool {
        self.result.as_ref().is_ok_and(Outcome::is_success)
    }
}

impl std::fmt::Display for CriticalResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}: ", self.resource, self.verb, self.object)?;
        match &self.result {
            Ok(o) => write!(f, "{o}"),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// Runs the fleet's critical steps (see the module doc) and records each result in its host's
/// report; a failed one turns the host's result into an error.
pub(super) async fn run(
    state: &DesiredState,
    opts: &ApplyOptions,
    results: &mut [Result<HostReport, ApplyError>],
) {
    let plans: Vec<HostPlan> = results
        .iter()
        .filter_map(|r| match r {
            Ok(rep) => Some(rep.plan.clone()),
            Err(ApplyError::Steps { report, .. }) => Some(report.plan.clone()),
            Err(_) => None,
        })
        .collect();
    let seq = critical::fleet_sequence(&plans, &state.management.reach_depth());
    if seq.is_empty() {
        return;
    }
    // Its own root (the hosts' `apply` spans have ended): each attempt's `confirm` span is a
    // child of it.
    let span = tracing::info_span!(parent: None, "apply.critical", aegis.revision = %state.revision);
    run_seq(state, opts, results, seq).instrument(span).await;
}

async fn run_seq(
    state: &DesiredState,
    opts: &ApplyOptions,
    results: &mut [Result<HostReport, ApplyError>],
    seq: Vec<(&HostPlan, &Step)>,
) {
    let key = match ConfirmKey::generate() {
        Ok(k) => k,
        Err(e) => {
            for (plan, step) in &seq {
                record(
                    results,
                    &plan.host,
                    failed(step, format!("no randomness for a confirm key: {e}")),
                );
            }
            return;
        }
    };
    for (plan, step) in seq {
        let Some(desired) = state.hosts.iter().find(|h| h.host.name == plan.host) else {
            continue;
        };
        let r = run_step(state, desired, opts, &key, step).await;
        match &r.result {
            Ok(o) if o.is_success() => tracing::info!(host = %plan.host, "{r}"),
            _ => tracing::warn!(host = %plan.host, "{r}"),
        }
        record(results, &plan.host, r);
    }
}

fn failed(step: &Step, reason: String) -> CriticalResult {
    CriticalResult {
        resource: step.resource.clone(),
        verb: step.action.verb(),
        object: step.action.object().to_string(),
        result: Err(reason),
    }
}

/// One critical step of `desired`'s host, commit-confirmed: the agent image put on the host,
/// the new container prepared, [`confirmed::apply`] run with the checks of every host whose
/// path carries the resource. The unit the control loop's fleet-wide critical sequence runs
/// too (with its persistent `key`, so a restarted controller can still confirm).
pub async fn run_step(
    state: &DesiredState,
    desired: &DesiredHost,
    opts: &ApplyOptions,
    key: &ConfirmKey,
    step: &Step,
) -> CriticalResult {
    let spec_hash = match &step.action {
        Action::ReplaceContainer { hash, .. } => hash.as_str(),
        _ => "",
    };
    let attempt = confirm_span::Attempt {
        host: &desired.host.name,
        resource: &step.resource,
        revision: &state.revision,
        spec_hash,
        verb: step.action.verb(),
        object: step.action.object(),
    };
    confirm_span::traced(&attempt, run_step_in(state, desired, opts, key, step)).await
}

async fn run_step_in(
    state: &DesiredState,
    desired: &DesiredHost,
    opts: &ApplyOptions,
    key: &ConfirmKey,
    step: &Step,
) -> CriticalResult {
    let fail = |reason: String| failed(step, reason);
    let at = match AttemptHost::prepare(state, desired, &step.resource).await {
        Ok(at) => at,
        Err(e) => return fail(e),
    };
    let host = &at.host;
    let (old, new) = match &step.action {
        Action::ReplaceContainer {
            spec,
            hash,
            spec_json,
            old_id,
            ..
        } => {
            let specs: BTreeMap<String, ContainerSpec> = desired
                .stacks
                .iter()
                .flat_map(|s| s.containers.iter().map(|c| (c.name.clone(), c.clone())))
                .collect();
            let who = super::who(desired, &state.revision, opts);
            let (body, extra) =
                match step::prepare(host, &who, &step.resource, hash, spec_json, spec, &specs).await {
                    Ok(p) => p,
                    Err(e) => return fail(e),
                };
            (
                OldContainer {
                    id: old_id.clone(),
                    name: spec.name.clone(),
                    image_id: String::new(),
                },
                Some(NewSpec {
                    body,
                    platform: spec.platform.clone(),
                    extra_networks: extra,
                    files: spec.secret_files.clone(),
                    spec_hash: hash.clone(),
                    has_healthcheck: spec.healthcheck.is_some(),
                }),
            )
        }
        Action::RemoveContainer { name, id, .. } => (
            OldContainer {
                id: id.clone(),
                name: name.clone(),
                image_id: String::new(),
            },
            None,
        ),
        other => return fail(format!("`{}` is not a critical step", other.verb())),
    };
    let change = at.change(key, &step.resource, &opts.plan.instance, old, new, false);
    CriticalResult {
        resource: step.resource.clone(),
        verb: step.action.verb(),
        object: step.action.object().to_string(),
        result: confirmed::apply(&change).await.map_err(|e| e.to_string()),
    }
}

/// What every commit-confirmed attempt on one host needs, whatever it changes: a connection,
/// the agent image on the host, and the checks of every host whose path carries the
/// resource.
pub(super) struct AttemptHost {
    pub host: DockerHost,
    agent_image: String,
    agent_socket: String,
    home: HostCheck,
    others: Vec<HostCheck>,
    timeout: std::time::Duration,
}

impl AttemptHost {
    /// Connects to `desired`'s host and puts the agent image there (copied from another
    /// engine, or built from this executable); `Err` is the reason, and nothing was changed.
    pub async fn prepare(
        state: &DesiredState,
        desired: &DesiredHost,
        resource: &ResourceRef,
    ) -> Result<AttemptHost, String> {
        let host = DockerHost::connect(&desired.host)
            .await
            .map_err(|e| e.to_string())?;
        let access = state
            .management
            .hosts
            .get(&desired.host.name)
            .cloned()
            .unwrap_or_default();
        let built = AgentImage::current();
        let reference = match (&access.agent_image, &built) {
            (Some(r), _) => r.clone(),
            (None, Ok(b)) => b.tag.clone(),
            (None, Err(e)) => return Err(e.to_string()),
        };
        let sources = sources(state, &desired.host.name).await;
        match image::ensure(&host, &reference, built.as_deref().ok(), &sources).await {
            Ok((_, image::Supplied::Present)) => {}
            Ok((_, how)) => {
                tracing::info!(host = %desired.host.name, "agent image `{reference}` put on the host: {how:?}")
            }
            Err(e) => return Err(format!("the agent image: {e}")),
        }
        let check = |h: &HostSpec| HostCheck {
            spec: h.clone(),
            probe: state.management.hosts.get(&h.name).and_then(|a| a.probe.clone()),
        };
        let declared = state.hosts.iter().any(|h| {
            h.stacks
                .iter()
                .any(|s| s.kind == resource.kind && s.name == resource.name)
        });
        let others: Vec<HostCheck> = if declared {
            state
                .management
                .affected_hosts(resource)
                .iter()
                .filter(|h| **h != desired.host.name)
                .filter_map(|h| state.hosts.iter().find(|d| &d.host.name == h))
                .map(|d| check(&d.host))
                .collect()
        } else {
            answering_now(state, &desired.host.name, check).await
        };
        let timeout = state
            .management
            .critical
            .get(resource)
            .map_or(DEFAULT_CONFIRM_TIMEOUT, |c| c.confirm_timeout);
        Ok(AttemptHost {
            host,
            agent_image: reference,
            agent_socket: access.agent_socket.clone(),
            home: check(&desired.host),
            others,
            timeout,
        })
    }

    /// The attempt on `old`: replace it by `new`, remove it (`new` `None`), or restart it.
    pub fn change<'a>(
        &'a self,
        key: &'a ConfirmKey,
        resource: &ResourceRef,
        instance: &str,
        old: OldContainer,
        new: Option<NewSpec>,
        restart: bool,
    ) -> ConfirmedChange<'a> {
        ConfirmedChange {
            host: &self.host,
            home: self.home.clone(),
            others: self.others.clone(),
            resource: resource.clone(),
            instance: instance.to_string(),
            old,
            new,
            restart,
            agent_image: self.agent_image.clone(),
            agent_socket: self.agent_socket.clone(),
            timeout: self.timeout,
            key,
            timing: Timing::for_timeout(self.timeout),
        }
    }
}

/// The checks of a **removal** (the resource left the source): the source no longer says
/// whose management path carried it (the path was edited with it), so every other host that
/// answers right now must still answer after the removal. A host already unreachable does
/// not hold the removal back.
async fn answering_now(
    state: &DesiredState,
    home: &str,
    check: impl Fn(&HostSpec) -> HostCheck,
) -> Vec<HostCheck> {
    let mut out = Vec::new();
    for d in state.hosts.iter().filter(|d| d.host.name != home) {
        let c = check(&d.host);
        match super::reach::check(&c, std::time::Duration::from_secs(5)).await {
            Ok(_) => out.push(c),
            Err(e) => tracing::info!(
                host = %d.host.name,
                "not checked after the removal of a critical container: unreachable before it ({e})"
            ),
        }
    }
    out
}

/// Engines the agent image may be copied from: the other hosts, and the controller's local
/// engine. Unreachable ones are skipped.
async fn sources(state: &DesiredState, except: &str) -> Vec<DockerHost> {
    let local = HostSpec {
        name: "(controller's local engine)".into(),
        endpoint: Endpoint::Default,
        labels: Default::default(),
    };
    let specs = state
        .hosts
        .iter()
        .map(|h| &h.host)
        .filter(|h| h.name != except)
        .chain(std::iter::once(&local));
    let mut out = Vec::new();
    for s in specs {
        if let Ok(Ok(h)) =
            tokio::time::timeout(std::time::Duration::from_secs(5), DockerHost::connect(s)).await
        {
            out.push(h);
        }
    }
    out
}

/// Adds a result to its host's report; a failure makes the host's result an error.
fn record(results: &mut [Result<HostReport, ApplyError>], host: &str, r: CriticalResult) {
    for slot in results.iter_mut() {
        let matches = match slot {
            Ok(rep) => rep.host == host,
            Err(ApplyError::Steps { host: h, .. }) => h == host,
            Err(_) => false,
        };
        if !matches {
            continue;
        }
        let ok = r.is_success();
        let line = r.to_string();
        match slot {
            Ok(rep) => {
                rep.critical.push(r);
                if !ok {
                    let report = rep.clone();
                    *slot = Err(ApplyError::Steps {
                        host: host.to_string(),
                        failures: vec![line],
                        report: Box::new(report),
                    });
                }
            }
            Err(ApplyError::Steps { failures, report, .. }) => {
                report.critical.push(r);
                if !ok {
                    failures.push(line);
                }
            }
            Err(_) => {}
        }
        return;
    }
}
