//! The shape of aegis's traces: span names, attribute keys, and the helpers that set them.
//!
//! One trace per reconcile of a resource:
//!
//! ```text
//! reconcile                      root (parent: None); aegis.host, aegis.kind, aegis.name,
//!                                aegis.revision; key, reason, attempt
//! ├─ docker.connect              only when a new connection is made (version negotiation)
//! ├─ observe                     the host's containers, networks, volumes, images
//! │  └─ docker.list_containers … one span per Docker API call, aegis.host
//! ├─ docker.inspect_image        only when an image is missing, then docker.create_image
//! ├─ plan                        pure planning; aegis.steps
//! ├─ execute                     the plan's DAG; aegis.steps
//! │  ├─ network.create           one span per step: object, aegis.spec_hash
//! │  │  └─ docker.create_network
//! │  ├─ container.create
//! │  │  ├─ docker.create_container
//! │  │  └─ docker.start_container
//! │  └─ health.wait              a `service_healthy` / `service_completed_successfully` gate
//! │     └─ docker.inspect_container …
//! └─ observe                     again, after a change, for the status
//! ```
//!
//! Steps are `container.{create,replace,start,remove}`, `network.{create,recreate,remove}`,
//! `volume.{create,remove}` (the stop of a replaced container is its `docker.stop_container`
//! call). A failed span has the OpenTelemetry status `ERROR` with the error message, which
//! aegis keeps free of secret values like every other error. Attributes are names, hashes
//! and revisions only: never a value from the environment or a secret.

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::Targets;

use crate::{plan::Action, status::StatusKey};

/// The root span of one reconcile.
pub const RECONCILE: &str = "reconcile";

/// Attribute keys.
pub const HOST: &str = "aegis.host";
pub const KIND: &str = "aegis.kind";
pub const NAME: &str = "aegis.name";
pub const REVISION: &str = "aegis.revision";
pub const SPEC_HASH: &str = "aegis.spec_hash";

/// The spans and events exported: aegis's own, down to `debug` (the Docker API call spans);
/// nothing from libraries.
pub(super) fn export_filter() -> Targets {
    Targets::new().with_target("aegis", tracing::Level::DEBUG)
}

/// Puts the resource's identity on `span` (the reconcile's root): host, kind, name, and the
/// revision being applied. A no-op without OTLP export.
pub fn annotate_reconcile(span: &Span, key: &StatusKey, revision: &str) {
    span.set_attribute(HOST, key.host.clone());
    span.set_attribute(KIND, key.kind.to_string());
    span.set_attribute(NAME, key.name.clone());
    span.set_attribute(REVISION, revision.to_string());
}

/// Marks `span` failed with `message` (OpenTelemetry status `ERROR`). `message` must be
/// free of secret values, as every aegis error is.
pub fn record_error(span: &Span, message: &str) {
    span.set_status(opentelemetry::trace::Status::error(message.to_string()));
}

/// Marks a Docker API call's span: the engine's status code as `http.response.status_code`,
/// and failed unless it is 304 or 404 (normal answers for start, remove and inspect).
pub fn record_docker_error(span: &Span, e: &bollard::errors::Error) {
    if let bollard::errors::Error::DockerResponseServerError { status_code, .. } = e {
        span.set_attribute("http.response.status_code", i64::from(*status_code));
        if matches!(status_code, 304 | 404) {
            return;
        }
    }
    record_error(span, &e.to_string());
}

/// The span name of a plan step (`container.create`, `network.remove`, ...).
pub fn step_name(action: &Action) -> &'static str {
    match action {
        Action::CreateNetwork { .. } => "network.create",
        Action::RecreateNetwork { .. } => "network.recreate",
        Action::RemoveNetwork { .. } => "network.remove",
        Action::CreateVolume { .. } => "volume.create",
        Action::RemoveVolume { .. } => "volume.remove",
        Action::CreateContainer { .. } => "container.create",
        Action::ReplaceContainer { .. } => "container.replace",
        Action::StartContainer { .. } => "container.start",
        Action::RemoveContainer { .. } => "container.remove",
    }
}

/// The spec hash a step applies, if it creates something (the `aegis.dev/spec-hash` label).
pub fn spec_hash(action: &Action) -> Option<&str> {
    match action {
        Action::CreateNetwork { hash, .. }
        | Action::RecreateNetwork { hash, .. }
        | Action::CreateContainer { hash, .. }
        | Action::ReplaceContainer { hash, .. } => Some(hash),
        _ => None,
    }
}
