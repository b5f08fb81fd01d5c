//! The watchdog's state machine: its phases, the status file that records them, and the one
//! pure function that decides the next move.
//!
//! ```text
//!  (start) ──validate──▶ Watching ──▶ Swapping ──▶ Swapped ──confirm──▶ Committing ──▶ Confirmed (exit 0)
//!     │                     │            │            │
//!     │ preconditions fail  └── abort / deadline / swap error ──▶ RollingBack ──▶ RolledBack (exit 3)
//!     ▼                                                                 │
//!  Refused (exit 2, nothing was changed)                                └──▶ RollbackFailed (exit 4)
//! ```
//!
//! The phase is written to [`STATUS_FILE`] in the watchdog's own filesystem *before* each step
//! it names, so a watchdog that restarts (crash, daemon restart) redoes the interrupted step;
//! every step is idempotent. Terminal phases are final: a restarted watchdog that finds one
//! only exits again with the same code.

use serde::{Deserialize, Serialize};

/// Where the watchdog keeps its status (in its own container).
pub const STATUS_FILE: &str = "/aegis-state/status.json";
/// Where the controller puts the confirm token (`PUT /containers/{id}/archive`).
pub const CONFIRM_FILE: &str = "/aegis-state/confirm";
/// Where the controller puts the token to ask for a rollback now.
pub const ABORT_FILE: &str = "/aegis-state/abort";

/// Exit codes: distinct, so that a rollback never looks like success (deploy-rs #179).
pub mod exit {
    /// Confirmed: the new container stays, the old one was removed.
    pub const CONFIRMED: i32 = 0;
    /// Unexpected error: the restart policy runs the watchdog again, which resumes.
    pub const INTERNAL: i32 = 1;
    /// Refused before changing anything (the containers were not as the labels say).
    pub const REFUSED: i32 = 2;
    /// Rolled back: the old container runs again under its name; the new one is gone.
    pub const ROLLED_BACK: i32 = 3;
    /// The rollback could not restore a running old container; it is kept (never removed).
    pub const ROLLBACK_FAILED: i32 = 4;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "phase", content = "reason")]
pub enum Phase {
    /// Preconditions checked, the watchdog is watching: the change may begin (the "ready"
    /// the controller waits for, so no confirm can race the watchdog's start: deploy-rs #385).
    Watching,
    /// The old container is being stopped and parked, the new one renamed and started.
    Swapping,
    /// The new container runs under the name; waiting for the confirm.
    Swapped,
    /// Confirmed; removing the old container.
    Committing,
    Confirmed,
    /// Restoring the old container, for this reason.
    RollingBack(String),
    RolledBack(String),
    RollbackFailed(String),
    /// Nothing was changed, for this reason.
    Refused(String),
}

impl Phase {
    /// The exit code of a terminal phase.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Phase::Confirmed => Some(exit::CONFIRMED),
            Phase::RolledBack(_) => Some(exit::ROLLED_BACK),
            Phase::RollbackFailed(_) => Some(exit::ROLLBACK_FAILED),
            Phase::Refused(_) => Some(exit::REFUSED),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Phase::Watching => "watching",
            Phase::Swapping => "swapping",
            Phase::Swapped => "swapped",
            Phase::Committing => "committing",
            Phase::Confirmed => "confirmed",
            Phase::RollingBack(_) => "rolling-back",
            Phase::RolledBack(_) => "rolled-back",
            Phase::RollbackFailed(_) => "rollback-failed",
            Phase::Refused(_) => "refused",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Phase::RollingBack(r) | Phase::RolledBack(r) | Phase::RollbackFailed(r) | Phase::Refused(r) => {
                Some(r)
            }
            _ => None,
        }
    }
}

/// The content of [`STATUS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub attempt: String,
    #[serde(flatten)]
    pub phase: Phase,
    /// The confirm deadline, RFC 3339, by the host's clock: set when the swap is done (the
    /// confirm timeout counts from the change, like `netplan try`'s, not from the moment the
    /// watchdog started: stopping the old container alone may take its whole grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// When this status was written, RFC 3339, by the host's clock.
    pub updated: String,
}

/// What the watchdog knows on one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// The persisted phase; `None` on the very first start.
    pub phase: Option<Phase>,
    /// A confirm file with this attempt's token is present.
    pub confirmed: bool,
    /// An abort file with this attempt's token is present.
    pub aborted: bool,
    /// The deadline has passed (never before the swap is done).
    pub past_deadline: bool,
}

/// The watchdog's next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Check that the containers are as the labels say, then go to `Watching`.
    Validate,
    Swap,
    /// Nothing to do yet.
    Wait,
    Commit,
    Rollback(String),
    Exit(i32),
}

/// Decides the next move. A confirm wins over a deadline that passed while it was being read
/// (the controller only sends it after its checks passed, before the deadline by its own
/// clock), but never over a rollback that has begun.
pub fn decide(t: &Tick, timeout_secs: u64) -> Move {
    let late = || format!("no confirm within {timeout_secs}s");
    match &t.phase {
        None => Move::Validate,
        Some(Phase::Watching | Phase::Swapping) if t.aborted => {
            Move::Rollback("the controller asked for a rollback".into())
        }
        Some(Phase::Watching | Phase::Swapping) if t.past_deadline => Move::Rollback(late()),
        Some(Phase::Watching | Phase::Swapping) => Move::Swap,
        Some(Phase::Swapped) if t.confirmed => Move::Commit,
        Some(Phase::Swapped) if t.aborted => Move::Rollback("the controller's checks failed".into()),
        Some(Phase::Swapped) if t.past_deadline => Move::Rollback(late()),
        Some(Phase::Swapped) => Move::Wait,
        Some(Phase::Committing) => Move::Commit,
        Some(Phase::RollingBack(r)) => Move::Rollback(r.clone()),
        Some(p) => Move::Exit(p.exit_code().unwrap_or(exit::INTERNAL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(phase: Option<Phase>) -> Tick {
        Tick {
            phase,
            confirmed: false,
            aborted: false,
            past_deadline: false,
        }
    }

    #[test]
    fn the_happy_path() {
        assert_eq!(decide(&tick(None), 120), Move::Validate);
        assert_eq!(decide(&tick(Some(Phase::Watching)), 120), Move::Swap);
        assert_eq!(decide(&tick(Some(Phase::Swapped)), 120), Move::Wait);
        let confirmed = Tick {
            confirmed: true,
            ..tick(Some(Phase::Swapped))
        };
        assert_eq!(decide(&confirmed, 120), Move::Commit);
        assert_eq!(decide(&tick(Some(Phase::Committing)), 120), Move::Commit);
        assert_eq!(
            decide(&tick(Some(Phase::Confirmed)), 120),
            Move::Exit(exit::CONFIRMED)
        );
    }

    #[test]
    fn no_confirm_in_time_rolls_back_and_a_rollback_is_never_success() {
        let late = Tick {
            past_deadline: true,
            ..tick(Some(Phase::Swapped))
        };
        assert_eq!(
            decide(&late, 120),
            Move::Rollback("no confirm within 120s".into())
        );
        // An interrupted swap past the deadline is rolled back, not finished.
        let late_swap = Tick {
            past_deadline: true,
            ..tick(Some(Phase::Swapping))
        };
        assert!(matches!(decide(&late_swap, 9), Move::Rollback(_)));
        // A late confirm does not undo a rollback that has begun.
        let too_late = Tick {
            confirmed: true,
            ..tick(Some(Phase::RollingBack("x".into())))
        };
        assert_eq!(decide(&too_late, 120), Move::Rollback("x".into()));
        assert_eq!(
            decide(&tick(Some(Phase::RolledBack("x".into()))), 120),
            Move::Exit(exit::ROLLED_BACK)
        );
        assert_ne!(exit::ROLLED_BACK, exit::CONFIRMED);
        assert_eq!(
            decide(&tick(Some(Phase::RollbackFailed("x".into()))), 120),
            Move::Exit(exit::ROLLBACK_FAILED)
        );
    }

    #[test]
    fn an_abort_rolls_back_at_once_and_a_confirm_arriving_with_the_deadline_wins() {
        let aborted = Tick {
            aborted: true,
            ..tick(Some(Phase::Swapped))
        };
        assert_eq!(
            decide(&aborted, 120),
            Move::Rollback("the controller's checks failed".into())
        );
        let both = Tick {
            confirmed: true,
            past_deadline: true,
            ..tick(Some(Phase::Swapped))
        };
        assert_eq!(decide(&both, 120), Move::Commit);
    }

    #[test]
    fn status_file_format() {
        let s = Status {
            attempt: "a1".into(),
            phase: Phase::RolledBack("no confirm within 5s".into()),
            deadline: Some("2026-01-01T00:00:00Z".into()),
            updated: "2026-01-01T00:00:01Z".into(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"attempt":"a1","phase":"rolled-back","reason":"no confirm within 5s","deadline":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:01Z"}"#
        );
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), s);
        let w: Status =
            serde_json::from_str(r#"{"attempt":"a1","phase":"watching","deadline":"d","updated":"u"}"#)
                .unwrap();
        assert_eq!(w.phase, Phase::Watching);
    }
}
