//! What the API may ask of the loop ([`crate::api::Control`]): reconcile now (waiting for the
//! result), suspend and resume. Triggers go through the work queue like everything else, so a
//! manual reconcile never runs beside an automatic one for the same key.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::snapshot::Shared;
use crate::{
    api::{Control, ControlError, ReconcileResult},
    desired::Kind,
    runtime::{Handle, Outcome, Reason},
    status::{StatusKey, StatusStore},
};

/// The longest `aegisctl reconcile` waits for its pass.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

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

    /// Enqueues `keys` now and waits for one outcome of each.
    fn run_and_wait(
        &self,
        keys: Vec<StatusKey>,
    ) -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>> {
        let mut rx = self.handle.subscribe();
        for k in &keys {
            self.handle.enqueue(k.clone(), Reason::Manual);
            tracing::debug!(key = %k, "reconcile requested through the API");
        }
        let revision = self.snapshot.get().map(|s| s.revision().to_string());
        Box::pin(async move {
            let mut waiting: std::collections::BTreeSet<StatusKey> = keys.into_iter().collect();
            let mut results = Vec::new();
            let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
            while !waiting.is_empty() {
                let outcome: Outcome<StatusKey> = match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(o)) => o,
                    Ok(Err(RecvError::Lagged(_))) => continue,
                    Ok(Err(RecvError::Closed)) => {
                        return Err(ControlError::Unavailable("shutting down".into()))
                    }
                    Err(_) => {
                        return Err(ControlError::Internal(
                            "timed out waiting for the reconcile".into(),
                        ))
                    }
                };
                if !waiting.remove(&outcome.key) {
                    continue;
                }
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
                    duration_ms: outcome.duration.as_millis() as u64,
                });
            }
            Ok(results)
        })
    }
}

impl Control for Triggers {
    fn reconcile(
        &self,
        kind: Kind,
        name: String,
    ) -> BoxFuture<'static, Result<ReconcileResult, ControlError>> {
        let key = match self.key(kind, &name) {
            Ok(k) => k,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        if self.store.get(&key).is_some_and(|s| s.suspended) {
            return Box::pin(async move { Err(ControlError::Suspended { kind, name }) });
        }
        let fut = self.run_and_wait(vec![key]);
        Box::pin(async move {
            let mut r = fut.await?;
            r.pop().ok_or_else(|| ControlError::Internal("no result".into()))
        })
    }

    fn reconcile_all(&self) -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>> {
        let Some(snap) = self.snapshot.get() else {
            return Box::pin(async { Err(ControlError::Unavailable("no revision accepted yet".into())) });
        };
        let keys = snap
            .keys
            .iter()
            .filter(|k| !self.store.get(k).is_some_and(|s| s.suspended))
            .cloned()
            .collect();
        self.run_and_wait(keys)
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
