//! The `confirm` span: one per commit-confirmed attempt (a critical container replaced,
//! removed, or restarted), around everything the attempt does: the agent image put on the
//! host, the new container prepared, the watchdog started (its own `watchdog.start` child
//! span), the checks over fresh connections (their `docker.connect` spans) and the confirm
//! or the rollback.
//!
//! Its parent is the current span: the `reconcile` of the resource in the controller, the
//! `apply.critical` root of a one-shot apply's critical tail, the API request of an
//! `aegisctl restart`. Attributes: `aegis.host`, `aegis.kind`, `aegis.name`,
//! `aegis.revision`, `aegis.spec_hash` (the new spec's; empty for a removal or a restart),
//! `verb`, `object`, and `aegis.outcome` once the attempt ends. Anything but a confirm marks
//! the span failed (OpenTelemetry status `ERROR`, with the outcome as message).

use tracing::{Instrument as _, Span};

use super::critical_last::CriticalResult;
use crate::{desired::ResourceRef, telemetry::spans};

/// What the `confirm` span names.
pub struct Attempt<'a> {
    pub host: &'a str,
    pub resource: &'a ResourceRef,
    pub revision: &'a str,
    pub spec_hash: &'a str,
    pub verb: &'a str,
    pub object: &'a str,
}

/// Runs one attempt (`run`) inside its `confirm` span and records how it ended.
pub async fn traced(
    a: &Attempt<'_>,
    run: impl std::future::Future<Output = CriticalResult>,
) -> CriticalResult {
    let span = tracing::info_span!(
        "confirm",
        aegis.host = a.host,
        aegis.kind = %a.resource.kind,
        aegis.name = %a.resource.name,
        aegis.revision = a.revision,
        aegis.spec_hash = a.spec_hash,
        verb = a.verb,
        object = a.object,
        aegis.outcome = tracing::field::Empty,
    );
    let r = run.instrument(span.clone()).await;
    let outcome = match &r.result {
        Ok(o) if o.is_success() => "confirmed",
        Ok(crate::apply::confirmed::Outcome::Pending { .. }) => "pending",
        Ok(_) => "rolled-back",
        Err(_) => "not-started",
    };
    span.record("aegis.outcome", outcome);
    if !r.is_success() {
        spans::record_error(&span, &r.to_string());
    }
    r
}

/// The `watchdog.start` span, a child of the current (`confirm`) span.
pub fn watchdog_start(attempt: &str, host: &str) -> Span {
    tracing::info_span!("watchdog.start", aegis.host = host, attempt = attempt)
}
