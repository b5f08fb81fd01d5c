//! The controller's HTTP API (axum): status for `aegisctl get/describe`, triggers for
//! `reconcile/suspend/resume`, and a change stream for `get -w`.
//!
//! Wiring: build an [`ApiState`] from the [`StatusStore`](crate::status::StatusStore) and
//! an implementation of [`Control`], then `serve(config, state, shutdown)`.
//!
//! Routes (JSON; all but `/healthz`, `/readyz` and the webhook need `Authorization: Bearer <token>`):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/api/v1/resources?kind=&host=&selector=k=v` | `[ResourceStatus]` |
//! | GET | `/api/v1/resources/{kind}/{name}` | `ResourceStatus`, 404 if none |
//! | POST | `/api/v1/resources/{kind}/{name}/reconcile?timeout=30s` | `ReconcileResult` of a run that started after the request, when done; 504 when still queued or running at the timeout (default 10m) |
//! | POST | `/api/v1/resources/{kind}/{name}/suspend`, `/resume` | `SuspendResponse` |
//! | POST | `/api/v1/reconcile?timeout=30s` | `[ReconcileResult]`, when all are done; 504 as above |
//! | GET | `/api/v1/watch?kind=&host=&selector=` | NDJSON stream of `Change` |
//! | GET | `/api/v1/resources/{kind}/{name}/logs?service=&follow=&since=&tail=` | NDJSON stream of `LogLine` ([`logs`]) |
//! | POST | `/api/v1/resources/{kind}/{name}/restart?service=` | `RestartResult`; 409 for a critical resource |
//! | GET | `/api/v1/events?kind=&host=&selector=&watch=` | `[EventRow]`, oldest first; NDJSON with `watch=true` ([`events`]) |
//! | POST | `/api/v1/webhook` | GitHub/GitLab push hook, own signature check: 202 triggered, 200 ignored, 401 |
//! | GET | `/metrics` | Prometheus metrics (open unless `--metrics-token-required`), see [`metrics`] |
//! | GET | `/healthz` | 200 always |
//! | GET | `/readyz` | 200 when [`Control::ready`], else 503 |
//!
//! `{kind}` is any of `Stack`, `stack`, `stacks`. Errors are `{"error": "..."}`.

mod auth;
mod config;
mod control;
mod error;
pub mod events;
mod healthcheck;
pub mod logs;
pub mod metrics;
mod operate;
mod restart;
mod routes;
mod server;
mod tls;
mod watch;

pub use config::{ApiArgs, ApiConfig, TlsFiles, DEFAULT_BIND};
pub use control::{Control, ControlError, ReconcileResult};
pub use error::ErrorBody;
pub use healthcheck::{healthcheck, HealthcheckArgs};
pub use operate::{ContainerLog, Operate, OperateError, RestartResult};
pub use routes::{ApiState, SuspendResponse, DEFAULT_RECONCILE_WAIT};
pub use server::{serve, ApiServer, ServeError};

/// The router without a server, for tests that drive it with `tower::ServiceExt::oneshot`.
pub fn router(state: ApiState, token: &str) -> axum::Router {
    routes::router(state, token, None)
}

#[cfg(test)]
mod tests;
