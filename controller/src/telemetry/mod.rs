//! What aegis tells its operators about itself: logs on stderr, OTLP traces, Prometheus
//! metrics.
//!
//! - **Logs** ([`logs`]): `tracing` events on stderr, filtered by `RUST_LOG`, as text or
//!   (`--log-format json`) one JSON object per line. Colour codes only when stderr is a
//!   terminal, so a log file or `docker logs` never holds escape sequences.
//! - **Traces** ([`otlp`]): the same `tracing` spans, exported over OTLP (gRPC or
//!   HTTP/protobuf) when an endpoint is configured (`--otlp-endpoint` or the standard
//!   `OTEL_EXPORTER_OTLP_*` variables), and not at all otherwise. One trace per reconcile of
//!   a resource: the root span is the reconcile ([`spans::RECONCILE`]), with a child per
//!   phase and per Docker API call. See [`spans`] for the names and attributes.
//! - **Metrics** ([`metrics`]): the Prometheus families the API serves on `/metrics`.
//!
//! [`init`] installs the subscriber once per process and returns a [`Telemetry`] guard whose
//! [`Telemetry::shutdown`] flushes the spans not exported yet: call it after the async work
//! is done but while the tokio runtime still exists (the exporter runs on it).

mod export;
mod http_client;
mod logs;
pub mod metrics;
pub mod metrics_text;
pub mod otlp;
pub mod spans;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{layer::SubscriberExt as _, util::SubscriberInitExt as _, Layer as _};

pub use logs::LogFormat;
pub use otlp::{OtlpTarget, Protocol};

/// The telemetry flags of `aegis` (global: they go before or after the subcommand).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TelemetryArgs {
    /// Log format on stderr: `text`, or `json` (one object per line, for log shippers).
    #[arg(long, global = true, env = "AEGIS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// OTLP endpoint to export traces to, e.g. `http://tempo:4317` (gRPC) or
    /// `http://alloy:4318` (HTTP; `/v1/traces` is appended). Default: the standard
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` variables; with
    /// neither, no traces are exported.
    #[arg(long, global = true)]
    pub otlp_endpoint: Option<String>,
    /// OTLP protocol: `grpc` or `http/protobuf`. Default: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`
    /// / `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf` (the OpenTelemetry default).
    #[arg(long, global = true)]
    pub otlp_protocol: Option<String>,
    /// `service.name` of the exported traces. Default: `OTEL_SERVICE_NAME`, else `aegis`.
    #[arg(long, global = true)]
    pub service_name: Option<String>,
}

/// A telemetry configuration that cannot work; the message names the flag or variable.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{0}")]
    Config(String),
    #[error("cannot build the OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
}

/// Owns the trace pipeline; see [`Telemetry::shutdown`].
#[must_use = "call shutdown() before exiting, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    target: Option<OtlpTarget>,
}

impl Telemetry {
    /// Where traces go, if anywhere.
    pub fn target(&self) -> Option<&OtlpTarget> {
        self.target.as_ref()
    }

    /// Exports the spans still buffered and stops the exporter. Blocks up to the SDK's
    /// timeout (5 s per step). Must run outside the tokio runtime's own tasks (e.g. after
    /// `block_on` returned) while the runtime still exists: the export runs on it.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                let to = self.target.as_ref().map(|t| t.endpoint.as_str()).unwrap_or("?");
                eprintln!("warning: could not flush the last traces to {to}: {e}");
            }
        }
    }
}

/// Installs logging, and OTLP export when configured and `runtime` is given (commands
/// that run no async work export nothing). `default_filter` applies when `RUST_LOG` is
/// unset: `info` for the long-running controller, `warn` for one-shot commands that print
/// their own summary.
///
/// Call it once, inside `runtime`'s context ([`tokio::runtime::Runtime::enter`]) when there
/// is one: the gRPC exporter's channel is built on it.
pub fn init(
    args: &TelemetryArgs,
    default_filter: &str,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<Telemetry, TelemetryError> {
    let env = |k: &str| std::env::var(k).ok();
    let target = match runtime {
        Some(_) => otlp::resolve(args, env).map_err(TelemetryError::Config)?,
        None => None,
    };
    let provider = match (&target, runtime) {
        (Some(t), Some(rt)) => Some(otlp::provider(t, &otlp::service_name(args, env), rt)?),
        _ => None,
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("aegis"))
            .with_filter(spans::export_filter())
    });
    let fmt = logs::layer(args.log_format).with_filter(logs::filter(default_filter));
    // A second init in one process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(fmt).with(otel).try_init();
    Ok(Telemetry { provider, target })
}

/// Logging only, for programs without telemetry flags (`aegisctl`).
pub fn init_logs(default_filter: &str) {
    let _ = tracing_subscriber::registry()
        .with(logs::layer(LogFormat::Text).with_filter(logs::filter(default_filter)))
        .try_init();
}
