//! The runtime's properties, end to end, under paused time (no real sleeps).
//!
//! Keys are `"group/name"` strings. [`Fake`] plays a scripted reconciler and records every run:
//! when it started, and how many ran at once, overall, per group and per key.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{broadcast, oneshot},
    task::JoinHandle,
    time::{sleep, Instant},
};

use super::*;

/// What a scripted reconcile does.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Succeeds after the delay.
    Ok(Action, Duration),
    /// Fails after the delay.
    Err(Duration),
    /// Never finishes.
    Hang,
    /// Panics at once.
    Panic,
}

const QUICK: Step = Step::Ok(Action::AwaitChange, Duration::ZERO);
const MS: Duration = Duration::from_millis(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

type Script = Box<dyn Fn(&str, u32) -> Step + Send + Sync>;

#[derive(Default)]
struct Probe {
    /// `(key, start offset from t0)`, in start order.
    runs: Vec<(String, Duration)>,
    running: HashSet<String>,
    running_per_group: HashMap<String, usize>,
    max_running: usize,
    max_per_group: usize,
    /// Runs that started while the same key was running.
    overlaps: usize,
    /// Runs dropped before they finished (cancelled).
    cancelled: usize,
}

struct Fake {
    t0: Instant,
    /// `(key, nth run of that key, from 1) -> step`.
    script: Script,
    probe: Mutex<Probe>,
}

/// Unregisters a run when its future ends or is dropped.
struct RunGuard<'a> {
    fake: &'a Fake,
    key: String,
    finished: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut p = self.fake.probe.lock().unwrap();
        p.running.remove(&self.key);
        *p.running_per_group.get_mut(group_of(&self.key)).unwrap() -= 1;
        if !self.finished {
            p.cancelled += 1;
        }
    }
}

fn group_of(key: &str) -> &str {
    key.split('/').next().unwrap_or_default()
}

impl Fake {
    fn new(script: impl Fn(&str, u32) -> Step + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            t0: Instant::now(),
            script: Box::new(script),
            probe: Mutex::default(),
        })
    }

    fn runs_of(&self, key: &str) -> Vec<Duration> {
        let p = self.probe.lock().unwrap();
        p.runs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, at)| *at)
            .collect()
    }

    fn total_runs(&self) -> usize {
        self.probe.lock().unwrap().runs.len()
    }
}

impl Reconciler for Fake {
    type Key = String;
    type Error = String;

    async fn reconcile(&self, key: String) -> Result<Action, String> {
        let step = {
            let mut p = self.probe.lock().unwrap();
            let nth = p.runs.iter().filter(|(k, _)| *k == key).count() + 1;
            p.runs.push((key.clone(), self.t0.elapsed()));
            if !p.running.insert(key.clone()) {
                p.overlaps += 1;
            }
            let in_group = p.running_per_group.entry(group_of(&key).to_owned()).or_default();
            *in_group += 1;
            let in_group = *in_group;
            p.max_per_group = p.max_per_group.max(in_group);
            p.max_running = p.max_running.max(p.running.len());
            (self.script)(&key, u32::try_from(nth).unwrap())
        };
        let mut guard = RunGuard {
            fake: self,
            key,
            finished: false,
        };
        let result = match step {
            Step::Ok(action, delay) => {
                sleep(delay).await;
                Ok(action)
            }
            Step::Err(delay) => {
                sleep(delay).await;
                Err(format!("{} failed", guard.key))
            }
            Step::Hang => std::future::pending().await,
            Step::Panic => panic!("boom"),
        };
        guard.finished = true;
        result
    }

    fn group(&self, key: &String) -> String {
        group_of(key).to_owned()
    }
}

fn config() -> Config {
    Config {
        concurrency: 8,
        per_group: 8,
        resync: secs(300),
        backoff_min: secs(1),
        backoff_max: secs(300),
        shutdown_grace: secs(30),
    }
}

struct Harness {
    fake: Arc<Fake>,
    handle: Handle<String>,
    outcomes: broadcast::Receiver<Outcome<String>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Harness {
    fn start(config: Config, script: impl Fn(&str, u32) -> Step + Send + Sync + 'static) -> Self {
        let fake = Fake::new(script);
        let (runtime, handle) = Runtime::new(Arc::clone(&fake), config);
        let outcomes = handle.subscribe();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(runtime.run(async {
            let _ = stopped.await;
        }));
        Self {
            fake,
            handle,
            outcomes,
            stop: Some(stop),
            task,
        }
    }

    fn enqueue(&self, key: &str, reason: Reason) {
        self.handle.enqueue(key.to_owned(), reason);
    }

    fn outcomes(&mut self) -> Vec<Outcome<String>> {
        std::iter::from_fn(|| self.outcomes.try_recv().ok()).collect()
    }

    /// Signals shutdown and returns how long `run` took to return.
    async fn shutdown(&mut self) -> Duration {
        let began = Instant::now();
        self.stop.take().unwrap().send(()).unwrap();
        (&mut self.task).await.unwrap();
        began.elapsed()
    }
}

fn gaps(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1].saturating_sub(w[0])).collect()
}

/// `d` in `[lo, hi]`, with a millisecond of slack for timer rounding.
fn assert_within(d: Duration, lo: Duration, hi: Duration) {
    assert!(d >= lo && d <= hi + MS, "{d:?} not in [{lo:?}, {hi:?}]");
}

#[tokio::test(start_paused = true)]
async fn many_requests_before_a_run_make_one_run() {
    let mut h = Harness::start(config(), |_, _| QUICK);
    for reason in [
        Reason::Source,
        Reason::DockerEvent,
        Reason::Relist,
        Reason::Manual,
    ]
    .repeat(25)
    {
        h.enqueue("a/1", reason);
    }
    assert_eq!(h.handle.queue_depth(), 1);
    sleep(secs(10)).await;
    assert_eq!(h.fake.runs_of("a/1"), [Duration::ZERO]);
    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        outcomes[0].reason,
        Reason::Source,
        "ties keep the first request's reason"
    );
    assert_eq!(outcomes[0].result, Ok(Action::AwaitChange));
}

#[tokio::test(start_paused = true)]
async fn scheduling_keeps_the_earliest_requested_time() {
    let h = Harness::start(config(), |_, _| QUICK);
    let key = "a/1".to_owned();
    h.handle.enqueue_after(key.clone(), secs(10), Reason::Source);
    h.handle.enqueue_after(key.clone(), secs(3), Reason::DockerEvent);
    h.handle.enqueue_after(key.clone(), secs(7), Reason::Relist);
    h.handle.enqueue_after(key, secs(60), Reason::Source);
    assert_eq!(
        h.handle.stats(),
        QueueStats {
            ready: 0,
            scheduled: 1,
            running: 0,
            pending: 0
        }
    );
    sleep(secs(100)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_within(runs[0], secs(3), secs(3));
}

#[tokio::test(start_paused = true)]
async fn never_runs_a_key_twice_at_once_and_reruns_it_once_after() {
    let h = Harness::start(config(), |_, _| Step::Ok(Action::AwaitChange, secs(10)));
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    for reason in [
        Reason::Source,
        Reason::DockerEvent,
        Reason::Manual,
        Reason::Relist,
    ]
    .repeat(50)
    {
        h.enqueue("a/1", reason);
    }
    h.handle.enqueue_after("a/1".to_owned(), secs(2), Reason::Source);
    assert_eq!(
        h.handle.stats(),
        QueueStats {
            ready: 0,
            scheduled: 0,
            running: 1,
            pending: 1
        }
    );
    sleep(secs(60)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_within(runs[1], secs(10), secs(10));
    assert_eq!(h.fake.probe.lock().unwrap().overlaps, 0);
}

#[tokio::test(start_paused = true)]
async fn bounds_global_and_per_group_concurrency() {
    let config = Config {
        concurrency: 6,
        per_group: 2,
        ..config()
    };
    let h = Harness::start(config, |_, _| Step::Ok(Action::AwaitChange, secs(1)));
    for g in ["a", "b", "c", "d"] {
        for i in 0..5 {
            h.enqueue(&format!("{g}/{i}"), Reason::Source);
        }
    }
    sleep(secs(60)).await;
    let p = h.fake.probe.lock().unwrap();
    assert_eq!(p.runs.len(), 20);
    assert_eq!(p.max_running, 6);
    assert_eq!(p.max_per_group, 2);
}

#[tokio::test(start_paused = true)]
async fn a_hung_group_does_not_delay_other_groups() {
    let config = Config {
        concurrency: 4,
        per_group: 1,
        ..config()
    };
    let h = Harness::start(config, |key, _| {
        if key == "a/hang" {
            Step::Hang
        } else {
            Step::Ok(Action::AwaitChange, secs(1))
        }
    });
    h.enqueue("a/hang", Reason::Source);
    h.enqueue("a/next", Reason::Source);
    for i in 0..5 {
        h.enqueue(&format!("b/{i}"), Reason::Source);
    }
    sleep(secs(30)).await;
    for i in 0..5u64 {
        let runs = h.fake.runs_of(&format!("b/{i}"));
        assert_eq!(runs.len(), 1);
        assert_within(runs[0], secs(i), secs(i));
    }
    assert!(
        h.fake.runs_of("a/next").is_empty(),
        "per_group = 1 and a/hang holds the slot"
    );
    assert_eq!(h.handle.stats().running, 1);
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_exponentially_and_success_resets() {
    let mut h = Harness::start(config(), |_, nth| match nth {
        1..=4 | 6 => Step::Err(Duration::ZERO),
        _ => QUICK,
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(400)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 7, "{runs:?}");
    let gaps = gaps(&runs);
    // Jitter draws each delay from [base, 2·base).
    for (gap, base) in gaps.iter().zip([1, 2, 4, 8]) {
        assert_within(*gap, secs(base), secs(2 * base));
    }
    assert_within(gaps[4], secs(300), secs(330)); // success: resync, not backoff
    assert_within(gaps[5], secs(1), secs(2)); // the failure after a success starts over
    let outcomes = h.outcomes();
    let attempts: Vec<u32> = outcomes.iter().map(|o| o.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5, 1, 2]);
    assert_eq!(outcomes[0].result, Err("a/1 failed".to_owned()));
    assert_eq!(outcomes[1].reason, Reason::Backoff);
    assert_eq!(outcomes[5].reason, Reason::Resync);
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped_with_jitter_kept_at_the_cap() {
    let config = Config {
        backoff_min: secs(1),
        backoff_max: secs(8),
        ..config()
    };
    let h = Harness::start(config, |_, _| Step::Err(Duration::ZERO));
    h.enqueue("a/1", Reason::Source);
    sleep(secs(200)).await;
    let gaps = gaps(&h.fake.runs_of("a/1"));
    assert!(gaps.len() > 20, "{gaps:?}");
    for gap in &gaps[4..] {
        assert_within(*gap, Duration::from_millis(7200), secs(8));
    }
}

#[tokio::test(start_paused = true)]
async fn events_wait_for_the_backoff_but_manual_cuts_it_short() {
    let config = Config {
        backoff_min: secs(10),
        ..config()
    };
    let mut h = Harness::start(config, |_, nth| {
        if nth == 1 {
            Step::Err(Duration::ZERO)
        } else {
            QUICK
        }
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    for reason in [Reason::DockerEvent, Reason::Source, Reason::Requeue] {
        h.enqueue("a/1", reason);
    }
    sleep(secs(2)).await;
    assert_eq!(
        h.fake.runs_of("a/1").len(),
        1,
        "an event storm must not cut the backoff short"
    );

    h.enqueue("a/1", Reason::Manual);
    sleep(MS).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 2);
    assert_within(runs[1], secs(3), secs(3));

    // The success reset the backoff: an event now runs the key at once.
    h.enqueue("a/1", Reason::DockerEvent);
    sleep(MS).await;
    assert_eq!(h.fake.runs_of("a/1").len(), 3);
    let reasons: Vec<Reason> = h.outcomes().iter().map(|o| o.reason).collect();
    assert_eq!(reasons, [Reason::Source, Reason::Manual, Reason::DockerEvent]);
}

#[tokio::test(start_paused = true)]
async fn an_event_during_backoff_runs_once_when_it_ends() {
    let config = Config {
        backoff_min: secs(10),
        ..config()
    };
    let h = Harness::start(config, |_, nth| {
        if nth == 1 {
            Step::Err(Duration::ZERO)
        } else {
            QUICK
        }
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    h.enqueue("a/1", Reason::DockerEvent);
    sleep(secs(60)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_within(runs[1], secs(10), secs(20));
}

#[tokio::test(start_paused = true)]
async fn requeue_runs_after_its_delay_and_await_change_after_resync() {
    let config = Config {
        resync: secs(60),
        ..config()
    };
    let h = Harness::start(config, |_, nth| {
        if nth <= 2 {
            Step::Ok(Action::Requeue(secs(7)), Duration::ZERO)
        } else {
            QUICK
        }
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(100)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 4, "{runs:?}");
    let gaps = gaps(&runs);
    assert_within(gaps[0], secs(7), secs(7));
    assert_within(gaps[1], secs(7), secs(7));
    assert_within(gaps[2], secs(60), secs(66));
}

#[tokio::test(start_paused = true)]
async fn forget_stops_resync_but_lets_a_running_run_finish() {
    let config = Config {
        resync: secs(60),
        ..config()
    };
    let mut h = Harness::start(config, |key, _| {
        if key == "a/slow" {
            Step::Ok(Action::AwaitChange, secs(10))
        } else {
            QUICK
        }
    });
    h.enqueue("a/quick", Reason::Source);
    h.enqueue("a/slow", Reason::Source);
    h.handle
        .enqueue_after("a/later".to_owned(), secs(5), Reason::Source);
    sleep(secs(1)).await;
    for key in ["a/quick", "a/slow", "a/later"] {
        h.handle.forget(&key.to_owned());
    }
    sleep(secs(1000)).await;
    assert_eq!(h.fake.runs_of("a/quick"), [Duration::ZERO]);
    assert_eq!(h.fake.runs_of("a/slow"), [Duration::ZERO]);
    assert!(h.fake.runs_of("a/later").is_empty());
    assert_eq!(h.fake.probe.lock().unwrap().cancelled, 0);
    let finished: Vec<String> = h.outcomes().into_iter().map(|o| o.key).collect();
    assert_eq!(finished, ["a/quick", "a/slow"]);
    assert_eq!(h.handle.stats(), QueueStats::default());

    // A later request brings a forgotten key back.
    h.enqueue("a/quick", Reason::Source);
    sleep(MS).await;
    assert_eq!(h.fake.runs_of("a/quick").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_starts_nothing_new_and_waits_for_running_reconciles() {
    let mut h = Harness::start(config(), |_, _| Step::Ok(Action::AwaitChange, secs(10)));
    h.enqueue("a/1", Reason::Source);
    h.handle.enqueue_after("a/2".to_owned(), secs(5), Reason::Source);
    sleep(secs(1)).await;
    let took = h.shutdown().await;
    assert_within(took, secs(9), secs(9));
    h.enqueue("a/3", Reason::Manual);
    sleep(secs(60)).await;
    assert_eq!(h.fake.total_runs(), 1);
    let outcomes = h.outcomes();
    assert_eq!(
        outcomes.len(),
        1,
        "the run that finished during the grace period is reported"
    );
    assert_eq!(outcomes[0].result, Ok(Action::AwaitChange));
    assert_eq!(h.fake.probe.lock().unwrap().cancelled, 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_reconciles_still_running_after_the_grace_period() {
    let config = Config {
        shutdown_grace: secs(30),
        ..config()
    };
    let mut h = Harness::start(config, |_, _| Step::Hang);
    h.enqueue("a/1", Reason::Source);
    h.enqueue("b/1", Reason::Source);
    sleep(secs(1)).await;
    let took = h.shutdown().await;
    assert_within(took, secs(30), secs(30));
    let p = h.fake.probe.lock().unwrap();
    assert_eq!(
        p.cancelled, 2,
        "the hung reconciles were dropped before run returned"
    );
    assert!(p.running.is_empty());
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_nothing_running_returns_at_once() {
    let mut h = Harness::start(config(), |_, _| QUICK);
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    assert_eq!(h.shutdown().await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_requests_while_all_slots_are_busy_do_not_deadlock() {
    let config = Config {
        concurrency: 4,
        per_group: 2,
        ..config()
    };
    let mut h = Harness::start(config, |_, _| Step::Ok(Action::AwaitChange, secs(1)));
    let keys: Vec<String> = (0..100).map(|i| format!("g{}/{i}", i % 5)).collect();
    for key in &keys {
        h.enqueue(key, Reason::Source);
    }
    sleep(MS).await;
    assert_eq!(h.handle.stats().running, 4);
    let reasons = [
        Reason::Source,
        Reason::DockerEvent,
        Reason::Relist,
        Reason::Manual,
    ];
    for i in 0..10_000 {
        h.handle.enqueue(keys[i % 100].clone(), reasons[i % 4]);
    }
    let stats = h.handle.stats();
    assert_eq!(
        stats,
        QueueStats {
            ready: 96,
            scheduled: 0,
            running: 4,
            pending: 4
        }
    );
    assert_eq!(h.handle.queue_depth(), 96);

    // 104 runs of 1 s, 4 at a time: 26 s.
    sleep(secs(27)).await;
    assert_eq!(h.handle.queue_depth(), 0);
    let p = h.fake.probe.lock().unwrap();
    assert_eq!(
        p.runs.len(),
        104,
        "every key once, and the 4 that were running once more"
    );
    assert_eq!(p.overlaps, 0);
    assert!(p.max_running <= 4 && p.max_per_group <= 2);
    drop(p);
    assert_eq!(h.outcomes().len(), 104);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reconcile_is_an_error_and_backs_off() {
    let mut h = Harness::start(config(), |_, nth| if nth == 1 { Step::Panic } else { QUICK });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(10)).await;
    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].result, Err("reconciler panicked: boom".to_owned()));
    assert_eq!((outcomes[1].attempt, outcomes[1].reason), (2, Reason::Backoff));
    let runs = h.fake.runs_of("a/1");
    assert_within(runs[1], secs(1), secs(2));
}

#[tokio::test(start_paused = true)]
async fn outcomes_carry_the_duration() {
    let mut h = Harness::start(config(), |_, _| Step::Ok(Action::Requeue(secs(100)), secs(3)));
    h.enqueue("a/1", Reason::Manual);
    sleep(secs(5)).await;
    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_within(outcomes[0].duration, secs(3), secs(3));
    assert_eq!(outcomes[0].result, Ok(Action::Requeue(secs(100))));
}

/// The reconciler may hold a [`Handle`] and use it during its own run (the queue lock is never held
/// across a reconcile).
#[tokio::test(start_paused = true)]
async fn a_reconciler_may_use_the_handle() {
    struct SelfRequeue(std::sync::OnceLock<Handle<u32>>, Mutex<u32>);
    impl Reconciler for SelfRequeue {
        type Key = u32;
        type Error = String;
        async fn reconcile(&self, key: u32) -> Result<Action, String> {
            *self.1.lock().unwrap() += 1;
            if key < 3 {
                self.0.get().unwrap().enqueue(key + 1, Reason::Source);
            }
            Ok(Action::AwaitChange)
        }
        fn group(&self, _: &u32) -> String {
            String::new()
        }
    }
    let reconciler = Arc::new(SelfRequeue(std::sync::OnceLock::new(), Mutex::new(0)));
    let (runtime, handle) = Runtime::new(Arc::clone(&reconciler), config());
    reconciler.0.set(handle.clone()).ok();
    handle.enqueue(0, Reason::Source);
    let task = tokio::spawn(runtime.run(std::future::pending()));
    sleep(secs(1)).await;
    assert_eq!(*reconciler.1.lock().unwrap(), 4);
    task.abort();
}

/// Compile-only: the loop can be spawned on a multi-threaded runtime.
#[allow(dead_code)]
fn run_future_is_send(runtime: Runtime<Fake>) {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Sync>(_: &T) {}
    let run = runtime.run(std::future::pending());
    assert_send(&run);
    let handle: Option<Handle<String>> = None;
    assert_send(&handle);
    assert_sync(&handle);
}

/// An event that arrives during a run is checked against the backoff that the run leaves behind:
/// after a failed run it waits for the backoff, after a successful run it runs at once.
#[tokio::test(start_paused = true)]
async fn an_event_during_a_run_follows_the_backoff_left_by_that_run() {
    let config = Config {
        backoff_min: secs(10),
        ..config()
    };
    let h = Harness::start(config, |_, nth| match nth {
        1 => Step::Err(Duration::ZERO),
        2 => Step::Err(secs(5)),
        _ => Step::Ok(Action::AwaitChange, secs(5)),
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    h.enqueue("a/1", Reason::Manual); // run 2 at 1 s, fails at 6 s
    sleep(secs(1)).await;
    h.enqueue("a/1", Reason::DockerEvent);
    sleep(secs(20)).await;
    assert_eq!(
        h.fake.runs_of("a/1").len(),
        2,
        "the event waits for the backoff of the failed run"
    );
    while h.fake.runs_of("a/1").len() < 3 {
        sleep(secs(1)).await;
    }
    let run3 = h.fake.runs_of("a/1")[2];
    assert_within(run3, secs(6 + 20), secs(6 + 40)); // the second backoff: [20 s, 40 s)

    // Run 3 succeeds after 5 s; an event during it runs the key right after it.
    h.enqueue("a/1", Reason::DockerEvent);
    sleep(secs(10)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_within(runs[3], run3 + secs(5), run3 + secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_relist_after_a_reconnect_cuts_the_backoff_short() {
    let config = Config {
        backoff_min: secs(60),
        ..config()
    };
    let h = Harness::start(config, |_, nth| {
        if nth == 1 {
            Step::Err(Duration::ZERO)
        } else {
            QUICK
        }
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    assert_eq!(h.fake.runs_of("a/1").len(), 1);
    h.enqueue("a/1", Reason::Relist);
    sleep(secs(1)).await;
    assert_eq!(
        h.fake.runs_of("a/1").len(),
        2,
        "the host is back: no need to wait out the backoff"
    );
}

/// "A new revision that changes a resource's desired spec resets that key's backoff and
/// reconciles it at once": a fix must not wait out the backoff of the failures before it.
#[tokio::test(start_paused = true)]
async fn a_spec_change_resets_the_backoff_and_runs_at_once() {
    let config = Config {
        backoff_min: secs(60),
        backoff_max: secs(600),
        ..config()
    };
    let mut h = Harness::start(config, |_, nth| {
        if nth <= 3 {
            Step::Err(Duration::ZERO)
        } else {
            QUICK
        }
    });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    // A revision that leaves the key as it was waits for the backoff, as before.
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    assert_eq!(
        h.fake.runs_of("a/1").len(),
        1,
        "an unchanged spec waits out the backoff"
    );

    h.enqueue("a/1", Reason::SpecChanged);
    sleep(MS).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 2, "the changed spec runs at once: {runs:?}");
    assert_within(runs[1], secs(2), secs(2));

    // Run 2 failed too: its backoff starts over at the minimum, [60 s, 120 s), not [120 s, 240 s).
    sleep(secs(300)).await;
    let runs = h.fake.runs_of("a/1");
    assert!(runs.len() >= 3, "{runs:?}");
    assert_within(runs[2] - runs[1], secs(60), secs(120));
    let attempts: Vec<(u32, Reason)> = h.outcomes().iter().map(|o| (o.attempt, o.reason)).collect();
    assert_eq!(
        attempts[..3],
        [
            (1, Reason::Source),
            (1, Reason::SpecChanged),
            (2, Reason::Backoff)
        ],
        "a spec change makes a fresh start"
    );
}

/// A spec change that arrives while the key runs (and that run then fails) runs it right after
/// that run, with a fresh backoff.
#[tokio::test(start_paused = true)]
async fn a_spec_change_during_a_failing_run_runs_again_right_after_it() {
    let config = Config {
        backoff_min: secs(60),
        ..config()
    };
    let mut h = Harness::start(config, |_, nth| if nth == 1 { Step::Err(secs(5)) } else { QUICK });
    h.enqueue("a/1", Reason::Source);
    sleep(secs(1)).await;
    h.enqueue("a/1", Reason::SpecChanged);
    sleep(secs(10)).await;
    let runs = h.fake.runs_of("a/1");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_within(runs[1], secs(5), secs(5));
    let second = &h.outcomes()[1];
    assert_eq!((second.attempt, second.reason), (1, Reason::SpecChanged));
}

/// `aegisctl reconcile` must be answered by the run it asked for: a request made while the key
/// runs is served by the next run, never by the one in flight.
#[tokio::test(start_paused = true)]
async fn a_request_is_served_only_by_a_run_that_starts_after_it() {
    let mut h = Harness::start(config(), |_, nth| {
        if nth == 1 {
            Step::Err(secs(10))
        } else {
            Step::Ok(Action::AwaitChange, secs(1))
        }
    });
    let first = h.handle.enqueue("a/1".to_owned(), Reason::Source);
    sleep(secs(1)).await;
    let in_flight = h.handle.running(&"a/1".to_owned()).expect("a/1 runs");
    assert!(in_flight.serves(first));
    let mine = h.handle.enqueue("a/1".to_owned(), Reason::Manual);
    assert!(
        !in_flight.serves(mine),
        "the run in flight started before the request"
    );
    assert_eq!(h.handle.running(&"a/1".to_owned()), Some(in_flight));
    sleep(secs(20)).await;
    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].run, in_flight);
    assert!(outcomes[0].result.is_err() && !outcomes[0].run.serves(mine));
    assert!(outcomes[1].run.serves(mine) && outcomes[1].result.is_ok());
    assert!(outcomes[1].run > outcomes[0].run);
    assert_eq!(h.handle.running(&"a/1".to_owned()), None);
}

/// A writer into a shared buffer, for reading what the runtime logs.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The runtime's own lines name a key the way every other line does, by its `Display`
/// (aegis: `Stack/x on two`), not its `Debug` (`StatusKey { kind: Stack, host: "two", … }`).
#[tokio::test(start_paused = true)]
async fn log_lines_show_keys_by_display() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let h = Harness::start(config(), |_, _| Step::Err(Duration::ZERO));
    h.enqueue("a/1", Reason::Source);
    sleep(MS).await;
    let log = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    let failed = log
        .lines()
        .find(|l| l.contains("reconcile failed"))
        .unwrap_or_else(|| panic!("no failure line in:\n{log}"));
    assert!(failed.contains("key=a/1 "), "{failed}");
    assert!(!log.contains("\"a/1\""), "a key printed with Debug:\n{log}");
}
