//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG`.

/// `default` applies when `RUST_LOG` is unset: `info` for the long-running controller (what
/// it accepted, created, repaired, pruned), `warn` for one-shot commands that print their
/// own summary.
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
