//! kstatus conditions: the three types, their status values, the reasons aegis uses, and
//! [`set_condition`], which keeps `last_transition` honest.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{model::Condition, time::Timestamp};

/// The condition types of kstatus. `Ready` is the summary; `Reconciling` is true while
/// aegis works towards the desired state; `Stalled` is true when it cannot make progress
/// without help (an unreachable host, a failing apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionType {
    Ready,
    Reconciling,
    Stalled,
}

impl fmt::Display for ConditionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
        })
    }
}

/// `True`, `False` or `Unknown`, as strings on the wire like Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl From<bool> for ConditionStatus {
    fn from(b: bool) -> Self {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        })
    }
}

/// The CamelCase reasons aegis puts on conditions. Strings, not an enum, so that a newer
/// controller's reason still reads in an older `aegisctl`.
pub mod reason {
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    pub const PROGRESSING: &str = "Progressing";
    pub const CONTAINER_UNHEALTHY: &str = "ContainerUnhealthy";
    pub const CONTAINER_NOT_RUNNING: &str = "ContainerNotRunning";
    pub const CONTAINER_RESTARTING: &str = "ContainerRestarting";
    pub const CONTAINER_STARTING: &str = "ContainerStarting";
    pub const HOST_UNREACHABLE: &str = "HostUnreachable";
    pub const SUSPENDED: &str = "Suspended";
    /// On `Stalled`: the newest source revision is invalid, so the last good one keeps
    /// running. Set on every resource by the source poller, not by a reconcile pass.
    pub const REVISION_REJECTED: &str = "RevisionRejected";
    /// On `Stalled`: a commit-confirmed change of a critical container was rolled back; the
    /// failed spec is not retried until a new revision changes it.
    pub const ROLLED_BACK: &str = "RolledBack";
}

/// Sets condition `type_` in `conditions`, adding it if absent.
///
/// kstatus semantics: `last_transition` changes only when `status` changes; a new reason
/// or message with the same status keeps the old transition time. Returns whether the
/// status flipped (or the condition is new).
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) -> bool {
    let message = message.into();
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let flipped = c.status != status;
        if flipped {
            c.last_transition = Timestamp::now();
        }
        c.status = status;
        reason.clone_into(&mut c.reason);
        c.message = message;
        return flipped;
    }
    conditions.push(Condition {
        type_,
        status,
        reason: reason.to_owned(),
        message,
        last_transition: Timestamp::now(),
    });
    conditions.sort_by_key(|c| c.type_);
    true
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut conds = Vec::new();
        assert!(set_condition(
            &mut conds,
            ConditionType::Ready,
            ConditionStatus::False,
            reason::PROGRESSING,
            "applying"
        ));
        let old = Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        conds[0].last_transition = old;

        assert!(!set_condition(
            &mut conds,
            ConditionType::Ready,
            ConditionStatus::False,
            reason::CONTAINER_UNHEALTHY,
            "container a is unhealthy"
        ));
        assert_eq!(conds[0].last_transition, old);
        assert_eq!(conds[0].reason, "ContainerUnhealthy");
        assert_eq!(conds[0].message, "container a is unhealthy");

        assert!(set_condition(
            &mut conds,
            ConditionType::Ready,
            ConditionStatus::True,
            reason::RECONCILIATION_SUCCEEDED,
            ""
        ));
        assert_ne!(conds[0].last_transition, old);
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn conditions_stay_in_type_order() {
        let mut conds = Vec::new();
        set_condition(
            &mut conds,
            ConditionType::Stalled,
            ConditionStatus::False,
            "x",
            "",
        );
        set_condition(&mut conds, ConditionType::Ready, ConditionStatus::True, "y", "");
        let types: Vec<_> = conds.iter().map(|c| c.type_).collect();
        assert_eq!(types, [ConditionType::Ready, ConditionType::Stalled]);
    }
}
