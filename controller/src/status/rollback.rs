//! The status of a critical resource around commit-confirmed changes: a rollback stalls it
//! (`Stalled=True`, reason `RolledBack`) and records the failed spec, which is then refused
//! until a new revision changes the container (no flapping); a confirm forgets it.

use super::{
    conditions::{reason, ConditionStatus, ConditionType},
    model::{EventReason, EventType, ResourceStatus, RolledBackSpec},
};

impl ResourceStatus {
    /// A commit-confirmed change was rolled back: a failed apply. `Ready=False` and
    /// `Stalled=True` with reason `RolledBack`, a `Warning`/`RolledBack` event, and the failed
    /// spec recorded so that it is not retried.
    pub fn mark_rolled_back(&mut self, spec: RolledBackSpec, message: &str) {
        self.rolled_back.retain(|r| r.container != spec.container);
        self.rolled_back.push(spec);
        self.record_event(EventType::Warning, EventReason::RolledBack, message);
        let why = reason::ROLLED_BACK;
        self.set_condition(ConditionType::Ready, ConditionStatus::False, why, message);
        self.set_condition(ConditionType::Reconciling, ConditionStatus::False, why, "");
        self.set_condition(ConditionType::Stalled, ConditionStatus::True, why, message);
        self.last_error = Some(message.to_string());
    }

    /// The recorded rollback of `container` when `spec_hash` is the spec that failed: the
    /// change must not be tried again.
    pub fn refused_spec(&self, container: &str, spec_hash: &str) -> Option<&RolledBackSpec> {
        self.rolled_back
            .iter()
            .find(|r| r.container == container && r.spec_hash == spec_hash)
    }

    /// Forgets the rollbacks of containers whose wanted spec is no longer the one that
    /// failed (`wanted(container)` gives the spec hash the source wants now, `None` when the
    /// container is gone from the source). Returns whether something was forgotten.
    pub fn forget_changed_rollbacks(&mut self, wanted: impl Fn(&str) -> Option<String>) -> bool {
        let before = self.rolled_back.len();
        self.rolled_back
            .retain(|r| wanted(&r.container).as_deref() == Some(r.spec_hash.as_str()));
        before != self.rolled_back.len()
    }

    /// A commit-confirmed change of `container` was confirmed.
    pub fn forget_rollback_of(&mut self, container: &str) {
        self.rolled_back.retain(|r| r.container != container);
    }

    /// Whether the resource is stalled by a rollback.
    pub fn stalled_by_rollback(&self) -> bool {
        self.condition(ConditionType::Stalled)
            .is_some_and(|c| c.status == ConditionStatus::True && c.reason == reason::ROLLED_BACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{desired::Kind, status::StatusKey};

    fn spec(hash: &str) -> RolledBackSpec {
        RolledBackSpec {
            container: "fwd-socat-1".into(),
            spec_hash: hash.into(),
            attempt: "a1".into(),
            revision: "r1".into(),
        }
    }

    #[test]
    fn a_rollback_stalls_and_refuses_only_the_failed_spec_until_the_source_changes_it() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "b", "fwd"));
        s.mark_succeeded("r0", Vec::new(), true);
        s.mark_rolled_back(spec("bad"), "rolled back by the watchdog");
        assert_eq!(s.status_word(), "RolledBack");
        assert!(s.stalled_by_rollback());
        assert_eq!(s.ready(), ConditionStatus::False);
        assert_eq!(s.events.back().map(|e| e.reason), Some(EventReason::RolledBack));
        assert!(s.refused_spec("fwd-socat-1", "bad").is_some());
        assert!(s.refused_spec("fwd-socat-1", "good").is_none());
        assert!(s.refused_spec("other", "bad").is_none());
        // The same revision still wants the bad spec: kept.
        assert!(!s.forget_changed_rollbacks(|_| Some("bad".into())));
        assert!(s.refused_spec("fwd-socat-1", "bad").is_some());
        // A new revision changes it: forgotten, and so retried should it come back later.
        assert!(s.forget_changed_rollbacks(|_| Some("good".into())));
        assert!(s.rolled_back.is_empty());
        s.mark_rolled_back(spec("bad"), "again");
        s.forget_rollback_of("fwd-socat-1");
        assert!(s.rolled_back.is_empty());
        // A later successful pass clears the stall.
        s.mark_succeeded("r2", Vec::new(), true);
        assert!(!s.stalled_by_rollback());
    }

    #[test]
    fn the_failed_spec_survives_a_save_and_load() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "b", "fwd"));
        s.mark_rolled_back(spec("bad"), "rolled back");
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"rolledBack\""), "{json}");
        let back: ResourceStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
