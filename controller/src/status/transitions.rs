//! The status changes of one reconcile pass, so that the control loop writes status in
//! one call per outcome and the conditions stay consistent with each other.
//!
//! ```
//! # use aegis::{desired::Kind, status::*};
//! let store = StatusStore::in_memory();
//! let key = StatusKey::new(Kind::Stack, "local", "demo");
//! store.update(&key, |s| s.mark_reconciling("applying revision 0d89988"));
//! let inventory = vec![InventoryItem::container("demo-api-1", "running", Some("healthy"))];
//! store.update(&key, |s| s.mark_succeeded("0d89988", inventory, true));
//! assert_eq!(store.get(&key).unwrap().ready(), ConditionStatus::True);
//! ```

use super::{
    conditions::{reason, ConditionStatus, ConditionType},
    model::{EventReason, EventType, InventoryItem, ResourceStatus},
    readiness::stack_readiness,
    time::Timestamp,
};
use crate::desired::Kind;

impl ResourceStatus {
    /// A pass started: `Reconciling=True` (`Progressing`).
    pub fn mark_reconciling(&mut self, message: impl Into<String>) {
        self.set_condition(
            ConditionType::Reconciling,
            ConditionStatus::True,
            reason::PROGRESSING,
            message,
        );
    }

    /// A pass converged `revision` and observed `inventory`. `Ready` is derived from the
    /// inventory for a Stack, DnsGuard or TunnelClient ([`stack_readiness`]) and is `True`
    /// for other kinds.
    /// `changed` says whether the pass did anything; only then does `last_applied` move,
    /// so a no-op resync leaves the status (and its watchers) alone.
    pub fn mark_succeeded(&mut self, revision: &str, inventory: Vec<InventoryItem>, changed: bool) {
        // DnsGuards and TunnelClients are container groups too, ready like a Stack.
        let (status, why, message) = if matches!(self.kind, Kind::Stack | Kind::DnsGuard | Kind::TunnelClient)
        {
            let r = stack_readiness(&inventory);
            (r.status, r.reason, r.message)
        } else {
            (
                ConditionStatus::True,
                reason::RECONCILIATION_SUCCEEDED,
                format!("applied revision {revision}"),
            )
        };
        if changed || self.observed_revision.as_deref() != Some(revision) {
            self.last_applied = Some(Timestamp::now());
        }
        self.observed_revision = Some(revision.to_owned());
        self.inventory = inventory;
        self.last_error = None;
        self.set_condition(ConditionType::Ready, status, why, message);
        self.set_condition(ConditionType::Reconciling, ConditionStatus::False, why, "");
        if !self.revision_rejected() {
            self.set_condition(ConditionType::Stalled, ConditionStatus::False, why, "");
        }
    }

    /// A pass failed. `reason` is e.g. [`reason::RECONCILIATION_FAILED`] or
    /// [`reason::HOST_UNREACHABLE`]; `stalled` marks errors that retrying alone will not
    /// fix. Records a `Warning`/`Failed` event when the error is new.
    pub fn mark_failed(&mut self, reason: &str, error: impl Into<String>, stalled: bool) {
        let error = error.into();
        if self.last_error.as_deref() != Some(error.as_str()) {
            self.record_event(EventType::Warning, EventReason::Failed, error.clone());
        }
        self.set_condition(
            ConditionType::Ready,
            ConditionStatus::False,
            reason,
            error.clone(),
        );
        self.set_condition(ConditionType::Reconciling, ConditionStatus::False, reason, "");
        if !self.revision_rejected() {
            self.set_condition(ConditionType::Stalled, stalled.into(), reason, error.clone());
        }
        self.last_error = Some(error);
    }

    /// Whether `Stalled` says the newest source revision was rejected. Passes of the last
    /// good revision leave that alone: only the next accepted revision clears it.
    pub fn revision_rejected(&self) -> bool {
        self.condition(ConditionType::Stalled)
            .is_some_and(|c| c.status == ConditionStatus::True && c.reason == reason::REVISION_REJECTED)
    }

    /// The source's newest revision was rejected: `Stalled=True` (`RevisionRejected`) with
    /// `message` (commit, first error with file:line). `Ready` stays as it is, since the last
    /// good revision keeps running. Records a `Warning` event when the message is new.
    pub fn mark_revision_rejected(&mut self, message: &str) {
        let same = self
            .condition(ConditionType::Stalled)
            .is_some_and(|c| c.reason == reason::REVISION_REJECTED && c.message == message);
        if !same {
            self.record_event(EventType::Warning, EventReason::Rejected, message);
        }
        self.set_condition(
            ConditionType::Stalled,
            ConditionStatus::True,
            reason::REVISION_REJECTED,
            message,
        );
    }

    /// A good revision was accepted: clears a `RevisionRejected` stall.
    pub fn clear_revision_rejected(&mut self, revision: &str) {
        if self.revision_rejected() {
            self.set_condition(
                ConditionType::Stalled,
                ConditionStatus::False,
                reason::REVISION_REJECTED,
                format!("revision {revision} accepted"),
            );
        }
    }

    /// Suspends or resumes; records an event when it changes. Returns whether it did.
    pub fn mark_suspended(&mut self, suspended: bool) -> bool {
        if self.suspended == suspended {
            return false;
        }
        self.suspended = suspended;
        let (event, message) = if suspended {
            (EventReason::Suspended, "reconciliation suspended")
        } else {
            (EventReason::Resumed, "reconciliation resumed")
        };
        self.record_event(EventType::Normal, event, message);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::StatusKey;

    #[test]
    fn success_then_noop_resync_changes_nothing() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "local", "demo"));
        s.mark_reconciling("applying");
        let inv = vec![InventoryItem::container("demo-api-1", "running", None)];
        s.mark_succeeded("abc", inv.clone(), true);
        assert_eq!(s.ready(), ConditionStatus::True);
        assert_eq!(s.status_word(), "ReconciliationSucceeded");
        let before = s.clone();
        s.mark_succeeded("abc", inv, false);
        assert_eq!(s, before);
    }

    #[test]
    fn failure_sets_error_event_and_stalled() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Network, "vps", "web"));
        s.mark_failed(reason::HOST_UNREACHABLE, "cannot reach tcp://vps:2376", true);
        s.mark_failed(reason::HOST_UNREACHABLE, "cannot reach tcp://vps:2376", true);
        assert_eq!(s.events.len(), 1, "the same error is one event");
        assert_eq!(s.status_word(), "HostUnreachable");
        assert_eq!(s.message(), "cannot reach tcp://vps:2376");
        s.mark_succeeded("abc", vec![], true);
        assert_eq!(s.ready(), ConditionStatus::True);
        assert_eq!(s.last_error, None);
        assert_eq!(s.message(), "");
    }

    #[test]
    fn unhealthy_stack_is_not_ready_after_success() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "local", "demo"));
        s.mark_succeeded(
            "abc",
            vec![InventoryItem::container(
                "demo-api-1",
                "running",
                Some("unhealthy"),
            )],
            true,
        );
        assert_eq!(s.ready(), ConditionStatus::False);
        assert_eq!(s.status_word(), "ContainerUnhealthy");
    }

    #[test]
    fn a_rejection_stalls_until_a_good_revision_and_survives_passes() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "local", "demo"));
        s.mark_succeeded("aaa", vec![], true);
        let msg = "revision bbb rejected: stack.yaml:7: spec.dependsOn[0]: Network/nope is not declared";
        s.mark_revision_rejected(msg);
        s.mark_revision_rejected(msg);
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.ready(), ConditionStatus::True, "Ready stays as it is");
        assert_eq!(s.status_word(), "RevisionRejected");
        assert_eq!(s.message(), msg);
        s.mark_succeeded("aaa", vec![], false);
        s.mark_failed(reason::RECONCILIATION_FAILED, "boom", false);
        assert!(s.revision_rejected(), "passes of the old revision keep the stall");
        s.clear_revision_rejected("ccc");
        assert!(!s.revision_rejected());
        s.mark_succeeded("ccc", vec![], true);
        assert_eq!(s.status_word(), "ReconciliationSucceeded");
        assert_eq!(s.message(), "");
    }

    #[test]
    fn suspend_records_events_once() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "local", "demo"));
        assert!(s.mark_suspended(true));
        assert!(!s.mark_suspended(true));
        assert!(s.mark_suspended(false));
        let reasons: Vec<_> = s.events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, [EventReason::Suspended, EventReason::Resumed]);
    }
}
