//! What the API may ask of the loop ([`crate::api::Control`]): reconcile now (waiting for the
//! result), suspend and resume. Triggers go through the work queue like everything else, so a
//! manual reconcile never runs beside an automatic one for the same key.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::snapshot::Shared;
use crate::{
    api::{Control, ControlError, ReconcileResult},
    desired::Kind,
    runtime::{Handle, Outcome, Reason, RunId, Ticket},
    status::{StatusKey, StatusStore},
};

pub struct Triggers {
    handle: Handle<StatusKey>,
    snapshot: Shared,
    store: StatusStore,
}

impl Triggers {
    pub fn new(handle: Handle<StatusKey>, snapshot: Shared, store: StatusStore) -> Self {
        Self {
            handle,
            snapshot,
            store,
        }
    }

    fn key(&self, kind: Kind, name: &str) -> Result<StatusKey, ControlError> {
        let snap = self
            .snapshot
            .get()
            .ok_or_else(|| ControlError::Unavailable("no revision accepted yet".into()))?;
        snap.find(kind, name).cloned().ok_or(ControlError::NotFound {
            kind,
            name: name.to_string(),
        })
    }

    /// Enqueues `keys` now and waits, up to `wait`, for a run of each that started after the
    /// request: a run already in flight when the request came saw the world as it was before,
    /// so it is not the answer.
    fn run_and_wait(
        &self,
        keys: Vec<StatusKey>,
        wait: Duration,
    ) -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>> {
        let mut rx = self.handle.subscribe();
        let mut waiting: BTreeMap<StatusKey, Ticket> = BTreeMap::new();
        for k in keys {
            let ticket = self.handle.enqueue(k.clone(), Reason::Manual);
            tracing::debug!(key = %k, "reconcile requested through the API");
            waiting.insert(k, ticket);
        }
        let revision = self.snapshot.get().map(|s| s.revision().to_string());
        let handle = self.handle.clone();
        Box::pin(async move {
            let mut results = Vec::new();
            let deadline = tokio::time::Instant::now() + wait;
            while !waiting.is_empty() {
                let outcome: Outcome<StatusKey> = match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(o)) => o,
                    Ok(Err(RecvError::Lagged(_))) => continue,
                    Ok(Err(RecvError::Closed)) => {
                        return Err(ControlError::Unavailable("shutting down".into()))
                    }
                    Err(_) => {
                        let left: Vec<Unfinished> = waiting
                            .iter()
                            .map(|(key, ticket)| Unfinished {
                                key: key.clone(),
                                running: handle.running(key).filter(|run| run.serves(*ticket)),
                            })
                            .collect();
                        return Err(ControlError::TimedOut(unfinished_message(&left, wait)));
                    }
                };
                let Some(ticket) = waiting.get(&outcome.key) else {
                    continue;
                };
                if !outcome.run.serves(*ticket) {
                    continue; // the run that was in flight when we asked
                }
                waiting.remove(&outcome.key);
                let (succeeded, message) = match &outcome.result {
                    Ok(_) => (true, "reconciled".to_string()),
                    Err(e) => (false, e.clone()),
                };
                results.push(ReconcileResult {
                    kind: outcome.key.kind,
                    name: outcome.key.name.clone(),
                    host: outcome.key.host.clone(),
                    succeeded,
                    revision: revision.clone(),
                    message,
                    duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
                    run: Some(outcome.run.get()),
                });
            }
            Ok(results)
        })
    }
}

/// A requested run that had not finished at the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unfinished {
    key: StatusKey,
    /// The run serving the request, if it has started.
    running: Option<RunId>,
}

/// What a reconcile request that ran out of time answers (HTTP 504): which resources are still
/// queued, which still running. The requests stay queued: the runs happen later.
fn unfinished_message(left: &[Unfinished], waited: Duration) -> String {
    let waited = humantime::format_duration(Duration::from_secs(waited.as_secs().max(1)));
    let state = |u: &Unfinished| match u.running {
        Some(run) => format!("{} is still running (run {run})", u.key),
        None => format!(
            "{} is still queued (behind a run that was in flight, or waiting for a free slot on host `{}`)",
            u.key, u.key.host
        ),
    };
    match left {
        [one] => format!("{} after {waited}; it will still run", state(one)),
        many => {
            let shown: Vec<String> = many.iter().take(5).map(state).collect();
            let more = many.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            };
            format!(
                "{} resources not reconciled after {waited}; they will still run: {}{more}",
                many.len(),
                shown.join("; ")
            )
        }
    }
}

impl Control for Triggers {
    fn reconcile(
        &self,
        kind: Kind,
        name: String,
        wait: Duration,
    ) -> BoxFuture<'static, Result<ReconcileResult, ControlError>> {
        let key = match self.key(kind, &name) {
            Ok(k) => k,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        if self.store.get(&key).is_some_and(|s| s.suspended) {
            return Box::pin(async move { Err(ControlError::Suspended { kind, name }) });
        }
        let fut = self.run_and_wait(vec![key], wait);
        Box::pin(async move {
            let mut r = fut.await?;
            r.pop().ok_or_else(|| ControlError::Internal("no result".into()))
        })
    }

    fn reconcile_all(
        &self,
        wait: Duration,
    ) -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>> {
        let Some(snap) = self.snapshot.get() else {
            return Box::pin(async { Err(ControlError::Unavailable("no revision accepted yet".into())) });
        };
        let keys = snap
            .keys
            .iter()
            .filter(|k| !self.store.get(k).is_some_and(|s| s.suspended))
            .cloned()
            .collect();
        self.run_and_wait(keys, wait)
    }

    fn suspend(
        &self,
        kind: Kind,
        name: String,
        suspended: bool,
    ) -> BoxFuture<'static, Result<(), ControlError>> {
        let r = self.key(kind, &name).map(|key| {
            self.store.update(&key, |s| s.mark_suspended(suspended));
            if !suspended {
                self.handle.enqueue(key, Reason::Manual);
            }
        });
        Box::pin(async move { r })
    }

    fn ready(&self) -> bool {
        self.snapshot.get().is_some()
    }
}

/// Forgets keys whose resource left the desired state once their (prune) pass succeeded, so
/// they stop being resynced.
pub async fn forget_removed(handle: Handle<StatusKey>, snapshot: Shared, stop: CancellationToken) {
    let mut rx = handle.subscribe();
    loop {
        let o = tokio::select! {
            _ = stop.cancelled() => return,
            o = rx.recv() => o,
        };
        match o {
            Ok(o) if o.result.is_ok() => {
                if snapshot.get().is_some_and(|s| !s.keys.contains(&o.key)) {
                    handle.forget(&o.key);
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

#[allow(dead_code)]
fn _assert_send(t: Arc<Triggers>) -> Arc<dyn Control> {
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> StatusKey {
        StatusKey::new(Kind::Stack, "two", name)
    }

    #[test]
    fn a_timed_out_request_says_whether_its_run_is_queued_or_running() {
        let queued = Unfinished {
            key: key("x"),
            running: None,
        };
        let msg = unfinished_message(std::slice::from_ref(&queued), Duration::from_secs(2));
        assert_eq!(
            msg,
            "Stack/x on two is still queued (behind a run that was in flight, or waiting for a free \
             slot on host `two`) after 2s; it will still run"
        );
        let running = Unfinished {
            key: key("y"),
            running: Some(RunId::for_test(12)),
        };
        let msg = unfinished_message(std::slice::from_ref(&running), Duration::from_secs(600));
        assert_eq!(
            msg,
            "Stack/y on two is still running (run #12) after 10m; it will still run"
        );
        let many: Vec<Unfinished> = (0..7)
            .map(|i| Unfinished {
                key: key(&format!("s{i}")),
                running: (i % 2 == 1).then(|| RunId::for_test(i)),
            })
            .collect();
        let msg = unfinished_message(&many, Duration::from_millis(90_500));
        assert!(
            msg.starts_with("7 resources not reconciled after 1m 30s"),
            "{msg}"
        );
        assert!(msg.contains("Stack/s1 on two is still running (run #1)"), "{msg}");
        assert!(msg.ends_with("; and 2 more"), "{msg}");
    }
}
