//! `aegisctl restart` of a critical resource: each container restarted commit-confirmed
//! ([`crate::apply::critical_restart`]), under the fleet-wide critical turn (one attempt at a
//! time, like the critical changes of a revision), recorded as events.
//!
//! Events: `Confirming` when an attempt starts; then `Restarted` and `Confirmed`, or (a
//! rollback: the restarted container did not give the path back in time) a warning
//! `RolledBack`, counted in `aegis_rollbacks_total`. A restart changes no spec, so a rollback
//! stalls nothing and refuses nothing: the next restart or revision may try again. The first
//! container whose restart fails ends the request; the ones after it are not restarted.

use super::{critical::Critical, snapshot::Snapshot};
use crate::{
    apply::{confirmed::Outcome, critical_restart},
    desired::ResourceRef,
    status::{EventReason, EventType, StatusKey},
};

impl Critical {
    /// Restarts `containers` of `key`, one commit-confirmed attempt each, under the turn.
    /// `Ok`: every restart confirmed. `Err`: why not, already recorded as an event.
    pub async fn restart(
        &self,
        key: &StatusKey,
        snap: &Snapshot,
        containers: &[String],
    ) -> Result<(), RestartRefused> {
        if !self.gate.is_recovered() {
            return Err(RestartRefused::NotYet(
                "interrupted commit-confirmed attempts are still being recovered; try again shortly".into(),
            ));
        }
        let state = &snap.resolved.state;
        let desired = snap
            .host(&key.host)
            .ok_or_else(|| RestartRefused::Failed(format!("host `{}` is not declared", key.host)))?;
        let resource = ResourceRef::new(key.kind, &key.name);
        let _turn = self.gate.turn().await;
        for container in containers {
            self.attempt_started(
                key,
                &format!("restart of {container}"),
                format!("commit-confirmed restart of container {container} started (aegisctl restart)"),
                false,
            );
            let r = critical_restart::run_restart(
                state,
                desired,
                &self.opts.plan.instance,
                &self.key,
                &resource,
                container,
            )
            .await;
            let line = r.to_string();
            self.record_restart(key, container, r.result, &line)
                .map_err(RestartRefused::Failed)?;
        }
        Ok(())
    }

    /// Puts one restart attempt's outcome into the status; `Err` for anything but a confirm.
    pub(super) fn record_restart(
        &self,
        key: &StatusKey,
        container: &str,
        result: Result<Outcome, String>,
        line: &str,
    ) -> Result<(), String> {
        match result {
            Ok(Outcome::Confirmed { .. }) => {
                tracing::info!(resource = %key, "{line}");
                self.store.update(key, |s| {
                    s.record_event(
                        EventType::Normal,
                        EventReason::Restarted,
                        format!("restarted container {container} (aegisctl restart, commit-confirmed)"),
                    );
                    s.record_event(EventType::Normal, EventReason::Confirmed, line);
                });
                Ok(())
            }
            Ok(Outcome::RolledBack { .. } | Outcome::RollbackFailed { .. }) => {
                tracing::warn!(resource = %key, "{line}");
                self.metrics.rolled_back(&key.host);
                self.store.update(key, |s| {
                    s.record_event(EventType::Warning, EventReason::RolledBack, line)
                });
                Err(line.to_string())
            }
            Ok(Outcome::Pending { .. }) | Err(_) => {
                tracing::warn!(resource = %key, "{line}");
                self.store.update(key, |s| {
                    s.record_event(EventType::Warning, EventReason::Restarted, line)
                });
                Err(line.to_string())
            }
        }
    }
}

/// Why a critical restart did not end confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartRefused {
    /// Not started: the controller is not ready for it yet.
    NotYet(String),
    /// Started and not confirmed (rolled back, pending) or not startable.
    Failed(String),
}
