//! Concurrency: which due keys may start now, and which keys are running.
//!
//! Due keys wait in one FIFO per group. A key starts when a global slot and a slot of its group are
//! free; groups are served round-robin, so a group whose slots are all held (a hung host) never
//! blocks the others. A running key is never started again: requests for it are folded into one
//! `pending` request, handled when the run ends (see [`super::queue`]).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    hash::Hash,
    ops::Bound,
};

use tokio::time::Instant;

use super::{Reason, RunId};

/// A key whose reconcile is in progress.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) run: RunId,
    pub(crate) group: String,
    /// The earliest request that came in during the run, before any backoff floor.
    pub(crate) pending: Option<(Instant, Reason)>,
    /// [`forget`](Slots::forget) was called during the run: do not schedule it again.
    pub(crate) forgotten: bool,
    /// A request during the run [resets the backoff](Reason::resets_backoff): apply it once the
    /// run's own result is counted.
    pub(crate) reset_backoff: bool,
}

#[derive(Debug)]
pub(crate) struct Slots<K> {
    concurrency: usize,
    per_group: usize,
    /// Due keys waiting for a slot, per group. A group with no waiting key has no entry.
    ready: BTreeMap<String, VecDeque<(K, Reason)>>,
    /// The group of each waiting key.
    ready_keys: HashMap<K, String>,
    running: HashMap<K, Running>,
    running_per_group: HashMap<String, usize>,
    /// The group that started a key last: the next pick starts after it.
    cursor: Option<String>,
}

impl<K: Clone + Eq + Hash> Slots<K> {
    /// A limit of 0 means "no limit".
    pub(crate) fn new(concurrency: usize, per_group: usize) -> Self {
        let unlimited = |n: usize| if n == 0 { usize::MAX } else { n };
        Self {
            concurrency: unlimited(concurrency),
            per_group: unlimited(per_group),
            ready: BTreeMap::new(),
            ready_keys: HashMap::new(),
            running: HashMap::new(),
            running_per_group: HashMap::new(),
            cursor: None,
        }
    }

    pub(crate) fn is_ready(&self, key: &K) -> bool {
        self.ready_keys.contains_key(key)
    }

    pub(crate) fn is_running(&self, key: &K) -> bool {
        self.running.contains_key(key)
    }

    /// Queues a due key that is neither waiting nor running.
    pub(crate) fn push_ready(&mut self, key: K, group: String, reason: Reason) {
        debug_assert!(!self.is_ready(&key) && !self.is_running(&key));
        self.ready_keys.insert(key.clone(), group.clone());
        self.ready.entry(group).or_default().push_back((key, reason));
    }

    /// Records a request for a running key; the earliest one wins. Returns `false` if `key` is not
    /// running. A request revives a key forgotten during its run.
    pub(crate) fn request_while_running(&mut self, key: &K, at: Instant, reason: Reason) -> bool {
        let Some(run) = self.running.get_mut(key) else {
            return false;
        };
        run.forgotten = false;
        run.reset_backoff |= reason.resets_backoff();
        if run.pending.is_none_or(|(due, _)| at < due) {
            run.pending = Some((at, reason));
        }
        true
    }

    /// The id of `key`'s run in progress.
    pub(crate) fn running_run(&self, key: &K) -> Option<RunId> {
        self.running.get(key).map(|r| r.run)
    }

    /// Takes the next key that may start now and marks it running as `run`.
    pub(crate) fn start_next(&mut self, run: RunId) -> Option<(K, Reason)> {
        if self.running.len() >= self.concurrency {
            return None;
        }
        let group = {
            let free = |g: &&String| self.running_per_group.get(*g).copied().unwrap_or(0) < self.per_group;
            // Groups after the cursor, then the rest (wrapping around): round-robin.
            let (after, upto) = match self.cursor.as_deref() {
                Some(c) => (
                    self.ready.range::<str, _>((Bound::Excluded(c), Bound::Unbounded)),
                    self.ready.range::<str, _>((Bound::Unbounded, Bound::Included(c))),
                ),
                None => (
                    self.ready.range::<str, _>((Bound::Unbounded, Bound::Unbounded)),
                    self.ready
                        .range::<str, _>((Bound::Unbounded, Bound::Excluded(""))),
                ),
            };
            after.chain(upto).map(|(g, _)| g).find(free)?.clone()
        };
        let queue = self.ready.get_mut(&group)?;
        let (key, reason) = queue.pop_front()?;
        if queue.is_empty() {
            self.ready.remove(&group);
        }
        self.ready_keys.remove(&key);
        *self.running_per_group.entry(group.clone()).or_default() += 1;
        self.cursor = Some(group.clone());
        self.running.insert(
            key.clone(),
            Running {
                run,
                group,
                pending: None,
                forgotten: false,
                reset_backoff: false,
            },
        );
        Some((key, reason))
    }

    /// Ends the run of `key`, freeing its slots.
    pub(crate) fn finish(&mut self, key: &K) -> Option<Running> {
        let run = self.running.remove(key)?;
        if let Some(n) = self.running_per_group.get_mut(&run.group) {
            *n -= 1;
            if *n == 0 {
                self.running_per_group.remove(&run.group);
            }
        }
        Some(run)
    }

    /// Drops a waiting key; marks a running key so that its run ends without a follow-up.
    pub(crate) fn forget(&mut self, key: &K) {
        if let Some(group) = self.ready_keys.remove(key) {
            if let Some(queue) = self.ready.get_mut(&group) {
                queue.retain(|(k, _)| k != key);
                if queue.is_empty() {
                    self.ready.remove(&group);
                }
            }
        }
        if let Some(run) = self.running.get_mut(key) {
            run.forgotten = true;
            run.pending = None;
            run.reset_backoff = false;
        }
    }

    pub(crate) fn ready_len(&self) -> usize {
        self.ready_keys.len()
    }

    pub(crate) fn running_len(&self) -> usize {
        self.running.len()
    }

    pub(crate) fn pending_len(&self) -> usize {
        self.running.values().filter(|r| r.pending.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(keys: &[(&'static str, &str)], concurrency: usize, per_group: usize) -> Slots<&'static str> {
        let mut s = Slots::new(concurrency, per_group);
        for (key, group) in keys {
            s.push_ready(*key, (*group).to_owned(), Reason::Source);
        }
        s
    }

    fn start_all(s: &mut Slots<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| s.start_next(RunId(0)).map(|(k, _)| k)).collect()
    }

    #[test]
    fn serves_groups_round_robin() {
        let keys = [
            ("a1", "a"),
            ("a2", "a"),
            ("a3", "a"),
            ("b1", "b"),
            ("c1", "c"),
            ("c2", "c"),
        ];
        let mut s = slots(&keys, 0, 0);
        assert_eq!(start_all(&mut s), ["a1", "b1", "c1", "a2", "c2", "a3"]);
    }

    #[test]
    fn a_full_group_is_skipped_not_waited_for() {
        let mut s = slots(&[("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")], 3, 1);
        assert_eq!(start_all(&mut s), ["a1", "b1"]);
        s.finish(&"b1");
        assert_eq!(start_all(&mut s), ["b2"]);
        assert_eq!((s.ready_len(), s.running_len()), (1, 2));
    }

    #[test]
    fn the_global_limit_holds() {
        let mut s = slots(&[("a1", "a"), ("b1", "b"), ("c1", "c")], 2, 0);
        assert_eq!(start_all(&mut s).len(), 2);
        s.finish(&"a1");
        assert_eq!(start_all(&mut s), ["c1"]);
    }

    #[test]
    fn requests_fold_into_one_pending_and_forget_drops_them() {
        let mut s = slots(&[("a1", "a"), ("a2", "a")], 0, 0);
        s.start_next(RunId(1));
        let now = Instant::now();
        assert!(s.request_while_running(&"a1", now + std::time::Duration::from_secs(5), Reason::Resync));
        assert!(s.request_while_running(&"a1", now, Reason::DockerEvent));
        assert!(s.request_while_running(&"a1", now, Reason::Manual));
        assert!(
            !s.request_while_running(&"a2", now, Reason::Manual),
            "a2 is not running"
        );
        assert_eq!(s.pending_len(), 1);
        s.forget(&"a2");
        assert!(!s.is_ready(&"a2"));
        s.forget(&"a1");
        let run = s.finish(&"a1").unwrap();
        assert!(run.forgotten && run.pending.is_none());
        assert_eq!((s.ready_len(), s.running_len()), (0, 0));
    }
}
