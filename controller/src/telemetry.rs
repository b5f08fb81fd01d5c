//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG`.

/// `default` applies when `RUST_LOG` is unset: `info` for the long-running controller (what
/// it accepted, created, repaired, pruned), `warn` for one-shot commands that print their
/// own summary. Colours only on a terminal: a container's log (`docker logs`) and a test's
/// captured stderr get plain text.
pub fn init(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
