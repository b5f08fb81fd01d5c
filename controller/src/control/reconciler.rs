//! The reconcile of one key: one resource on one host. Level-triggered: it never knows why it
//! was called, it compares desired with actual state and acts.

use std::{sync::Arc, time::Duration};

use crate::{
    apply::{ApplyError, ApplyOptions},
    desired::{Kind, ResourceRef},
    labels,
    observed::{ContainerState, Health, ObservedHost},
    plan::Action as PlanAction,
    runtime::{Action, Reconciler},
    status::{
        reason, ConditionStatus, ConditionType, EventReason, EventType, InventoryItem, InventoryKind,
        StatusKey, StatusStore,
    },
    telemetry::metrics::Metrics,
};

use super::{
    critical::Critical,
    hosts::Pool,
    pass::{Outcome, Pass},
    pulls::Pulls,
    snapshot::Shared,
    view::Views,
};

/// How soon to look again at a resource that is converged but not Ready yet (a container
/// starting, restarting or unhealthy), so its status follows reality.
const NOT_READY_RECHECK: Duration = Duration::from_secs(5);
/// How soon to retry a resource whose `dependsOn` is not Ready.
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(3);
/// How soon to look again at a resource waiting for its image's pull, or for another key's
/// network step.
const WAITING_RECHECK: Duration = Duration::from_secs(1);

pub struct AegisReconciler {
    snapshot: Shared,
    store: StatusStore,
    pool: Pool,
    views: Views,
    pulls: Pulls,
    opts: ApplyOptions,
    metrics: Metrics,
    /// Commit-confirmed changes of critical resources; without it they are refused.
    critical: Option<Critical>,
}

impl AegisReconciler {
    pub fn new(snapshot: Shared, store: StatusStore, pool: Pool, views: Views, opts: ApplyOptions) -> Self {
        Self {
            snapshot,
            store,
            pool,
            views,
            pulls: Pulls::default(),
            opts,
            metrics: Metrics::default(),
            critical: None,
        }
    }

    /// Runs critical changes through `critical` (gate, fleet-wide turn, commit-confirmed).
    #[must_use]
    pub(super) fn with_critical(mut self, critical: Critical) -> Self {
        self.critical = Some(critical);
        self
    }

    /// `key`'s pass of `revision` converged or failed: a critical change may be waiting for it.
    fn settled(&self, key: &StatusKey, revision: &str) {
        if let Some(c) = &self.critical {
            c.gate.settled(key, revision);
        }
    }

    /// Counts drift repairs into `metrics` (by default into a registry nobody serves).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}

impl Reconciler for AegisReconciler {
    type Key = StatusKey;
    type Error = String;

    fn group(&self, key: &StatusKey) -> String {
        key.host.clone()
    }

    async fn reconcile(&self, key: StatusKey) -> Result<Action, String> {
        let Some(snap) = self.snapshot.get() else {
            return Ok(Action::Requeue(Duration::from_secs(1)));
        };
        // The runtime's `reconcile` span is the root of this reconcile's trace.
        crate::telemetry::spans::annotate_reconcile(&tracing::Span::current(), &key, snap.revision());
        let revision = snap.revision().to_string();
        if self.store.get(&key).is_some_and(|s| s.suspended) {
            self.settled(&key, &revision);
            return Ok(Action::AwaitChange);
        }
        let r = self.reconcile_in(key.clone(), snap).await;
        // A key waiting for a dependency settles only as its dependency allows (below).
        if !matches!(r, Ok(Action::Requeue(d)) if d == DEPENDENCY_RECHECK) {
            self.settled(&key, &revision);
        }
        r
    }
}

impl AegisReconciler {
    async fn reconcile_in(&self, key: StatusKey, snap: Arc<super::Snapshot>) -> Result<Action, String> {
        let Some(desired) = snap.host(&key.host) else {
            // The host itself left the desired state: nothing to reach it with.
            self.store.remove(&key);
            return Ok(Action::AwaitChange);
        };
        let host = match self.pool.get(&desired.host).await {
            Ok(h) => h,
            Err(e) => {
                self.pool.invalidate(&key.host);
                let msg = e.to_string();
                self.fail(&key, reason::HOST_UNREACHABLE, &msg, false);
                return Err(msg);
            }
        };
        let in_desired = snap.keys.contains(&key);
        match key.kind {
            Kind::Host => {
                let r = crate::docker::events::ping(&host).await;
                return match r {
                    Ok(()) => {
                        self.store
                            .update(&key, |s| s.mark_succeeded(snap.revision(), Vec::new(), false));
                        Ok(Action::AwaitChange)
                    }
                    Err(e) => {
                        self.pool.invalidate(&key.host);
                        self.fail(&key, reason::HOST_UNREACHABLE, &e.to_string(), false);
                        Err(e.to_string())
                    }
                };
            }
            // A Policy is checked when the revision is accepted; it has no key to reconcile.
            Kind::Policy => return Ok(Action::AwaitChange),
            // DnsGuards and TunnelClients are container groups, applied like Stacks
            // (their particulars: [`super::agents`]).
            Kind::Network | Kind::Stack | Kind::DnsGuard | Kind::TunnelClient => {}
        }
        if in_desired {
            if let Some((waiting, dep)) = self.unready_dependency(&snap, &key) {
                if let Some(c) = &self.critical {
                    c.waiting_on(&key, &dep, &snap);
                }
                self.store.update(&key, |s| {
                    s.set_condition(
                        ConditionType::Ready,
                        ConditionStatus::False,
                        "DependencyNotReady",
                        waiting.clone(),
                    );
                    s.mark_reconciling(waiting.clone());
                });
                return Ok(Action::Requeue(DEPENDENCY_RECHECK));
            }
            match super::agents::before_apply(&host, &snap, &key).await {
                Ok(None) => {}
                Ok(Some(wait)) => {
                    self.store.update(&key, |s| {
                        s.set_condition(
                            ConditionType::Ready,
                            ConditionStatus::False,
                            wait.reason,
                            wait.message.clone(),
                        );
                        s.mark_reconciling(wait.message.clone());
                    });
                    return Ok(Action::Requeue(DEPENDENCY_RECHECK));
                }
                Err(e) => {
                    self.fail(&key, reason::RECONCILIATION_FAILED, &e, false);
                    return Err(e);
                }
            }
        }
        let resource = ResourceRef::new(key.kind, &key.name);
        let view = self.views.of(&key.host);
        let pass = Pass {
            host: &host,
            view: &view,
            pulls: &self.pulls,
            key: &key,
            desired,
            resource: &resource,
            revision: snap.revision(),
            opts: &self.opts,
        };
        match pass.run().await {
            Ok(Outcome::Waiting(why)) => {
                // Not a failure: the pass goes on once the pull or the other key's step is
                // done. Ready stays what it was.
                self.store.update(&key, |s| s.mark_reconciling(why.clone()));
                Ok(Action::Requeue(WAITING_RECHECK))
            }
            // The pass ran every other step; the critical ones go through the gate, one at a
            // time across the fleet, commit-confirmed.
            Ok(Outcome::Done(report, _)) if Critical::needed(&report.plan, &resource) => match &self.critical
            {
                Some(c) => c.reconcile(&key, &snap, desired, &host, &report.plan).await,
                None => {
                    let msg = "critical change refused: this reconciler has no confirm key".to_string();
                    self.fail(&key, reason::RECONCILIATION_FAILED, &msg, true);
                    Err(msg)
                }
            },
            Ok(Outcome::Done(report, waiting)) => {
                if !in_desired {
                    // Its objects are pruned; the key goes away with them.
                    self.store.remove(&key);
                    return Ok(Action::AwaitChange);
                }
                let inventory = inventory(&report.observed, desired, &resource, &self.opts.plan.instance);
                let changed = !report.plan.is_noop();
                let revision = snap.revision().to_string();
                // What a DnsGuard's agent or a tunnel says (see [`super::agents`]).
                let readback = super::agents::read_back(
                    &host,
                    &snap,
                    &key,
                    &report.observed,
                    self.store.get(&key).as_ref(),
                )
                .await;
                let mut repaired = 0;
                let mut agent_tier = None;
                let ready = self.store.update(&key, |s| {
                    let drift = s.observed_revision.as_deref() == Some(revision.as_str());
                    for step in &report.plan.steps {
                        let (reason, verb) = match (&step.action, drift) {
                            (PlanAction::RemoveContainer { .. } | PlanAction::RemoveNetwork { .. }, _)
                            | (PlanAction::RemoveVolume { .. }, _) => (EventReason::Pruned, "pruned"),
                            (_, true) => {
                                repaired += 1;
                                (EventReason::DriftRepaired, "repaired")
                            }
                            (
                                PlanAction::ReplaceContainer { .. } | PlanAction::RecreateNetwork { .. },
                                false,
                            ) => (EventReason::Recreated, "recreated"),
                            (PlanAction::StartContainer { .. }, false) => (EventReason::Started, "started"),
                            _ => (EventReason::Created, "created"),
                        };
                        let message = format!("{verb} {}", step.action.object());
                        tracing::info!("{message}");
                        s.record_event(EventType::Normal, reason, message);
                    }
                    s.labels = snap.manifest(&key).map(manifest_labels).unwrap_or_default();
                    if let Some(why) = &waiting {
                        // Some steps wait for a container's health: a later pass runs them.
                        s.mark_reconciling(why.clone());
                        return false;
                    }
                    s.mark_succeeded(&revision, inventory, changed);
                    if let Some(r) = &readback {
                        agent_tier = r.record(s);
                    }
                    s.ready() == ConditionStatus::True
                });
                if let Some(tier) = agent_tier.and_then(super::agent_rules::tier_label) {
                    self.metrics.dnsguard_action(&key.name, tier);
                }
                if repaired > 0 {
                    self.metrics
                        .drift_repaired(&key.host, key.kind.as_str(), &key.name, repaired);
                }
                // A DnsGuard's agent and a tunnel change without Docker events: look again.
                Ok(match readback.map(|r| r.follow_up) {
                    _ if waiting.is_some() => Action::Requeue(WAITING_RECHECK),
                    Some(after) => Action::Requeue(if ready {
                        after
                    } else {
                        after.min(NOT_READY_RECHECK)
                    }),
                    None if ready => Action::AwaitChange,
                    None => Action::Requeue(NOT_READY_RECHECK),
                })
            }
            Err(e) => {
                let (why, stalled) = match &e {
                    ApplyError::Blocked { .. } => (reason::RECONCILIATION_FAILED, true),
                    ApplyError::Docker(crate::docker::DockerError::Connect { .. }) => {
                        self.pool.invalidate(&key.host);
                        (reason::HOST_UNREACHABLE, false)
                    }
                    _ => (reason::RECONCILIATION_FAILED, false),
                };
                let msg = e.to_string();
                self.fail(&key, why, &msg, stalled);
                Err(msg)
            }
        }
    }

    fn fail(&self, key: &StatusKey, why: &str, msg: &str, stalled: bool) {
        self.store.update(key, |s| s.mark_failed(why, msg, stalled));
    }

    /// The first `dependsOn` resource of a Stack, DnsGuard or TunnelClient that is not Ready,
    /// as a message, and its key.
    fn unready_dependency(&self, snap: &super::Snapshot, key: &StatusKey) -> Option<(String, StatusKey)> {
        let desired = snap.host(&key.host)?;
        let stack = desired
            .stacks
            .iter()
            .find(|s| s.kind == key.kind && s.name == key.name)?;
        stack.depends_on.iter().find_map(|dep| {
            let dep_key = snap.find(dep.kind, &dep.name)?;
            let ready = self
                .store
                .get(dep_key)
                .is_some_and(|s| s.ready() == ConditionStatus::True);
            (!ready).then(|| (format!("waiting for {dep} to be Ready"), dep_key.clone()))
        })
    }
}

fn manifest_labels(m: &crate::manifest::AnyManifest) -> std::collections::BTreeMap<String, String> {
    use crate::manifest::AnyManifest as M;
    match m {
        M::Host(x) => x.metadata.labels.clone(),
        M::Network(x) => x.metadata.labels.clone(),
        M::Stack(x) => x.metadata.labels.clone(),
        M::DnsGuard(x) => x.metadata.labels.clone(),
        M::TunnelClient(x) => x.metadata.labels.clone(),
        M::Policy(x) => x.metadata.labels.clone(),
    }
}

/// The Docker objects of `resource` on the host, as the status shows them.
fn inventory(
    observed: &ObservedHost,
    desired: &crate::desired::DesiredHost,
    resource: &ResourceRef,
    instance: &str,
) -> Vec<InventoryItem> {
    let host = desired.host.name.as_str();
    let label = resource.to_string();
    let spec_of = |name: &str| {
        desired
            .stacks
            .iter()
            .flat_map(|s| &s.containers)
            .find(|c| c.name == name)
    };
    let mine = |l: &std::collections::BTreeMap<String, String>| {
        labels::owned_by(l, host, instance) && l.get(labels::RESOURCE) == Some(&label)
    };
    let mut items: Vec<InventoryItem> = observed
        .containers
        .iter()
        .filter(|c| mine(&c.labels) && !c.labels.contains_key(labels::HELPER))
        .map(|c| {
            let finished = spec_of(&c.name).is_some_and(|s| crate::plan::is_finished_job(s, c));
            let state = match (c.state, c.exit_code) {
                _ if finished => "completed".to_string(),
                (ContainerState::Exited, Some(code)) => format!("exited ({code})"),
                (s, _) => format!("{s:?}").to_lowercase(),
            };
            let health = c.health.map(|h| match h {
                Health::Healthy => "healthy",
                Health::Unhealthy => "unhealthy",
                Health::Starting => "starting",
            });
            InventoryItem::container(&c.name, state, health)
        })
        .collect();
    items.extend(
        observed
            .networks
            .iter()
            .filter(|n| mine(&n.labels))
            .map(|n| InventoryItem {
                kind: InventoryKind::Network,
                name: n.name.clone(),
                state: "present".into(),
                health: None,
            }),
    );
    items.sort_by(|a, b| (a.kind as u8, &a.name).cmp(&(b.kind as u8, &b.name)));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        control::snapshot::Snapshot,
        status::{StatusKey, StatusStore},
    };

    /// A reconcile that waits on Docker must not leave its span entered on the thread: the
    /// next task polled there (the event watcher, another host's reconcile) would log and
    /// trace inside it. Regression: `span.enter()` held across `.await`.
    #[tokio::test(flavor = "current_thread")]
    async fn a_waiting_reconcile_does_not_leak_its_span_into_other_tasks() {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
        // An "engine" that accepts connections and never answers: connect() waits in the
        // version negotiation.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = silent.local_addr().expect("addr").port();
        let dir = tempfile::tempdir().expect("tempdir");
        let head = "apiVersion: aegis.dev/v1alpha1";
        std::fs::write(
            dir.path().join("a.yaml"),
            format!(
                "{head}\nkind: Host\nmetadata: {{name: h}}\nspec:\n  endpoint: tcp://127.0.0.1:{port}\n---\n\
                 {head}\nkind: Stack\nmetadata: {{name: s}}\nspec:\n  host: h\n  services:\n    web: {{image: busybox:1.36}}\n"
            ),
        )
        .expect("write");
        let resolved = crate::resolve::load_source(dir.path()).expect("valid source");
        let snapshot = Shared::default();
        snapshot.set(Snapshot::new(resolved));
        let r = AegisReconciler::new(
            snapshot,
            StatusStore::in_memory(),
            Pool::default(),
            Views::default(),
            ApplyOptions::default(),
        );
        let task = tokio::spawn(async move { r.reconcile(StatusKey::new(Kind::Stack, "h", "s")).await });
        // The reconcile has connected (observed, not waited for): it is now parked inside its
        // span, waiting for an answer that never comes, while this task runs.
        let (_held, _) = tokio::time::timeout(Duration::from_secs(30), silent.accept())
            .await
            .expect("the reconcile never connected")
            .expect("accept");
        assert!(
            !task.is_finished(),
            "the reconcile should be waiting on the silent engine"
        );
        let current = tracing::Span::current();
        task.abort();
        assert!(
            current.is_none(),
            "another task runs inside the reconcile's span: {:?}",
            current.metadata().map(|m| m.name())
        );
    }
}
