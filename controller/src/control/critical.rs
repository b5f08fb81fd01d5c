//! The control loop's commit-confirmed changes: what a reconcile does with a resource whose
//! plan has critical steps ([`crate::plan::critical`]), or that a rollback watchdog holds.
//!
//! - The non-critical steps of the resource have run already (the normal pass leaves the
//!   critical ones out). A critical step whose spec was rolled back before is **refused**
//!   (the status keeps `Stalled`/`RolledBack` with the failed hash) until a new revision
//!   changes the container: no flapping.
//! - The others wait for the [`CriticalGate`] (every non-critical change of the revision
//!   settled, recovery done), then take the fleet-wide turn, plan the resource again, and run
//!   each critical step through [`critical_last::run_step`] with the controller's persistent
//!   [`ConfirmKey`] (`<state dir>/rollback.key`), so that a restarted controller, or a new
//!   controller container replacing this one, can still confirm.
//! - Outcomes go to the status: a confirm is an event; a rollback stalls the resource
//!   (reason `RolledBack`), counts in `aegis_rollbacks_total`, and fails the reconcile.
//! - Attempts left in flight (by an earlier controller, or pending behind an unreachable host)
//!   are ended by [`recovery::recover_host`]: at start for every host ([`Critical::recover_all`]),
//!   and again whenever a plan shows a resource held by an attempt.

use std::{collections::BTreeMap, time::Duration};

use super::{
    critical_gate::{CriticalGate, Gate},
    snapshot::Snapshot,
};
use crate::{
    agent::rollback::ConfirmKey,
    apply::{
        self,
        confirmed::Outcome,
        critical_last,
        reach::HostCheck,
        recovery::{self, Recovered},
        ApplyOptions,
    },
    desired::{DesiredHost, DesiredState, HostSpec, ResourceRef},
    docker::DockerHost,
    plan::{critical::HoldReason, Action as PlanAction, HostPlan, Step},
    runtime::Action,
    status::{reason, EventReason, EventType, RolledBackSpec, StatusKey, StatusStore},
    telemetry::metrics::Metrics,
};

/// How soon a critical key that waits for the gate looks again.
const GATE_RECHECK: Duration = Duration::from_secs(1);
/// How soon a resource looks again after its attempt was recovered.
const AFTER_RECOVERY: Duration = Duration::from_millis(200);
/// How long recovery at start may take to connect to one host.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(super) struct Critical {
    pub gate: CriticalGate,
    pub(super) key: ConfirmKey,
    pub(super) store: StatusStore,
    pub(super) metrics: Metrics,
    pub(super) opts: ApplyOptions,
}

impl Critical {
    pub fn new(key: ConfirmKey, store: StatusStore, opts: ApplyOptions, metrics: Metrics) -> Self {
        Self {
            gate: CriticalGate::default(),
            key,
            store,
            metrics,
            opts,
        }
    }

    /// Whether a resource's pass goes through [`Critical::reconcile`].
    pub fn needed(plan: &HostPlan, resource: &ResourceRef) -> bool {
        plan.has_critical() || held_by_attempt(plan, resource)
    }

    /// `key` waits for its dependency `dep` to be Ready. Waiting for a critical resource, or
    /// for one that has settled, it can do no more in this revision: it counts as settled, so
    /// that it never holds back the revision's critical changes (which may be what it waits
    /// for).
    pub fn waiting_on(&self, key: &StatusKey, dep: &StatusKey, snap: &Snapshot) {
        let revision = snap.revision();
        let dep_critical = snap
            .resolved
            .state
            .management
            .is_critical(&ResourceRef::new(dep.kind, &dep.name));
        if dep_critical || self.gate.is_settled(dep, revision) {
            self.gate.settled(key, revision);
        }
    }

    /// The critical part of one resource's pass (see the module doc). `plan` is the pass's
    /// plan of the resource; `host` the pooled connection.
    pub async fn reconcile(
        &self,
        key: &StatusKey,
        snap: &Snapshot,
        desired: &DesiredHost,
        host: &DockerHost,
        plan: &HostPlan,
    ) -> Result<Action, String> {
        let resource = ResourceRef::new(key.kind, &key.name);
        let revision = snap.revision();
        let wanted = wanted_hashes(plan);
        self.store.update(key, |s| {
            s.forget_changed_rollbacks(|c| wanted.get(c).cloned());
        });
        if held_by_attempt(plan, &resource) {
            let _turn = self.gate.turn().await;
            self.recover(&snap.resolved.state, host, &desired.host).await?;
            return Ok(Action::Requeue(AFTER_RECOVERY));
        }
        if self.runnable(key, plan).is_empty() {
            // Only refused specs: the status says RolledBack until the source changes them.
            return Ok(Action::AwaitChange);
        }
        let critical = |k: &StatusKey| {
            snap.resolved
                .state
                .management
                .is_critical(&ResourceRef::new(k.kind, &k.name))
        };
        let gate = self.gate.check(revision, &snap.keys, critical);
        if gate != Gate::Open {
            let msg = gate.message(revision);
            self.store.update(key, |s| s.mark_reconciling(msg.clone()));
            return Ok(Action::Requeue(GATE_RECHECK));
        }
        let _turn = self.gate.turn().await;
        // Planned again under the turn: the attempt before this one changed the fleet.
        let observed = crate::docker::observe(host).await.map_err(|e| e.to_string())?;
        let (_, fresh) = apply::plan_resource(desired, &observed, &resource, &self.opts.plan);
        if !fresh.errors.is_empty() {
            return Err(fresh.error_messages().join("\n"));
        }
        for step in self.runnable(key, &fresh) {
            let what = format!("{} {}", step.action.verb(), step.action.object());
            self.attempt_started(key, &what, format!("commit-confirmed {what} started"), true);
            let r =
                critical_last::run_step(&snap.resolved.state, desired, &self.opts, &self.key, &step).await;
            let line = r.to_string();
            self.record(key, revision, &r.object, r.result, &line)?;
        }
        // A normal pass records the converged state.
        Ok(Action::Requeue(Duration::ZERO))
    }

    /// The critical steps of `plan` not refused by an earlier rollback, in run order.
    fn runnable(&self, key: &StatusKey, plan: &HostPlan) -> Vec<Step> {
        let status = self.store.get(key);
        plan.critical_steps()
            .into_iter()
            .filter(|s| {
                let (container, hash) = step_spec(s);
                status
                    .as_ref()
                    .and_then(|st| st.refused_spec(&container, &hash))
                    .is_none()
            })
            .cloned()
            .collect()
    }

    /// Records that a commit-confirmed attempt, `what`, starts: a log line and a `Confirming`
    /// event saying `event`; with `reconciling`, the Ready condition says so too.
    pub(super) fn attempt_started(&self, key: &StatusKey, what: &str, event: String, reconciling: bool) {
        tracing::info!(resource = %key, "commit-confirmed {what}: starting");
        self.store.update(key, |s| {
            s.record_event(EventType::Normal, EventReason::Confirming, event);
            if reconciling {
                s.mark_reconciling(format!("commit-confirmed {what}"));
            }
        });
    }

    /// Puts one attempt's outcome into the status; `Err` for anything but a confirm.
    fn record(
        &self,
        key: &StatusKey,
        revision: &str,
        container: &str,
        result: Result<Outcome, String>,
        line: &str,
    ) -> Result<(), String> {
        match result {
            Ok(Outcome::Confirmed { .. }) => {
                tracing::info!(resource = %key, "{line}");
                self.store.update(key, |s| {
                    s.forget_rollback_of(container);
                    s.record_event(EventType::Normal, EventReason::Confirmed, line);
                });
                Ok(())
            }
            Ok(
                Outcome::RolledBack {
                    attempt,
                    failed_spec_hash,
                    ..
                }
                | Outcome::RollbackFailed {
                    attempt,
                    failed_spec_hash,
                    ..
                },
            ) => {
                tracing::warn!(resource = %key, "{line}");
                self.metrics.rolled_back(&key.host);
                let spec = RolledBackSpec {
                    container: container.to_string(),
                    // A removal has no new spec.
                    spec_hash: if failed_spec_hash.is_empty() {
                        REMOVAL.to_string()
                    } else {
                        failed_spec_hash
                    },
                    attempt,
                    revision: revision.to_string(),
                };
                self.store.update(key, |s| s.mark_rolled_back(spec, line));
                Err(line.to_string())
            }
            Ok(Outcome::Pending { .. }) => {
                tracing::warn!(resource = %key, "{line}");
                self.store
                    .update(key, |s| s.mark_failed(reason::HOST_UNREACHABLE, line, false));
                Err(line.to_string())
            }
            Err(_) => {
                tracing::warn!(resource = %key, "{line}");
                self.store
                    .update(key, |s| s.mark_failed(reason::RECONCILIATION_FAILED, line, false));
                Err(line.to_string())
            }
        }
    }

    /// Ends the attempts on one host ([`recovery::recover_host`]) and records their outcomes.
    /// The caller holds the turn.
    async fn recover(&self, state: &DesiredState, host: &DockerHost, spec: &HostSpec) -> Result<(), String> {
        let others = |r: &ResourceRef| checks_of_others(state, r, &spec.name);
        let home = check_of(state, spec);
        let found = recovery::recover_host(host, &home, &others, &self.opts.plan.instance, &self.key)
            .await
            .map_err(|e| e.to_string())?;
        for r in found {
            match r {
                Recovered::Attempt {
                    resource,
                    container,
                    outcome,
                    restart,
                } => {
                    let key = StatusKey::new(resource.kind, &spec.name, &resource.name);
                    let line = format!("{resource} {container} (recovered attempt): {outcome}");
                    if restart {
                        let _ = self.record_restart(&key, &container, Ok(outcome), &line);
                    } else {
                        let _ = self.record(&key, &state.revision, &container, Ok(outcome), &line);
                    }
                }
                other => tracing::warn!(host = %spec.name, "recovery: {other:?}"),
            }
        }
        Ok(())
    }

    /// Recovery at start: every host of `state`, one after another under the turn; then the
    /// gate opens. An unreachable host is skipped (its watchdogs decide alone; its attempts
    /// are recovered when its resources' plans show them).
    pub async fn recover_all(&self, state: &DesiredState) {
        let _turn = self.gate.turn().await;
        for h in &state.hosts {
            let host = match tokio::time::timeout(CONNECT_LIMIT, DockerHost::connect(&h.host)).await {
                Ok(Ok(host)) => host,
                Ok(Err(e)) => {
                    tracing::warn!(host = %h.host.name, "recovery skipped: {e}");
                    continue;
                }
                Err(_) => {
                    tracing::warn!(host = %h.host.name, "recovery skipped: no answer in {CONNECT_LIMIT:?}");
                    continue;
                }
            };
            if let Err(e) = self.recover(state, &host, &h.host).await {
                tracing::warn!(host = %h.host.name, "recovery failed: {e}");
            }
        }
        self.gate.recovered();
        tracing::info!("recovery of interrupted commit-confirmed attempts done");
    }
}

/// What a rolled-back removal records as its spec hash.
const REMOVAL: &str = "removal";

/// The container and spec hash a critical step would put in place.
fn step_spec(s: &Step) -> (String, String) {
    match &s.action {
        PlanAction::ReplaceContainer { spec, hash, .. } => (spec.name.clone(), hash.clone()),
        other => (other.object().to_string(), REMOVAL.to_string()),
    }
}

/// Container → the spec hash the source wants changed to, for the critical steps of `plan`.
fn wanted_hashes(plan: &HostPlan) -> BTreeMap<String, String> {
    plan.critical_steps().into_iter().map(step_spec).collect()
}

/// Whether a rollback watchdog (or the leftovers of one) holds a step of `resource`.
fn held_by_attempt(plan: &HostPlan, resource: &ResourceRef) -> bool {
    plan.held.iter().any(|h| {
        &h.resource == resource
            && matches!(
                h.reason,
                HoldReason::AttemptInFlight { .. } | HoldReason::AttemptLeftover { .. }
            )
    })
}

fn check_of(state: &DesiredState, h: &HostSpec) -> HostCheck {
    HostCheck {
        spec: h.clone(),
        probe: state.management.hosts.get(&h.name).and_then(|a| a.probe.clone()),
    }
}

/// The other hosts whose management path carries `r`.
fn checks_of_others(state: &DesiredState, r: &ResourceRef, home: &str) -> Vec<HostCheck> {
    state
        .management
        .affected_hosts(r)
        .iter()
        .filter(|h| h.as_str() != home)
        .filter_map(|h| state.hosts.iter().find(|d| &d.host.name == h))
        .map(|d| check_of(state, &d.host))
        .collect()
}
