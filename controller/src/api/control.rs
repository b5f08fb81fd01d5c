//! [`Control`]: how the API asks the control loop to act. The runtime implements it; the
//! API only calls it. A trait (rather than a command channel) so that the API's tests use
//! a plain fake and the runtime is free to back it with its work queue.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::desired::Kind;

/// The outcome of one reconcile that [`Control::reconcile`] ran to completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileResult {
    pub kind: Kind,
    pub name: String,
    pub host: String,
    /// False when the reconcile ran and failed; `message` says why.
    pub succeeded: bool,
    /// The revision the pass applied.
    #[serde(default)]
    pub revision: Option<String>,
    /// One line for `aegisctl reconcile`: what changed, or the error.
    pub message: String,
    pub duration_ms: u64,
    /// The id of the run that answered: one that started after the request, never one that
    /// was already in flight. Absent from older controllers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u64>,
}

/// Why a trigger could not run at all. A reconcile that ran and failed is not an error
/// here but a [`ReconcileResult`] with `succeeded: false`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No resource of that kind and name in the current desired state (HTTP 404).
    #[error("no {kind} named `{name}`")]
    NotFound { kind: Kind, name: String },
    /// The resource is suspended, so a reconcile was refused (HTTP 409).
    #[error("{kind}/{name} is suspended; resume it first")]
    Suspended { kind: Kind, name: String },
    /// The controller cannot take triggers yet or any more: starting, no accepted
    /// revision, shutting down (HTTP 503).
    #[error("the controller is not ready: {0}")]
    Unavailable(String),
    /// The wait ended before the run asked for finished: it is still queued (behind a run that
    /// was in flight, or waiting for a slot on its host) or still running (HTTP 504). The
    /// request stays queued; the run happens later.
    #[error("{0}")]
    TimedOut(String),
    /// Anything else (HTTP 500).
    #[error("{0}")]
    Internal(String),
}

/// The control loop as the API sees it. Futures are `'static` so that the implementation
/// can hand the work to its queue and await a reply.
pub trait Control: Send + Sync + 'static {
    /// Reconciles `kind`/`name` now, bypassing backoff; resolves when a pass that started after
    /// this call is done, or with [`ControlError::TimedOut`] after `wait`.
    fn reconcile(
        &self,
        kind: Kind,
        name: String,
        wait: Duration,
    ) -> BoxFuture<'static, Result<ReconcileResult, ControlError>>;

    /// Reconciles every resource now; resolves when all passes are done (as
    /// [`reconcile`](Self::reconcile), each).
    fn reconcile_all(&self, wait: Duration)
        -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>>;

    /// Suspends (`true`) or resumes (`false`) reconciliation of `kind`/`name`. The
    /// implementation records it in the status (see
    /// [`StatusStore::update`](crate::status::StatusStore::update)), which is what keeps it
    /// across restarts.
    fn suspend(
        &self,
        kind: Kind,
        name: String,
        suspended: bool,
    ) -> BoxFuture<'static, Result<(), ControlError>>;

    /// Whether `/readyz` answers 200: a revision is accepted and the loop runs.
    fn ready(&self) -> bool;
}
