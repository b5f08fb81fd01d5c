//! The routes of `/api/v1`, `/healthz` and `/readyz`.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    auth::{require_token, TokenDigest},
    control::{Control, ReconcileResult},
    error::ApiError,
    watch::watch_changes,
};
use crate::{
    desired::Kind,
    source::webhook::{Outcome, Webhook},
    status::{kind_from_word, ListFilter, ResourceStatus, StatusStore},
};

/// What the API serves from and acts through.
#[derive(Clone)]
pub struct ApiState {
    pub store: StatusStore,
    pub control: Arc<dyn Control>,
    /// Serves `POST /api/v1/webhook` when set; without it that route answers 404.
    pub webhook: Option<Arc<Webhook>>,
    /// Serves `GET /metrics` when set; without it that route answers 404.
    pub metrics: Option<super::metrics::MetricsRoute>,
    /// Serves logs and restarts when set; without it those routes answer 404.
    pub operate: Option<Arc<dyn super::operate::Operate>>,
}

impl ApiState {
    pub fn new(store: StatusStore, control: Arc<dyn Control>) -> Self {
        Self {
            store,
            control,
            webhook: None,
            metrics: None,
            operate: None,
        }
    }

    /// Serves `GET /metrics`, open or (`token_required`) behind the API token.
    #[must_use]
    pub fn with_metrics(mut self, metrics: crate::telemetry::metrics::Metrics, token_required: bool) -> Self {
        self.metrics = Some(super::metrics::MetricsRoute {
            metrics,
            token_required,
        });
        self
    }

    #[must_use]
    pub fn with_operate(mut self, operate: Arc<dyn super::operate::Operate>) -> Self {
        self.operate = Some(operate);
        self
    }

    #[must_use]
    pub fn with_webhook(mut self, webhook: Arc<Webhook>) -> Self {
        self.webhook = Some(webhook);
        self
    }
}

/// Per-router state: the caller's [`ApiState`] and the shutdown signal that ends watches.
#[derive(Clone)]
pub(crate) struct AppState {
    pub api: ApiState,
    /// Turns true when the server shuts down. A dropped sender means "never".
    pub shutdown: watch::Receiver<bool>,
}

/// The answer to suspend and resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuspendResponse {
    pub kind: Kind,
    pub name: String,
    pub suspended: bool,
}

/// Query of `GET /api/v1/resources` and `GET /api/v1/watch`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) kind: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) selector: Option<String>,
}

impl ListQuery {
    pub fn filter(self) -> Result<ListFilter, ApiError> {
        Ok(ListFilter {
            kind: self.kind.as_deref().map(parse_kind).transpose()?,
            host: self.host.filter(|h| !h.is_empty()),
            selector: self
                .selector
                .filter(|s| !s.is_empty())
                .map(|s| s.parse())
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("{e}")))?,
        })
    }
}

pub(crate) fn parse_kind(word: &str) -> Result<Kind, ApiError> {
    kind_from_word(word).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown kind `{word}` (expected one of Host, Network, Stack, DnsGuard, TunnelClient)"
        ))
    })
}

/// The whole API. `/healthz`, `/readyz` and the webhook (which checks its own signature) are
/// open; everything else needs the token.
/// `shutdown` turning true ends open watch streams so that graceful shutdown can finish;
/// `None` means they run until the client leaves.
pub(crate) fn router(state: ApiState, token: &str, shutdown: Option<watch::Receiver<bool>>) -> Router {
    let shutdown = shutdown.unwrap_or_else(|| watch::channel(false).1);
    let metrics_protected = state.metrics.as_ref().is_some_and(|m| m.token_required);
    let app = AppState { api: state, shutdown };
    let mut protected = Router::new();
    let mut open = Router::new();
    if metrics_protected {
        protected = protected.route("/metrics", get(super::metrics::metrics));
    } else {
        open = open.route("/metrics", get(super::metrics::metrics));
    }
    let protected = protected
        .route("/api/v1/resources", get(list))
        .route("/api/v1/resources/{kind}/{name}", get(get_one))
        .route("/api/v1/resources/{kind}/{name}/reconcile", post(reconcile_one))
        .route("/api/v1/resources/{kind}/{name}/suspend", post(suspend))
        .route("/api/v1/resources/{kind}/{name}/resume", post(resume))
        .route("/api/v1/reconcile", post(reconcile_all))
        .route("/api/v1/watch", get(watch_changes))
        .route("/api/v1/source", get(source_status))
        .route("/api/v1/resources/{kind}/{name}/logs", get(super::logs::logs))
        .route(
            "/api/v1/resources/{kind}/{name}/restart",
            post(super::restart::restart),
        )
        .route("/api/v1/events", get(super::events::events))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(middleware::from_fn_with_state(
            TokenDigest::new(token),
            require_token,
        ));
    let open = open
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/api/v1/webhook", post(webhook));
    protected.merge(open).with_state(app)
}

/// The source's status: running revision, rejected revision, fetch error.
async fn source_status(State(app): State<AppState>) -> Response {
    match app.api.store.source() {
        Some(s) => Json(s).into_response(),
        None => ApiError::not_found("no source status yet: the controller has not fetched its source")
            .into_response(),
    }
}

async fn readyz(State(app): State<AppState>) -> Response {
    if app.api.control.ready() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not ready"})),
        )
            .into_response()
    }
}

/// A push webhook: 202 when it triggers a fetch (which runs after the answer), 200 with
/// `{"status":"ignored","reason":...}` for pushes to other refs and other events, 401 for a
/// bad signature or token, 404 when no `--webhook-secret-file` was given.
async fn webhook(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(hook) = app.api.webhook.as_ref() else {
        return ApiError::not_found("the webhook is off: start the controller with --webhook-secret-file")
            .into_response();
    };
    match hook.handle(&headers, &body) {
        Outcome::Triggered { git_ref } => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"status": "triggered", "ref": git_ref})),
        )
            .into_response(),
        Outcome::Ignored { reason } => {
            Json(serde_json::json!({"status": "ignored", "reason": reason})).into_response()
        }
        Outcome::Pong => Json(serde_json::json!({"status": "pong"})).into_response(),
        Outcome::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "missing or invalid webhook signature"})),
        )
            .into_response(),
        Outcome::BadRequest(m) => ApiError::bad_request(m).into_response(),
    }
}

async fn list(
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ResourceStatus>>, ApiError> {
    Ok(Json(app.api.store.list(&q.filter()?)))
}

async fn get_one(
    State(app): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<ResourceStatus>, ApiError> {
    let kind = parse_kind(&kind)?;
    app.api
        .store
        .get_by_name(kind, &name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} named `{name}`")))
}

/// How long a reconcile request waits for its run when it names no `timeout`.
pub const DEFAULT_RECONCILE_WAIT: Duration = Duration::from_secs(10 * 60);
/// The longest `timeout` a reconcile request may ask for.
const MAX_RECONCILE_WAIT: Duration = Duration::from_secs(60 * 60);

/// Query of the reconcile routes: `?timeout=30s` (default 10m, at most 1h).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReconcileQuery {
    timeout: Option<String>,
}

impl ReconcileQuery {
    fn wait(&self) -> Result<Duration, ApiError> {
        let Some(t) = self.timeout.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(DEFAULT_RECONCILE_WAIT);
        };
        let d = crate::manifest::kinds::Duration::parse(t)
            .map_err(|e| ApiError::bad_request(format!("timeout `{t}`: {e}")))?
            .0;
        if d.is_zero() || d > MAX_RECONCILE_WAIT {
            return Err(ApiError::bad_request(format!(
                "timeout `{t}`: must be more than 0 and at most 1h"
            )));
        }
        Ok(d)
    }
}

async fn reconcile_one(
    State(app): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<ReconcileQuery>,
) -> Result<Json<ReconcileResult>, ApiError> {
    let kind = parse_kind(&kind)?;
    let wait = q.wait()?;
    Ok(Json(app.api.control.reconcile(kind, name, wait).await?))
}

async fn reconcile_all(
    State(app): State<AppState>,
    Query(q): Query<ReconcileQuery>,
) -> Result<Json<Vec<ReconcileResult>>, ApiError> {
    let wait = q.wait()?;
    Ok(Json(app.api.control.reconcile_all(wait).await?))
}

async fn suspend(
    State(app): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<SuspendResponse>, ApiError> {
    set_suspended(app, &kind, name, true).await
}

async fn resume(
    State(app): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<SuspendResponse>, ApiError> {
    set_suspended(app, &kind, name, false).await
}

async fn set_suspended(
    app: AppState,
    kind: &str,
    name: String,
    suspended: bool,
) -> Result<Json<SuspendResponse>, ApiError> {
    let kind = parse_kind(kind)?;
    app.api.control.suspend(kind, name.clone(), suspended).await?;
    Ok(Json(SuspendResponse {
        kind,
        name,
        suspended,
    }))
}
