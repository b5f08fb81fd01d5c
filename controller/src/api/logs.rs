//! `GET /api/v1/resources/{kind}/{name}/logs?service=&follow=&since=&tail=`: a resource's
//! container logs, like `kubectl logs`, as newline-delimited JSON, one [`LogLine`] per line of
//! output. Docker's multiplexed stdout/stderr stream is split back into the two streams and
//! into lines (a line split across chunks is joined). With `follow=true` the answer stays
//! open and new lines arrive as the containers write them; an empty line every 30 s keeps
//! idle proxies from closing it. It ends when every container's log ends, the client leaves,
//! or the server shuts down.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{error::ApiError, operate::ContainerLog, routes::AppState};
use crate::docker::operate::{LogOptions, OutputStream};

const HEARTBEAT: Duration = Duration::from_secs(30);

/// One line of a container's output, or an error reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub container: String,
    pub service: String,
    /// `stdout` or `stderr`; absent on an error line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The text, without its newline (invalid UTF-8 replaced).
    #[serde(default)]
    pub line: String,
    /// Reading this container's log failed; nothing more comes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogsQuery {
    service: Option<String>,
    #[serde(default)]
    follow: bool,
    /// `10m`, `1h30m` (before now), an RFC 3339 time, or UNIX seconds.
    since: Option<String>,
    tail: Option<u64>,
}

/// `since` as UNIX seconds.
pub(crate) fn parse_since(s: &str, now: std::time::SystemTime) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    let t = if let Ok(d) = crate::manifest::kinds::Duration::parse(s) {
        now.checked_sub(d.0).unwrap_or(std::time::UNIX_EPOCH)
    } else {
        humantime::parse_rfc3339_weak(s).map_err(|_| {
            format!("since `{s}`: expected a duration (10m), an RFC 3339 time or UNIX seconds")
        })?
    };
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
}

pub(crate) async fn logs(
    State(app): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let kind = super::routes::parse_kind(&kind)?;
    let Some(op) = app.api.operate.clone() else {
        return Err(ApiError::not_found("logs are not served by this API"));
    };
    let since = q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_since(s, std::time::SystemTime::now()))
        .transpose()
        .map_err(ApiError::bad_request)?;
    let opts = LogOptions {
        follow: q.follow,
        since,
        tail: q.tail,
    };
    let service = q.service.filter(|s| !s.is_empty());
    let containers = op.logs(kind, name, service, opts).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    for c in containers {
        tokio::spawn(pump(c, tx.clone(), app.shutdown.clone()));
    }
    if q.follow {
        let heartbeat = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
            loop {
                tokio::select! {
                    _ = tick.tick() => if heartbeat.send(Ok(Bytes::from_static(b"\n"))).await.is_err() { break },
                    () = heartbeat.closed() => break,
                }
            }
        });
    }
    drop(tx);
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

/// Reads one container's log into the response, line by line, until it ends, the client
/// leaves or the server shuts down.
async fn pump(
    c: ContainerLog,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let ContainerLog {
        container,
        service,
        mut chunks,
    } = c;
    let who = (container.as_str(), service.as_str());
    let stop = async move {
        // No shutdown signal (a dropped sender): only the log or the client ends it.
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(stop);
    let mut lines = LineSplitter::default();
    loop {
        let chunk = tokio::select! {
            chunk = chunks.next() => chunk,
            () = tx.closed() => return,
            () = &mut stop => return,
        };
        match chunk {
            Some(Ok((stream, bytes))) => {
                for (stream, line) in lines.push(stream, &bytes) {
                    if !send(&tx, who, Some(stream), line, None).await {
                        return;
                    }
                }
            }
            Some(Err(e)) => {
                send(&tx, who, None, String::new(), Some(e)).await;
                return;
            }
            None => {
                for (stream, line) in lines.finish() {
                    if !send(&tx, who, Some(stream), line, None).await {
                        return;
                    }
                }
                return;
            }
        }
    }
}

async fn send(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    (container, service): (&str, &str),
    stream: Option<OutputStream>,
    line: String,
    error: Option<String>,
) -> bool {
    let l = LogLine {
        container: container.to_string(),
        service: service.to_string(),
        stream: stream.map(|s| match s {
            OutputStream::Stdout => "stdout".to_string(),
            OutputStream::Stderr => "stderr".to_string(),
        }),
        line,
        error,
    };
    let mut bytes = serde_json::to_vec(&l).expect("a log line serializes to JSON");
    bytes.push(b'\n');
    tx.send(Ok(Bytes::from(bytes))).await.is_ok()
}

/// Chunks → lines, per stream: a line split across chunks is joined, and the text after the
/// last newline waits for the next chunk (or the end).
#[derive(Default)]
pub(crate) struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, stream: OutputStream, bytes: &[u8]) -> Vec<(OutputStream, String)> {
        let buf = match stream {
            OutputStream::Stdout => &mut self.stdout,
            OutputStream::Stderr => &mut self.stderr,
        };
        buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let rest = buf.split_off(i + 1);
            let mut line = std::mem::replace(buf, rest);
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            out.push((stream, String::from_utf8_lossy(&line).into_owned()));
        }
        out
    }

    /// What is left without a final newline.
    pub fn finish(&mut self) -> Vec<(OutputStream, String)> {
        [
            (OutputStream::Stdout, std::mem::take(&mut self.stdout)),
            (OutputStream::Stderr, std::mem::take(&mut self.stderr)),
        ]
        .into_iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_lines_per_stream() {
        let mut s = LineSplitter::default();
        assert!(s.push(OutputStream::Stdout, b"hel").is_empty());
        assert_eq!(
            s.push(OutputStream::Stderr, b"oops\r\nwa"),
            [(OutputStream::Stderr, "oops".to_string())]
        );
        assert_eq!(
            s.push(OutputStream::Stdout, b"lo\nworld\n"),
            [
                (OutputStream::Stdout, "hello".to_string()),
                (OutputStream::Stdout, "world".to_string())
            ]
        );
        assert_eq!(s.finish(), [(OutputStream::Stderr, "wa".to_string())]);
    }

    #[test]
    fn since_takes_durations_times_and_seconds() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_since("10m", now), Ok(10_000 - 600));
        assert_eq!(parse_since("1700000000", now), Ok(1_700_000_000));
        assert_eq!(parse_since("1970-01-01T00:01:40Z", now), Ok(100));
        assert!(parse_since("yesterday", now)
            .unwrap_err()
            .contains("since `yesterday`"));
    }
}
