//! The Prometheus metrics of the controller, served on `/metrics` by the API.
//!
//! Two kinds of families:
//! - **counted as things happen**: reconciles and their durations (fed from the runtime's
//!   outcomes), drift repairs, rollbacks and DnsGuard actions (by their code paths);
//! - **read at scrape time** from a [`ScrapeSource`] (the queue, the status store, the
//!   accepted revision): queue depth, host reachability, each resource's applied revision
//!   and readiness. Reading them when asked keeps them exact without a background task,
//!   and a resource that left the desired state leaves the metrics with it.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `aegis_reconciles_total` | counter | kind, result (`success`/`error`) |
//! | `aegis_reconcile_duration_seconds` | histogram | kind, result |
//! | `aegis_drift_repairs_total` | counter | host, kind, name |
//! | `aegis_queue_depth` | gauge | (keys due and waiting for a slot) |
//! | `aegis_queue_keys` | gauge | state (`ready`/`scheduled`/`running`) |
//! | `aegis_host_up` | gauge | host (1: the engine answered the last check) |
//! | `aegis_source_revision_info` | gauge (info) | revision (the accepted one) |
//! | `aegis_resource_info` | gauge (info) | host, kind, name, revision (last applied) |
//! | `aegis_resource_ready` | gauge | host, kind, name |
//! | `aegis_rollbacks_total` | counter | host |
//! | `aegis_dnsguard_actions_total` | counter | dnsguard, tier |
//! | `aegis_build_info` | gauge (info) | version |
//!
//! A family with no labelled series yet is left out of the exposition (`prometheus-client`
//! writes no `# TYPE` for it), so the series that must read 0 before anything happens are
//! made at scrape time: `aegis_rollbacks_total` per host, `aegis_dnsguard_actions_total`
//! per DnsGuard and tier. Help texts carry no final period: the encoder adds one.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    runtime::QueueStats,
    status::{ConditionStatus, ResourceStatus},
};

/// DnsGuard's four tiers, as the `tier` label spells them.
pub const DNSGUARD_TIERS: [&str; 4] = ["probe", "restore-backup", "relink-resolved", "fallback"];

/// What the scrape-time families are read from.
#[derive(Debug, Clone, Default)]
pub struct ScrapeState {
    pub queue: QueueStats,
    /// The accepted revision, if any.
    pub revision: Option<String>,
    pub resources: Vec<ResourceStatus>,
}

/// Produces a [`ScrapeState`] on each scrape.
pub type ScrapeSource = Arc<dyn Fn() -> ScrapeState + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    host: String,
    kind: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppliedLabels {
    host: String,
    kind: String,
    name: String,
    revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabels {
    revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsGuardLabels {
    dnsguard: String,
    tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

fn duration_histogram() -> Histogram {
    // 5 ms (a no-op pass) doubling to ~160 s (a pull or a slow health gate).
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 16,
    ))
}

/// The registry and its families. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_seconds: Family<ReconcileLabels, Histogram, fn() -> Histogram>,
    drift_repairs: Family<ResourceLabels, Counter>,
    rollbacks: Family<HostLabels, Counter>,
    dnsguard_actions: Family<DnsGuardLabels, Counter>,
    queue_depth: Gauge,
    queue_keys: Family<StateLabels, Gauge>,
    host_up: Family<HostLabels, Gauge>,
    source_revision: Family<RevisionLabels, Gauge>,
    resource_info: Family<AppliedLabels, Gauge>,
    resource_ready: Family<ResourceLabels, Gauge>,
    source: Mutex<Option<ScrapeSource>>,
    /// One scrape at a time: a scrape clears and refills the scrape-time families.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aegis");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_seconds =
            Family::<ReconcileLabels, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        let drift_repairs = Family::<ResourceLabels, Counter>::default();
        let rollbacks = Family::<HostLabels, Counter>::default();
        let dnsguard_actions = Family::<DnsGuardLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let queue_keys = Family::<StateLabels, Gauge>::default();
        let host_up = Family::<HostLabels, Gauge>::default();
        let source_revision = Family::<RevisionLabels, Gauge>::default();
        let resource_info = Family::<AppliedLabels, Gauge>::default();
        let resource_ready = Family::<ResourceLabels, Gauge>::default();
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "reconciles",
            "Reconciles of one resource that finished, by kind and result (success, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Wall time of a reconcile, by kind and result",
            reconcile_seconds.clone(),
        );
        registry.register(
            "drift_repairs",
            "Docker objects put back to their declared state after they drifted at the same revision \
             (removed, stopped or changed by hand)",
            drift_repairs.clone(),
        );
        registry.register(
            "rollbacks",
            "Management-path changes rolled back by the watchdog because the controller did not \
             confirm them",
            rollbacks.clone(),
        );
        registry.register(
            "dnsguard_actions",
            "Actions taken by DnsGuard agents, by tier (probe, restore-backup, relink-resolved, fallback)",
            dnsguard_actions.clone(),
        );
        registry.register(
            "queue_depth",
            "Resources due for a reconcile and waiting for a slot",
            queue_depth.clone(),
        );
        registry.register(
            "queue_keys",
            "Resources in the work queue by state (ready, scheduled, running)",
            queue_keys.clone(),
        );
        registry.register(
            "host_up",
            "1 when the host's Docker engine answered the last check, 0 when it did not",
            host_up.clone(),
        );
        registry.register(
            "source_revision_info",
            "The accepted source revision (always 1)",
            source_revision.clone(),
        );
        registry.register(
            "resource_info",
            "Each resource with the revision it was last applied at (always 1)",
            resource_info.clone(),
        );
        registry.register(
            "resource_ready",
            "1 when the resource's Ready condition is True, else 0",
            resource_ready.clone(),
        );
        registry.register("build_info", "The aegis version (always 1)", build_info);
        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_seconds,
                drift_repairs,
                rollbacks,
                dnsguard_actions,
                queue_depth,
                queue_keys,
                host_up,
                source_revision,
                resource_info,
                resource_ready,
                source: Mutex::new(None),
                scrape: Mutex::new(()),
            }),
        }
    }

    /// Where the scrape-time families come from (the controller sets it once).
    pub fn set_source(&self, source: ScrapeSource) {
        *self.inner.source.lock().unwrap_or_else(PoisonError::into_inner) = Some(source);
    }

    /// One finished reconcile of a resource of `kind`.
    pub fn observe_reconcile(&self, kind: &str, succeeded: bool, duration: Duration) {
        let labels = ReconcileLabels {
            kind: kind.to_string(),
            result: if succeeded { "success" } else { "error" },
        };
        self.inner.reconciles.get_or_create(&labels).inc();
        self.inner
            .reconcile_seconds
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
    }

    /// `objects` Docker objects of `host`/`kind`/`name` were repaired after drifting.
    pub fn drift_repaired(&self, host: &str, kind: &str, name: &str, objects: u64) {
        let labels = ResourceLabels {
            host: host.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        };
        self.inner.drift_repairs.get_or_create(&labels).inc_by(objects);
    }

    /// The rollback watchdog on `host` restored a previous container.
    pub fn rolled_back(&self, host: &str) {
        self.inner
            .rollbacks
            .get_or_create(&HostLabels {
                host: host.to_string(),
            })
            .inc();
    }

    /// The DnsGuard `dnsguard` acted at `tier` (one of [`DNSGUARD_TIERS`]).
    pub fn dnsguard_action(&self, dnsguard: &str, tier: &'static str) {
        self.inner
            .dnsguard_actions
            .get_or_create(&DnsGuardLabels {
                dnsguard: dnsguard.to_string(),
                tier,
            })
            .inc();
    }

    /// The exposition: OpenMetrics text when `openmetrics`, else the Prometheus text format
    /// 0.0.4 (what `promtool check metrics` and older scrapers read).
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let _one = self.inner.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        let source = self
            .inner
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(source) = source {
            self.refresh(&source());
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)?;
        Ok(if openmetrics {
            out
        } else {
            super::metrics_text::to_prometheus_text(&out)
        })
    }

    /// Refills the scrape-time families from `state`.
    fn refresh(&self, state: &ScrapeState) {
        let i = &self.inner;
        i.queue_depth.set(gauge(state.queue.ready));
        for (name, n) in [
            ("ready", state.queue.ready),
            ("scheduled", state.queue.scheduled),
            ("running", state.queue.running),
        ] {
            i.queue_keys
                .get_or_create(&StateLabels { state: name })
                .set(gauge(n));
        }
        i.source_revision.clear();
        if let Some(r) = &state.revision {
            i.source_revision
                .get_or_create(&RevisionLabels { revision: r.clone() })
                .set(1);
        }
        i.host_up.clear();
        i.resource_info.clear();
        i.resource_ready.clear();
        for s in &state.resources {
            let ready = s.ready() == ConditionStatus::True;
            let labels = ResourceLabels {
                host: s.host.clone(),
                kind: s.kind.to_string(),
                name: s.name.clone(),
            };
            i.resource_ready.get_or_create(&labels).set(i64::from(ready));
            if let Some(revision) = &s.observed_revision {
                i.resource_info
                    .get_or_create(&AppliedLabels {
                        host: labels.host.clone(),
                        kind: labels.kind.clone(),
                        name: labels.name.clone(),
                        revision: revision.clone(),
                    })
                    .set(1);
            }
            if s.kind == crate::desired::Kind::Host {
                let host = HostLabels { host: s.name.clone() };
                i.host_up.get_or_create(&host).set(i64::from(ready));
                // Present from the start, so that `increase()` sees the first rollback.
                let _ = i.rollbacks.get_or_create(&host);
            }
            if s.kind == crate::desired::Kind::DnsGuard {
                for tier in DNSGUARD_TIERS {
                    let _ = i.dnsguard_actions.get_or_create(&DnsGuardLabels {
                        dnsguard: s.name.clone(),
                        tier,
                    });
                }
            }
        }
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        desired::Kind,
        status::{ConditionType, StatusKey},
    };

    fn status(kind: Kind, host: &str, name: &str, ready: bool, revision: Option<&str>) -> ResourceStatus {
        let mut s = ResourceStatus::new(&StatusKey::new(kind, host, name));
        s.set_condition(
            ConditionType::Ready,
            if ready {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            "Test",
            "",
        );
        s.observed_revision = revision.map(str::to_string);
        s
    }

    #[test]
    fn scrape_time_families_follow_the_state_and_forget_what_left() {
        let m = Metrics::new();
        let state = Arc::new(Mutex::new(ScrapeState {
            queue: QueueStats {
                ready: 2,
                scheduled: 5,
                running: 1,
                pending: 0,
            },
            revision: Some("abc123".into()),
            resources: vec![
                status(Kind::Host, "vps", "vps", false, None),
                status(Kind::Stack, "vps", "web", true, Some("abc123")),
                status(Kind::DnsGuard, "vps", "vps-dns", false, None),
            ],
        }));
        let s = state.clone();
        m.set_source(Arc::new(move || s.lock().unwrap().clone()));
        let text = m.encode(false).unwrap();
        for line in [
            "aegis_queue_depth 2",
            "aegis_queue_keys{state=\"scheduled\"} 5",
            "aegis_source_revision_info{revision=\"abc123\"} 1",
            "aegis_host_up{host=\"vps\"} 0",
            "aegis_resource_info{host=\"vps\",kind=\"Stack\",name=\"web\",revision=\"abc123\"} 1",
            "aegis_resource_ready{host=\"vps\",kind=\"Stack\",name=\"web\"} 1",
            "aegis_rollbacks_total{host=\"vps\"} 0",
            "aegis_dnsguard_actions_total{dnsguard=\"vps-dns\",tier=\"fallback\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        state.lock().unwrap().resources.retain(|r| r.name != "web");
        let text = m.encode(false).unwrap();
        assert!(!text.contains("name=\"web\""), "{text}");
    }

    #[test]
    fn reconciles_are_counted_by_kind_and_result() {
        let m = Metrics::new();
        m.observe_reconcile("Stack", true, Duration::from_millis(20));
        m.observe_reconcile("Stack", false, Duration::from_millis(3));
        m.observe_reconcile("Stack", false, Duration::from_secs(2));
        m.drift_repaired("local", "Stack", "web", 2);
        let text = m.encode(true).unwrap();
        for line in [
            "# TYPE aegis_reconciles counter",
            "aegis_reconciles_total{kind=\"Stack\",result=\"success\"} 1",
            "aegis_reconciles_total{kind=\"Stack\",result=\"error\"} 2",
            "aegis_reconcile_duration_seconds_count{kind=\"Stack\",result=\"error\"} 2",
            "aegis_drift_repairs_total{host=\"local\",kind=\"Stack\",name=\"web\"} 2",
            &format!("aegis_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
