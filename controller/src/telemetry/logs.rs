//! The log layer: stderr, text or JSON, colour only on a terminal.

use std::io::IsTerminal as _;

use tracing_subscriber::{registry::LookupSpan, EnvFilter, Layer};

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields.message`, `target`, and the
    /// current span with its fields (`span`, `spans`).
    Json,
}

/// `RUST_LOG` when set, else `default`.
pub(super) fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Whether to write ANSI colour codes: only to a terminal, and never when `NO_COLOR` is set
/// (<https://no-color.org>). The controller usually writes to a file or `docker logs`,
/// where escape codes are noise.
fn ansi() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub(super) fn layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let base = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => base.with_ansi(ansi()).boxed(),
        LogFormat::Json => base
            .json()
            .with_ansi(false)
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    }
}
