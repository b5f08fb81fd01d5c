//! Feeds [`Metrics`]: reconcile outcomes as they finish, and the scrape-time view of the
//! queue, the status store and the accepted revision.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::snapshot::Shared;
use crate::{
    runtime::{Handle, Outcome},
    status::{ListFilter, StatusKey, StatusStore},
    telemetry::metrics::{Metrics, ScrapeState},
};

/// What a scrape reads: the queue, every status, the accepted revision.
pub(super) fn scrape_source(
    handle: Handle<StatusKey>,
    store: StatusStore,
    snapshot: Shared,
) -> Arc<dyn Fn() -> ScrapeState + Send + Sync> {
    Arc::new(move || ScrapeState {
        queue: handle.stats(),
        revision: snapshot.get().map(|s| s.revision().to_string()),
        resources: store.list(&ListFilter::default()),
    })
}

/// Counts every finished reconcile until `stop`. The outcome channel is the runtime's own
/// record of what ran, so nothing in the loop has to know about metrics.
pub(super) async fn count_outcomes(
    metrics: Metrics,
    mut outcomes: broadcast::Receiver<Outcome<StatusKey>>,
    stop: CancellationToken,
) {
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            o = outcomes.recv() => o,
        };
        match outcome {
            Ok(o) => metrics.observe_reconcile(o.key.kind.as_str(), o.result.is_ok(), o.duration),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "metrics fell behind the reconcile outcomes");
            }
            Err(RecvError::Closed) => return,
        }
    }
}
