//! The work queue: the one place that decides when each key runs next.
//!
//! A key is in at most one of three states: *scheduled* (waiting for its time, in the
//! [`Scheduler`]), *ready* (due, waiting for a slot) or *running* (in [`Slots`], perhaps with one
//! pending request). A key in none of them is idle: never enqueued, or forgotten.
//!
//! Pure and synchronous: the caller passes `now` and holds the lock; [`super::Runtime`] drives it.

use std::{hash::Hash, time::Duration};

use tokio::time::Instant;

use super::{
    backoff::Backoffs, runner::Slots, scheduler::Scheduler, Action, Config, QueueStats, Reason, RunId, Ticket,
};

#[derive(Debug)]
pub(crate) struct Queue<K> {
    scheduler: Scheduler<K>,
    slots: Slots<K>,
    backoffs: Backoffs<K>,
    resync: Duration,
    /// The last id handed out, to a request ([`Ticket`]) or a run ([`RunId`]).
    last_id: u64,
}

/// A key to start now.
#[derive(Debug)]
pub(crate) struct Start<K> {
    pub(crate) key: K,
    pub(crate) run: RunId,
    pub(crate) reason: Reason,
    pub(crate) attempt: u32,
}

impl<K: Clone + Eq + Hash + Ord> Queue<K> {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            scheduler: Scheduler::new(),
            slots: Slots::new(config.concurrency, config.per_group),
            backoffs: Backoffs::new(config.backoff_min, config.backoff_max),
            resync: config.resync,
            last_id: 0,
        }
    }

    /// Asks for a run of `key` at `at` (or later, see [`Reason::bypasses_backoff`]).
    pub(crate) fn request(&mut self, key: K, at: Instant, reason: Reason) -> Ticket {
        let ticket = Ticket(self.next_id());
        // A running key keeps the raw request: it is checked against the backoff floor that the
        // run itself leaves behind, in `complete` (which also applies a reset then, so that the
        // run's own failure does not count against the new desired state).
        if self.slots.request_while_running(&key, at, reason) {
            return ticket;
        }
        if reason.resets_backoff() {
            self.backoffs.reset(&key);
        }
        if !self.slots.is_ready(&key) {
            let at = self.floored(&key, at, reason);
            self.scheduler.schedule(key, at, reason);
        }
        ticket
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// The run of `key` in progress.
    pub(crate) fn running(&self, key: &K) -> Option<RunId> {
        self.slots.running_run(key)
    }

    /// Drops every request for `key` and its backoff. A run in progress finishes, without follow-up.
    pub(crate) fn forget(&mut self, key: &K) {
        self.scheduler.remove(key);
        self.slots.forget(key);
        self.backoffs.reset(key);
    }

    /// Moves the keys whose time has come to the ready queues of their groups.
    pub(crate) fn promote(&mut self, now: Instant, group: impl Fn(&K) -> String) {
        while let Some((key, reason)) = self.scheduler.pop_due(now) {
            let group = group(&key);
            self.slots.push_ready(key, group, reason);
        }
    }

    /// The next key that may start now, if a slot is free; it is then running.
    pub(crate) fn start_next(&mut self) -> Option<Start<K>> {
        let run = RunId(self.last_id + 1);
        let (key, reason) = self.slots.start_next(run)?;
        self.last_id = run.0;
        let attempt = self.backoffs.attempt(&key);
        Some(Start {
            key,
            run,
            reason,
            attempt,
        })
    }

    /// Ends the run of `key` with its result, and schedules its next run: after the action's delay
    /// on success, after a backoff delay on error, or earlier if a request came in during the run.
    pub(crate) fn complete(&mut self, key: &K, result: Result<Action, ()>, now: Instant) {
        let Some(run) = self.slots.finish(key) else { return };
        if run.forgotten {
            return;
        }
        let (mut at, mut reason) = match result {
            Ok(action) => {
                self.backoffs.reset(key);
                match action {
                    Action::Requeue(delay) => (now + delay, Reason::Requeue),
                    Action::AwaitChange => (now + self.resync + jitter(self.resync), Reason::Resync),
                }
            }
            Err(()) => (now + self.backoffs.failed(key.clone(), now), Reason::Backoff),
        };
        if run.reset_backoff {
            self.backoffs.reset(key);
        }
        if let Some((pending_at, pending_reason)) = run.pending {
            let pending_at = self.floored(key, pending_at, pending_reason);
            if pending_at < at {
                (at, reason) = (pending_at, pending_reason);
            }
        }
        self.scheduler.schedule(key.clone(), at, reason);
    }

    /// When the next scheduled key becomes due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.scheduler.next_due()
    }

    pub(crate) fn stats(&self, now: Instant) -> QueueStats {
        let due = self.scheduler.count_due(now);
        QueueStats {
            ready: self.slots.ready_len() + due,
            scheduled: self.scheduler.len() - due,
            running: self.slots.running_len(),
            pending: self.slots.pending_len(),
        }
    }

    /// `at`, moved to the end of `key`'s backoff delay unless `reason` bypasses it.
    fn floored(&self, key: &K, at: Instant, reason: Reason) -> Instant {
        match self.backoffs.floor(key) {
            Some(floor) if !reason.bypasses_backoff() => at.max(floor),
            _ => at,
        }
    }
}

/// Up to a tenth of `resync`, so that keys started together do not resync together forever.
fn jitter(resync: Duration) -> Duration {
    resync.mul_f64(fastrand::f64() * 0.1)
}
