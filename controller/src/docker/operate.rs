//! What an operator does to a running container through aegis instead of `docker` on the
//! host: read its logs, restart it.

use bollard::{
    container::LogOutput,
    query_parameters::{LogsOptionsBuilder, RestartContainerOptionsBuilder},
};
use futures::{Stream, StreamExt};

use super::{
    client::DockerHost,
    error::{DockerError, Result},
};

/// Which of a container's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What `docker logs` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    /// Only lines since this UNIX time.
    pub since: Option<i64>,
    /// Only the last N lines (per container).
    pub tail: Option<u64>,
}

/// A container's log as the engine sends it: chunks of stdout and stderr, demultiplexed from
/// Docker's framed stream (a TTY container's output is all stdout). Chunks are not lines.
pub fn logs(
    host: &DockerHost,
    container: &str,
    opts: &LogOptions,
) -> impl Stream<Item = Result<(OutputStream, Vec<u8>)>> {
    let mut b = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(opts.follow)
        .tail(&opts.tail.map_or_else(|| "all".to_string(), |n| n.to_string()));
    if let Some(s) = opts.since {
        b = b.since(i32::try_from(s).unwrap_or(i32::MAX));
    }
    let (h, name) = (host.host().to_string(), container.to_string());
    host.call().logs(container, Some(b.build())).filter_map(move |r| {
        let out = match r {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                Some(Ok((OutputStream::Stdout, message.to_vec())))
            }
            Ok(LogOutput::StdErr { message }) => Some(Ok((OutputStream::Stderr, message.to_vec()))),
            Ok(LogOutput::StdIn { .. }) => None,
            Err(e) => Some(Err(DockerError::api(
                &h,
                "read the logs of",
                "container",
                &name,
                e,
            ))),
        };
        std::future::ready(out)
    })
}

/// `docker restart`: stop (the container's own stop timeout, else 10 s), then start.
pub async fn restart(host: &DockerHost, container: &str) -> Result<()> {
    let opts = RestartContainerOptionsBuilder::new().build();
    host.call()
        .restart_container(container, Some(opts))
        .await
        .map_err(|e| DockerError::api(host.host(), "restart", "container", container, e))
}
