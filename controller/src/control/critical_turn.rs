//! The fleet-wide critical turn, in the one-shot apply's order.
//!
//! One commit-confirmed attempt (or recovery) runs at a time across the fleet. When several
//! critical keys wait, the turn goes to the first in [`crate::plan::critical::fleet_sequence`]
//! order, not to the first to ask: hosts that sit deeper behind other hosts first (their own
//! path resources change while the path to them is still known to work), then by host name,
//! then by resource name. Recovery goes before any attempt ([`Rank::RECOVERY`]).
//!
//! Keys reach the turn a little apart (each rechecks the gate on its own clock), so a free
//! turn is not given away at once: it waits [`GATHER`] from the first waiter's arrival for the
//! others of the same revision to line up. A turn that frees while keys wait goes to the
//! first of them at once: they have lined up during the attempt.

use std::{
    cmp::Reverse,
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

/// How long a free turn waits for the other critical keys to line up. Longer than the
/// gate's recheck interval, so every key released by the same gate opening is in line.
pub const GATHER: Duration = Duration::from_millis(1500);

/// A place in line: smaller goes first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    /// 0 for recovery, 1 for everything else: recovery first.
    class: u8,
    depth: Reverse<usize>,
    host: String,
    name: String,
}

impl Rank {
    /// Recovery of interrupted attempts: before every attempt.
    pub const RECOVERY: Rank = Rank {
        class: 0,
        depth: Reverse(usize::MAX),
        host: String::new(),
        name: String::new(),
    };

    /// A critical key's attempt on `host`, which sits `depth` hosts deep
    /// ([`crate::desired::Management::reach_depth`]).
    pub fn attempt(depth: usize, host: &str, name: &str) -> Rank {
        Rank {
            class: 1,
            depth: Reverse(depth),
            host: host.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Default)]
struct Line {
    held: bool,
    next_ticket: u64,
    /// Waiters: (rank, ticket) → when they arrived.
    waiting: BTreeMap<(Rank, u64), Instant>,
}

impl Line {
    /// Whether `me` may take the turn at `now` (the pure rule, see the module doc).
    fn may_take(&self, me: &(Rank, u64), now: Instant) -> bool {
        let first_arrival = self.waiting.values().min().copied();
        !self.held
            && self.waiting.keys().next() == Some(me)
            && first_arrival.is_some_and(|t| now >= t + GATHER)
    }
}

/// The turn, shared by every reconcile of the controller.
#[derive(Debug, Clone, Default)]
pub struct CriticalTurn {
    line: Arc<Mutex<Line>>,
    changed: Arc<Notify>,
}

/// Holding the turn; dropping it gives the turn to the next in line.
#[derive(Debug)]
pub struct Turn {
    turn: CriticalTurn,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.turn.lock().held = false;
        self.turn.changed.notify_waiters();
    }
}

/// A place in line, given up if the waiting future is dropped.
struct Place<'a> {
    turn: &'a CriticalTurn,
    key: (Rank, u64),
    taken: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if !self.taken {
            self.turn.lock().waiting.remove(&self.key);
            self.turn.changed.notify_waiters();
        }
    }
}

impl CriticalTurn {
    fn lock(&self) -> std::sync::MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the turn in `rank`'s place in line.
    pub async fn take(&self, rank: Rank) -> Turn {
        let mut place = {
            let mut line = self.lock();
            let key = (rank, line.next_ticket);
            line.next_ticket += 1;
            line.waiting.insert(key.clone(), Instant::now());
            Place {
                turn: self,
                key,
                taken: false,
            }
        };
        self.changed.notify_waiters();
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut line = self.lock();
                let now = Instant::now();
                if line.may_take(&place.key, now) {
                    line.held = true;
                    line.waiting.remove(&place.key);
                    place.taken = true;
                    return Turn { turn: self.clone() };
                }
                line.waiting.values().min().map(|t| *t + GATHER)
            };
            match wake_at.filter(|t| *t > Instant::now()) {
                Some(t) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(t) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spawns a taker that records its name when it gets the turn and holds it for `hold`.
    fn taker(
        turn: &CriticalTurn,
        rank: Rank,
        hold: Duration,
        log: &Arc<Mutex<Vec<(String, Instant)>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (turn, log) = (turn.clone(), log.clone());
        tokio::spawn(async move {
            let name = rank.name.clone();
            let _t = turn.take(rank).await;
            log.lock().unwrap().push((name, Instant::now()));
            tokio::time::sleep(hold).await;
        })
    }

    fn order(log: &Arc<Mutex<Vec<(String, Instant)>>>) -> Vec<String> {
        log.lock().unwrap().iter().map(|(n, _)| n.clone()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_deepest_host_goes_first_even_when_it_asks_last() {
        let turn = CriticalTurn::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        // The relay on `a` (depth 0) asks first; b's forwarder (depth 1) a second later.
        let relay = taker(
            &turn,
            Rank::attempt(0, "a", "relay"),
            Duration::from_secs(10),
            &log,
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let fwd = taker(&turn, Rank::attempt(1, "b", "fwd"), Duration::from_secs(10), &log);
        // A second key on `a` with a name before `relay`; and another host at depth 0.
        let app = taker(&turn, Rank::attempt(0, "a", "app"), Duration::from_secs(10), &log);
        let c = taker(
            &turn,
            Rank::attempt(0, "c", "proxy"),
            Duration::from_secs(10),
            &log,
        );
        for h in [relay, fwd, app, c] {
            h.await.unwrap();
        }
        assert_eq!(order(&log), ["fwd", "app", "relay", "proxy"]);
        let times: Vec<Duration> = log.lock().unwrap().iter().map(|(_, t)| *t - start).collect();
        // The free turn waited GATHER from the first arrival; then one at a time, back to back.
        assert_eq!(times[0], GATHER);
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_secs(10), "one at a time: {times:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_goes_first_and_a_lone_key_waits_only_the_gather_time() {
        let turn = CriticalTurn::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        taker(&turn, Rank::attempt(3, "z", "deep"), Duration::ZERO, &log)
            .await
            .unwrap();
        assert_eq!(log.lock().unwrap()[0].1 - start, GATHER);
        let a = taker(&turn, Rank::attempt(5, "z", "deep"), Duration::from_secs(1), &log);
        tokio::task::yield_now().await;
        let r = taker(&turn, Rank::RECOVERY, Duration::from_secs(1), &log);
        a.await.unwrap();
        r.await.unwrap();
        assert_eq!(order(&log), ["deep", "", "deep"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_leaves_the_line() {
        let turn = CriticalTurn::default();
        let held = turn.take(Rank::attempt(0, "a", "x")).await;
        let t2 = turn.clone();
        let deep = tokio::spawn(async move {
            let _t = t2.take(Rank::attempt(9, "b", "deep")).await;
        });
        tokio::task::yield_now().await;
        deep.abort();
        let _ = deep.await;
        let t3 = turn.clone();
        let next = tokio::spawn(async move {
            let _t = t3.take(Rank::attempt(0, "a", "y")).await;
        });
        tokio::task::yield_now().await;
        assert!(!next.is_finished(), "the turn is held");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the aborted waiter does not block the line")
            .expect("join");
    }
}
