//! `GET /metrics`: the Prometheus exposition of [`Metrics`].
//!
//! Unauthenticated by default, as Prometheus targets usually are: it names resources,
//! hosts and revisions, never a secret. `aegis controller --metrics-token-required` puts it
//! behind the API token like every `/api/v1` route (Prometheus: `authorization:
//! {credentials_file: ...}` in the scrape config).
//!
//! Content negotiation: a scraper that accepts `application/openmetrics-text` (Prometheus
//! does) gets OpenMetrics; anyone else (`curl`, `promtool check metrics`) gets the
//! Prometheus text format 0.0.4.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::{error::ApiError, routes::AppState};
use crate::telemetry::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How `/metrics` is served.
#[derive(Clone)]
pub struct MetricsRoute {
    pub metrics: Metrics,
    /// Whether a scrape needs the API token.
    pub token_required: bool,
}

pub(crate) async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(route) = app.api.metrics.as_ref() else {
        return ApiError::not_found("no metrics are served here").into_response();
    };
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match route.metrics.encode(openmetrics) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, if openmetrics { OPENMETRICS } else { TEXT })],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics").into_response(),
    }
}
