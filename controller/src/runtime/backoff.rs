//! Per-key error backoff: one `backon` exponential iterator per failing key.
//!
//! A key enters backoff when its reconcile fails, its delay grows on each consecutive failure, and
//! a success resets it. While a key is in backoff, its [`floor`](Backoffs::floor) is the earliest
//! time a non-[`Manual`](super::Reason::Manual) request may run it.

use std::{collections::HashMap, hash::Hash, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

type Iter = <ExponentialBuilder as BackoffBuilder>::Backoff;

/// The backoff state of one failing key.
#[derive(Debug)]
struct KeyBackoff {
    delays: Iter,
    /// Consecutive failures so far.
    failures: u32,
    /// End of the current backoff delay.
    until: Instant,
}

#[derive(Debug)]
pub(crate) struct Backoffs<K> {
    builder: ExponentialBuilder,
    max: Duration,
    keys: HashMap<K, KeyBackoff>,
}

impl<K: Eq + Hash> Backoffs<K> {
    /// `min` is raised to 1 ms (a zero delay would never grow) and to at most `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(Duration::from_millis(1));
        let min = min.clamp(Duration::from_millis(1), max);
        let builder = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            max,
            keys: HashMap::new(),
        }
    }

    /// Records a failure of `key` at `now` and returns the delay before its retry.
    ///
    /// `backon`'s jitter draws from `[d, 2d)`. Past `max` the delay is capped, but drawn from
    /// `(0.9·max, max]` so that many keys failing together (one unreachable host) do not retry in
    /// lockstep at exactly `max`.
    pub(crate) fn failed(&mut self, key: K, now: Instant) -> Duration {
        let builder = self.builder;
        let state = self.keys.entry(key).or_insert_with(|| KeyBackoff {
            delays: builder.build(),
            failures: 0,
            until: now,
        });
        state.failures = state.failures.saturating_add(1);
        let drawn = state.delays.next().unwrap_or(self.max);
        let delay = if drawn >= self.max {
            self.max.saturating_sub(self.max.mul_f64(fastrand::f64() * 0.1))
        } else {
            drawn
        };
        state.until = now + delay;
        delay
    }

    /// Forgets the failures of `key`: the next failure starts again at `min`.
    pub(crate) fn reset(&mut self, key: &K) {
        self.keys.remove(key);
    }

    /// The end of `key`'s current backoff delay, if it is failing.
    pub(crate) fn floor(&self, key: &K) -> Option<Instant> {
        self.keys.get(key).map(|s| s.until)
    }

    /// The attempt number of `key`'s next run: 1, plus its consecutive failures so far.
    pub(crate) fn attempt(&self, key: &K) -> u32 {
        self.keys.get(key).map_or(0, |s| s.failures).saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_caps_and_resets() {
        let now = Instant::now();
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(10));
        let mut b = Backoffs::new(min, max);
        assert_eq!(b.attempt(&"k"), 1);
        assert_eq!(b.floor(&"k"), None);

        // Base delays 1, 2, 4, 8, 10, 10, ...: jitter puts each in [base, 2·base), capped.
        let mut base = min;
        for failure in 1..=8u32 {
            let d = b.failed("k", now);
            assert!(
                d >= base.min(max.mul_f64(0.9)) && d <= max,
                "failure {failure}: {d:?}"
            );
            if base < max {
                assert!(d < base * 2, "failure {failure}: {d:?}");
            }
            assert_eq!(b.floor(&"k"), Some(now + d));
            assert_eq!(b.attempt(&"k"), failure + 1);
            base = (base * 2).min(max);
        }

        b.reset(&"k");
        assert_eq!(b.attempt(&"k"), 1);
        let d = b.failed("k", now);
        assert!(d >= min && d < min * 2, "{d:?}");
    }

    #[test]
    fn keys_are_independent() {
        let now = Instant::now();
        let mut b = Backoffs::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..5 {
            b.failed("a", now);
        }
        let d = b.failed("b", now);
        assert!(d < Duration::from_secs(2), "{d:?}");
        assert_eq!(b.attempt(&"a"), 6);
        assert_eq!(b.attempt(&"b"), 2);
    }

    #[test]
    fn min_is_clamped_to_max() {
        let now = Instant::now();
        let mut b = Backoffs::new(Duration::from_secs(9), Duration::from_secs(3));
        let d = b.failed("k", now);
        assert!(d <= Duration::from_secs(3), "{d:?}");
    }
}
