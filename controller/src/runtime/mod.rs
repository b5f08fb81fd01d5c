//! A generic, level-triggered control loop, in the style of kube-runtime's `Controller`.
//!
//! It knows nothing of Docker: it runs a [`Reconciler`] for keys, and decides *when*.
//!
//! - **One entry per key.** Requests ([`Handle::enqueue`], [`Handle::enqueue_after`]) are
//!   deduplicated as they arrive: a key has one due time, the earliest asked for. Memory is bounded
//!   by the number of keys, not by the number of events.
//! - **Never two runs of one key at once.** A request for a running key is remembered (once, the
//!   earliest) and served right after the run ends.
//! - **Concurrency** is bounded globally ([`Config::concurrency`]) and per group
//!   ([`Reconciler::group`], aegis: the host, [`Config::per_group`]). Groups are served
//!   round-robin, so a hung host holds only its own slots and never delays other hosts.
//! - **Errors back off per key**, exponentially with jitter, reset by a success. While a key backs
//!   off, event storms ([`Reason::DockerEvent`], [`Reason::Source`], …) wait for the backoff delay,
//!   so a failing key never hot-loops. Three reasons run it earlier: [`Reason::Manual`] (an
//!   operator asked), [`Reason::Relist`] (the host is back) and [`Reason::SpecChanged`] (its
//!   desired state changed: the backoff is reset, since the failures were about the old spec and a
//!   fix must not wait them out).
//! - **Every request and every run has an id** from one counter ([`Ticket`], [`RunId`]): a run
//!   serves the requests made before it started, so a caller who waits for "its" run
//!   ([`RunId::serves`]) is never answered by a run that was already in flight.
//! - **Resync.** After a success with [`Action::AwaitChange`] a key runs again after
//!   [`Config::resync`] (plus up to 10 % jitter); [`Handle::forget`] stops that.
//! - **Graceful shutdown.** See [`Runtime::run`].
//!
//! The reconciler is told the key only, never the [`Reason`]: it must look at the world and
//! converge it, whatever woke it up (level-triggered, hence idempotent).
//!
//! Files: `scheduler.rs` (delay and dedup), `runner.rs` (concurrency), `backoff.rs` (per-key error
//! backoff), `queue.rs` (the three together: a key's next run), this file (the API and the loop).
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use aegis::runtime::{Action, Config, Reason, Reconciler, Runtime};
//!
//! struct Hosts;
//! impl Reconciler for Hosts {
//!     type Key = String; // "host/stack"; keys are Display, for logs and traces
//!     type Error = std::io::Error;
//!     async fn reconcile(&self, key: Self::Key) -> Result<Action, Self::Error> {
//!         // Observe, diff, apply: idempotent.
//!         Ok(Action::AwaitChange)
//!     }
//!     fn group(&self, key: &Self::Key) -> String {
//!         key.split('/').next().unwrap_or_default().to_owned()
//!     }
//! }
//!
//! # async fn demo() {
//! let (runtime, handle) = Runtime::new(Arc::new(Hosts), Config::default());
//! handle.enqueue("vps/pangolin".to_owned(), Reason::Source);
//! runtime.run(async { tokio::signal::ctrl_c().await.ok(); }).await;
//! # }
//! ```

mod backoff;
mod queue;
mod runner;
mod scheduler;
#[cfg(test)]
mod tests;

use std::{
    fmt::{self, Debug},
    future::Future,
    hash::Hash,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use futures::FutureExt as _;
use tokio::{
    sync::{broadcast, Notify},
    task::JoinSet,
    time::Instant,
};
use tracing::Instrument as _;

use self::queue::{Queue, Start};

/// What the reconciler wants next for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run the key again after this delay (earlier if something else asks).
    Requeue(Duration),
    /// Nothing to do until something changes: the key runs again on the next periodic resync, or
    /// earlier on a request.
    AwaitChange,
}

/// Why a run was requested. Reported in [`Outcome`] and traces, never shown to the reconciler, and
/// not part of a key's identity: requests for one key with different reasons are one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A new revision of the desired state, which leaves this key's own desired state as it was
    /// (level-triggered: the pass is cheap when nothing changed).
    Source,
    /// This key's own desired state changed (a new revision edits it). Resets its error backoff and
    /// runs it at once: the failures behind the backoff were about the old desired state, and a
    /// fix must not wait them out.
    SpecChanged,
    /// The Docker engine reported a change (die, destroy, …) to something the key owns.
    DockerEvent,
    /// The periodic resync after [`Action::AwaitChange`].
    Resync,
    /// An operator asked (`aegisctl reconcile`).
    Manual,
    /// A retry after an error.
    Backoff,
    /// Observed state was listed again (e.g. after the events stream reconnected).
    Relist,
    /// The reconciler returned [`Action::Requeue`].
    Requeue,
}

impl Reason {
    /// Whether a request with this reason may run a key before its error backoff delay ends.
    ///
    /// [`Reason::Manual`]: an operator who asks for a run gets it at once. [`Reason::Relist`]:
    /// it follows a reconnect to the host, so the trouble behind the backoff is over.
    /// [`Reason::SpecChanged`]: see [`Reason::resets_backoff`]. Other automatic triggers
    /// (events, revisions that leave the key as it was) wait, so an event storm about a failing
    /// key cannot turn its backoff into a hot loop.
    #[must_use]
    pub fn bypasses_backoff(self) -> bool {
        matches!(self, Self::Manual | Self::Relist | Self::SpecChanged)
    }

    /// Whether a request with this reason forgets the key's consecutive failures, so that a
    /// failure after it starts the backoff again at its minimum. Only [`Reason::SpecChanged`]:
    /// the key is, in effect, a new one.
    #[must_use]
    pub fn resets_backoff(self) -> bool {
        matches!(self, Self::SpecChanged)
    }
}

/// The id of one request ([`Handle::enqueue`]). Requests and runs draw their ids from one
/// counter, so ids order them in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

/// The id of one run of a key (unique within a [`Runtime`]), shown as `#N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(u64);

impl RunId {
    /// Whether this run serves the request `ticket` (of the same key): it started after the
    /// request was made, so it saw the world as it was when the request came. A run that was
    /// already in flight when the request came does not serve it.
    #[must_use]
    pub fn serves(self, ticket: Ticket) -> bool {
        self.0 > ticket.0
    }

    /// The number, for APIs that show it.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }

    /// A run id for tests of code that reports runs.
    #[cfg(test)]
    pub(crate) fn for_test(n: u64) -> Self {
        Self(n)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Source => "source",
            Self::SpecChanged => "spec-changed",
            Self::DockerEvent => "docker-event",
            Self::Resync => "resync",
            Self::Manual => "manual",
            Self::Backoff => "backoff",
            Self::Relist => "relist",
            Self::Requeue => "requeue",
        };
        f.write_str(s)
    }
}

/// Converges one key. Called by [`Runtime`], never twice at once for one key.
pub trait Reconciler: Send + Sync + 'static {
    /// What is reconciled (aegis: one resource). Its `Ord` orders the schedule on ties.
    type Key: Clone + Eq + Hash + Ord + Debug + std::fmt::Display + Send + Sync + 'static;
    /// A failed reconcile; its `Display` text goes to [`Outcome::result`] and the logs.
    type Error: fmt::Display + Send + 'static;

    /// Makes the world match the desired state of `key`. Must be idempotent: it is not told why it
    /// runs, and may run again at any time. A panic counts as an error.
    fn reconcile(&self, key: Self::Key) -> impl Future<Output = Result<Action, Self::Error>> + Send;

    /// The concurrency group of a key (aegis: the host name). At most [`Config::per_group`] keys
    /// of one group run at once. Must be cheap and must not call the [`Handle`]: it is called with
    /// the queue locked.
    fn group(&self, key: &Self::Key) -> String;
}

/// Tuning of a [`Runtime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most reconciles running at once, over all groups. 0: no limit.
    pub concurrency: usize,
    /// Most reconciles of one group running at once. 0: no limit.
    pub per_group: usize,
    /// Delay before a key that returned [`Action::AwaitChange`] runs again (plus up to 10 %).
    pub resync: Duration,
    /// First error backoff delay (raised to at least 1 ms). Jitter adds up to 100 %.
    pub backoff_min: Duration,
    /// Largest error backoff delay.
    pub backoff_max: Duration,
    /// How long [`Runtime::run`] waits for running reconciles after shutdown before it drops them.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            concurrency: 32,
            per_group: 4,
            resync: Duration::from_secs(5 * 60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// One finished reconcile, as sent to [`Handle::subscribe`] receivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<K> {
    pub key: K,
    /// This run's id: it [serves](RunId::serves) the requests made before it started.
    pub run: RunId,
    /// The reason of the request that started this run (the earliest one, if several merged).
    pub reason: Reason,
    /// The reconciler's action, or its error's text.
    pub result: Result<Action, String>,
    /// Wall time of the reconcile.
    pub duration: Duration,
    /// 1, plus the consecutive errors of this key before this run.
    pub attempt: u32,
}

/// A snapshot of the queue, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Keys due now and waiting for a slot (or for the loop to pick them up).
    pub ready: usize,
    /// Keys waiting for a later time (resync, requeue, backoff, delayed request).
    pub scheduled: usize,
    /// Keys being reconciled.
    pub running: usize,
    /// Running keys that already have their next run requested.
    pub pending: usize,
}

/// State shared by the [`Runtime`] and its [`Handle`]s.
struct Shared<K> {
    queue: Mutex<Queue<K>>,
    /// Wakes the loop after a request; a permit is stored if it is busy, so none is lost.
    wake: Notify,
    outcomes: broadcast::Sender<Outcome<K>>,
}

impl<K> Shared<K> {
    /// The queue is only mutated by non-panicking code (see [`Reconciler::group`]), so a poisoned
    /// lock still guards a usable queue.
    fn queue(&self) -> MutexGuard<'_, Queue<K>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends requests to a [`Runtime`] and observes it. Cheap to clone; never blocks on the loop.
pub struct Handle<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: Clone + Eq + Hash + Ord> Handle<K> {
    /// Runs `key` as soon as possible. Many requests before it starts make one run; a request
    /// while it runs makes one more run right after. While `key` backs off after an error, only
    /// the reasons that [bypass](Reason::bypasses_backoff) it run it before the delay ends.
    ///
    /// The returned [`Ticket`] names this request: the first [`Outcome`] of `key` whose run
    /// [serves](RunId::serves) it is the answer to it.
    pub fn enqueue(&self, key: K, reason: Reason) -> Ticket {
        self.request(key, Instant::now(), reason)
    }

    /// Runs `key` after `delay`, or earlier if it is already due earlier.
    pub fn enqueue_after(&self, key: K, delay: Duration, reason: Reason) -> Ticket {
        self.request(key, Instant::now() + delay, reason)
    }

    /// The run of `key` in progress, if any.
    #[must_use]
    pub fn running(&self, key: &K) -> Option<RunId> {
        self.shared.queue().running(key)
    }

    /// `key` left the desired state: drop its pending requests, resync and backoff. A run in
    /// progress finishes (its outcome is still sent) and is not followed by another. A later
    /// request brings the key back.
    pub fn forget(&self, key: &K) {
        self.shared.queue().forget(key);
    }

    /// Every finished reconcile from now on. A receiver that lags loses the oldest outcomes.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome<K>> {
        self.shared.outcomes.subscribe()
    }

    /// Keys due now that have not started: the backlog ([`QueueStats::ready`]).
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.stats().ready
    }

    /// A snapshot of the queue.
    #[must_use]
    pub fn stats(&self) -> QueueStats {
        self.shared.queue().stats(Instant::now())
    }

    fn request(&self, key: K, at: Instant, reason: Reason) -> Ticket {
        let ticket = self.shared.queue().request(key, at, reason);
        self.shared.wake.notify_one();
        ticket
    }
}

/// The control loop. Build it with [`Runtime::new`], drive it with [`Runtime::run`].
pub struct Runtime<R: Reconciler> {
    reconciler: Arc<R>,
    config: Config,
    shared: Arc<Shared<R::Key>>,
}

/// Capacity of the outcome channel: a subscriber more than this far behind loses outcomes.
const OUTCOME_BUFFER: usize = 1024;

/// What a reconcile task hands back to the loop.
struct Finished<K> {
    key: K,
    run: RunId,
    reason: Reason,
    attempt: u32,
    result: Result<Action, String>,
    duration: Duration,
}

impl<R: Reconciler> Runtime<R> {
    /// A runtime with an empty queue, and the handle to feed it.
    pub fn new(reconciler: Arc<R>, config: Config) -> (Self, Handle<R::Key>) {
        let (outcomes, _) = broadcast::channel(OUTCOME_BUFFER);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(&config)),
            wake: Notify::new(),
            outcomes,
        });
        let handle = Handle {
            shared: Arc::clone(&shared),
        };
        (
            Self {
                reconciler,
                config,
                shared,
            },
            handle,
        )
    }

    /// Another handle to this runtime.
    #[must_use]
    pub fn handle(&self) -> Handle<R::Key> {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs reconciles until `shutdown` resolves. Then it starts nothing more, gives the running
    /// reconciles [`Config::shutdown_grace`] to finish (their outcomes are still sent), drops
    /// (cancels) those still running, and returns. Requests made after that are kept in the queue
    /// but never run.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let next_due = self.dispatch(&mut tasks);
            let sleep = async move {
                match next_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(joined) = tasks.join_next() => self.finish(joined),
                () = self.shared.wake.notified() => {}
                () = sleep => {}
            }
        }
        self.drain(tasks).await;
    }

    /// Promotes due keys and starts all that may start. Returns when the next key becomes due.
    fn dispatch(&self, tasks: &mut JoinSet<Finished<R::Key>>) -> Option<Instant> {
        let mut queue = self.shared.queue();
        queue.promote(Instant::now(), |key| self.reconciler.group(key));
        while let Some(start) = queue.start_next() {
            tasks.spawn(reconcile(Arc::clone(&self.reconciler), start));
        }
        queue.next_due()
    }

    /// Records a finished reconcile: schedules the key's next run, and publishes the outcome.
    fn finish(&self, joined: Result<Finished<R::Key>, tokio::task::JoinError>) {
        // `reconcile` catches panics, so a task only fails if it was aborted, which happens in
        // `drain` alone, after the last call here.
        let Ok(done) = joined else { return };
        let result = done.result.as_ref().map(|action| *action).map_err(|_| ());
        self.shared.queue().complete(&done.key, result, Instant::now());
        match &done.result {
            Ok(action) => {
                tracing::debug!(key = %done.key, run = %done.run, ?action, duration = ?done.duration, "reconcile done");
            }
            Err(message) => {
                tracing::warn!(key = %done.key, run = %done.run, attempt = done.attempt, error = %message, "reconcile failed");
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = self.shared.outcomes.send(Outcome {
            key: done.key,
            run: done.run,
            reason: done.reason,
            result: done.result,
            duration: done.duration,
            attempt: done.attempt,
        });
    }

    /// Waits up to the grace period for running reconciles, then cancels the rest.
    async fn drain(&self, mut tasks: JoinSet<Finished<R::Key>>) {
        let running = tasks.len();
        if running > 0 {
            tracing::info!(running, grace = ?self.config.shutdown_grace, "shutting down: waiting for reconciles");
        }
        let deadline = tokio::time::sleep(self.config.shutdown_grace);
        let mut deadline = std::pin::pin!(deadline);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(joined) => self.finish(joined),
                    None => return,
                },
                () = &mut deadline => break,
            }
        }
        tracing::warn!(
            cancelled = tasks.len(),
            "shutdown grace elapsed: cancelling running reconciles"
        );
        tasks.shutdown().await;
    }
}

/// Runs one reconcile in its own task, under its own span: a root (`parent: None`), so that
/// each reconcile is one trace of its own whatever span the loop itself runs in.
async fn reconcile<R: Reconciler>(reconciler: Arc<R>, start: Start<R::Key>) -> Finished<R::Key> {
    let Start {
        key,
        run,
        reason,
        attempt,
    } = start;
    let span = tracing::info_span!(
        parent: None,
        "reconcile",
        key = %key,
        run = %run,
        %reason,
        attempt,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    tracing::debug!(key = %key, run = %run, %reason, attempt, "reconcile started");
    let began = Instant::now();
    let result = AssertUnwindSafe(reconciler.reconcile(key.clone()))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    let result = match result {
        Ok(Ok(action)) => Ok(action),
        Ok(Err(error)) => Err(error.to_string()),
        Err(panic) => Err(format!("reconciler panicked: {}", panic_message(&*panic))),
    };
    if let Err(message) = &result {
        // `otel.*` fields become the OpenTelemetry span status (tracing-opentelemetry).
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", message.as_str());
    }
    Finished {
        key,
        run,
        reason,
        attempt,
        result,
        duration: began.elapsed(),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
