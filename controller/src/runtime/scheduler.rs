//! The delayed, deduplicated queue: at most one entry per key, at the earliest time asked for.
//!
//! Pure data, no clock and no tasks: the caller passes `now`. Keys that are running or waiting for a
//! concurrency slot are not here (see [`super::queue`]).

use std::{
    collections::{BTreeSet, HashMap},
    hash::Hash,
};

use tokio::time::Instant;

use super::Reason;

/// Keys waiting for their time, ordered by due time.
#[derive(Debug)]
pub(crate) struct Scheduler<K> {
    /// `(due, key)`: the key breaks ties, so the order is total and deterministic.
    by_time: BTreeSet<(Instant, K)>,
    /// The one entry of each key: its due time and the reason of the request that set it.
    entries: HashMap<K, (Instant, Reason)>,
}

impl<K: Clone + Eq + Hash + Ord> Scheduler<K> {
    pub(crate) fn new() -> Self {
        Self {
            by_time: BTreeSet::new(),
            entries: HashMap::new(),
        }
    }

    /// Schedules `key` at `at`, unless it is already scheduled earlier (or at the same time).
    /// Returns whether the key's due time moved (or it was newly added).
    pub(crate) fn schedule(&mut self, key: K, at: Instant, reason: Reason) -> bool {
        match self.entries.get_mut(&key) {
            Some((due, _)) if *due <= at => false,
            Some((due, why)) => {
                self.by_time.remove(&(*due, key.clone()));
                self.by_time.insert((at, key));
                *due = at;
                *why = reason;
                true
            }
            None => {
                self.by_time.insert((at, key.clone()));
                self.entries.insert(key, (at, reason));
                true
            }
        }
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: &K) -> Option<(Instant, Reason)> {
        let (due, reason) = self.entries.remove(key)?;
        self.by_time.remove(&(due, key.clone()));
        Some((due, reason))
    }

    /// Takes the earliest key whose time has come.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(K, Reason)> {
        let (due, _) = self.by_time.first()?;
        if *due > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        let (_, reason) = self.entries.remove(&key)?;
        Some((key, reason))
    }

    /// When the next key becomes due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.by_time.first().map(|(due, _)| *due)
    }

    /// How many keys are due at `now` (O(due keys)).
    pub(crate) fn count_due(&self, now: Instant) -> usize {
        self.by_time.iter().take_while(|(due, _)| *due <= now).count()
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keeps_the_earliest_time_and_its_reason() {
        let t0 = Instant::now();
        let mut s = Scheduler::new();
        assert!(s.schedule("a", t0 + Duration::from_secs(10), Reason::Resync));
        assert!(s.schedule("a", t0 + Duration::from_secs(2), Reason::DockerEvent));
        assert!(!s.schedule("a", t0 + Duration::from_secs(5), Reason::Source));
        assert!(!s.schedule("a", t0 + Duration::from_secs(2), Reason::Manual));
        assert_eq!(s.len(), 1);
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(s.pop_due(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            s.pop_due(t0 + Duration::from_secs(2)),
            Some(("a", Reason::DockerEvent))
        );
        assert_eq!(s.len(), 0);
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn pops_in_time_order_and_removes() {
        let t0 = Instant::now();
        let mut s = Scheduler::new();
        s.schedule("late", t0 + Duration::from_secs(3), Reason::Source);
        s.schedule("early", t0 + Duration::from_secs(1), Reason::Source);
        s.schedule("gone", t0, Reason::Source);
        assert_eq!(s.remove(&"gone").map(|(_, r)| r), Some(Reason::Source));
        assert!(!s.contains(&"gone"));
        let now = t0 + Duration::from_secs(5);
        assert_eq!(s.pop_due(now).map(|(k, _)| k), Some("early"));
        assert_eq!(s.pop_due(now).map(|(k, _)| k), Some("late"));
        assert_eq!(s.pop_due(now), None);
    }
}
