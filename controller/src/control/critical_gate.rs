//! When the control loop may change a critical resource (one on some host's management
//! path, or `critical: true`): the controller's version of the one-shot apply's
//! [`crate::apply::critical_last`].
//!
//! - **Last.** A critical change of revision R waits until every non-critical Stack and
//!   Network of R, on every host, has *settled* at R: its reconcile of R converged or failed
//!   (or it waits on a critical resource itself, which would otherwise deadlock). Keys record
//!   their settling here ([`CriticalGate::settled`]); [`decide`] is the pure rule.
//! - **After recovery.** No critical change starts before the attempts an earlier controller
//!   left in flight have been ended ([`CriticalGate::recovered`]).
//! - **One at a time, fleet-wide.** [`CriticalGate::turn`] is one lock for the whole fleet:
//!   a commit-confirmed attempt, or a recovery, holds it from start to end.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, PoisonError},
};

use crate::{desired::Kind, status::StatusKey};

/// What a critical key may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Interrupted attempts of an earlier controller are still being ended.
    Recovering,
    /// These non-critical keys have not settled at the revision yet.
    Wait(Vec<StatusKey>),
}

impl Gate {
    /// A status message for a critical key that waits.
    pub fn message(&self, revision: &str) -> String {
        match self {
            Gate::Open => String::new(),
            Gate::Recovering => {
                "critical change waits: interrupted commit-confirmed attempts are being recovered".into()
            }
            Gate::Wait(keys) => {
                let shown: Vec<String> = keys.iter().take(3).map(ToString::to_string).collect();
                let more = keys.len().saturating_sub(shown.len());
                format!(
                    "critical change waits for {} non-critical resource(s) of revision {revision} to \
                     converge or fail: {}{}",
                    keys.len(),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
        }
    }
}

/// The rule (see the module doc): `keys` are the revision's keys, `critical` tells the
/// critical ones, `settled` maps a key to the last revision it settled at.
pub fn decide(
    revision: &str,
    keys: &BTreeSet<StatusKey>,
    critical: impl Fn(&StatusKey) -> bool,
    settled: &HashMap<StatusKey, String>,
    recovered: bool,
) -> Gate {
    if !recovered {
        return Gate::Recovering;
    }
    let waiting: Vec<StatusKey> = keys
        .iter()
        .filter(|k| matches!(k.kind, Kind::Stack | Kind::Network))
        .filter(|k| !critical(k))
        .filter(|k| settled.get(*k).map(String::as_str) != Some(revision))
        .cloned()
        .collect();
    if waiting.is_empty() {
        Gate::Open
    } else {
        Gate::Wait(waiting)
    }
}

#[derive(Debug, Default)]
struct State {
    settled: HashMap<StatusKey, String>,
    recovered: bool,
}

/// The gate's state, shared by every reconcile of the controller.
#[derive(Debug, Clone, Default)]
pub struct CriticalGate {
    state: Arc<Mutex<State>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl CriticalGate {
    /// `key`'s reconcile of `revision` converged or failed.
    pub fn settled(&self, key: &StatusKey, revision: &str) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.settled.insert(key.clone(), revision.to_string());
    }

    /// Whether `key` settled at `revision`.
    pub fn is_settled(&self, key: &StatusKey, revision: &str) -> bool {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.settled.get(key).map(String::as_str) == Some(revision)
    }

    /// The attempts left by an earlier controller have been ended (or followed to a
    /// pending end): critical changes may start.
    pub fn recovered(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recovered = true;
    }

    /// Whether [`CriticalGate::recovered`] was called.
    pub fn is_recovered(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recovered
    }

    /// [`decide`] on the current state.
    pub fn check(
        &self,
        revision: &str,
        keys: &BTreeSet<StatusKey>,
        critical: impl Fn(&StatusKey) -> bool,
    ) -> Gate {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        decide(revision, keys, critical, &s.settled, s.recovered)
    }

    /// The fleet-wide turn: one commit-confirmed attempt (or recovery) at a time.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> BTreeSet<StatusKey> {
        [
            StatusKey::new(Kind::Host, "a", "a"),
            StatusKey::new(Kind::Host, "b", "b"),
            StatusKey::new(Kind::Stack, "a", "app-a"),
            StatusKey::new(Kind::Network, "b", "net-b"),
            StatusKey::new(Kind::Stack, "b", "app-b"),
            StatusKey::new(Kind::Stack, "b", "fwd"),
            StatusKey::new(Kind::Stack, "a", "relay"),
        ]
        .into()
    }

    fn critical(k: &StatusKey) -> bool {
        k.name == "fwd" || k.name == "relay"
    }

    #[test]
    fn critical_waits_until_every_non_critical_stack_and_network_settled_at_the_revision() {
        let keys = keys();
        let mut settled = HashMap::new();
        let gate = decide("r2", &keys, critical, &settled, true);
        // Hosts are not changes; critical keys never wait for each other.
        assert_eq!(
            gate,
            Gate::Wait(vec![
                StatusKey::new(Kind::Network, "b", "net-b"),
                StatusKey::new(Kind::Stack, "a", "app-a"),
                StatusKey::new(Kind::Stack, "b", "app-b"),
            ])
        );
        assert!(gate
            .message("r2")
            .contains("3 non-critical resource(s) of revision r2"));
        for k in keys.iter().filter(|k| !critical(k)) {
            settled.insert(k.clone(), "r1".to_string());
        }
        // Settled at the previous revision does not count.
        assert!(matches!(decide("r2", &keys, critical, &settled, true), Gate::Wait(w) if w.len() == 3));
        settled.insert(StatusKey::new(Kind::Stack, "a", "app-a"), "r2".into());
        settled.insert(StatusKey::new(Kind::Network, "b", "net-b"), "r2".into());
        assert_eq!(
            decide("r2", &keys, critical, &settled, true),
            Gate::Wait(vec![StatusKey::new(Kind::Stack, "b", "app-b")])
        );
        settled.insert(StatusKey::new(Kind::Stack, "b", "app-b"), "r2".into());
        assert_eq!(decide("r2", &keys, critical, &settled, true), Gate::Open);
        // A newer revision closes it again.
        assert!(matches!(
            decide("r3", &keys, critical, &settled, true),
            Gate::Wait(_)
        ));
    }

    #[test]
    fn nothing_critical_starts_before_recovery_ends() {
        let keys: BTreeSet<StatusKey> = [StatusKey::new(Kind::Stack, "b", "fwd")].into();
        assert_eq!(
            decide("r", &keys, critical, &HashMap::new(), false),
            Gate::Recovering
        );
        assert_eq!(decide("r", &keys, critical, &HashMap::new(), true), Gate::Open);
        let gate = CriticalGate::default();
        assert_eq!(gate.check("r", &keys, critical), Gate::Recovering);
        gate.recovered();
        assert_eq!(gate.check("r", &keys, critical), Gate::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn one_turn_at_a_time_across_the_fleet() {
        let gate = CriticalGate::default();
        let held = gate.turn().await;
        let g2 = gate.clone();
        let other = tokio::spawn(async move {
            let _t = g2.turn().await;
        });
        tokio::task::yield_now().await;
        assert!(!other.is_finished(), "a second attempt must wait for the first");
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(1), other)
            .await
            .expect("the second attempt runs once the first ends")
            .expect("join");
    }
}
