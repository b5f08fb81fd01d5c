//! The client side of logs, events and restart (a child of `client`, so it shares its
//! connection, auth and error handling).

use futures::StreamExt;
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::{set_filter, Client, ClientError, READ_TIMEOUT};
use crate::{
    api::{events::EventRow, logs::LogLine, RestartResult},
    desired::Kind,
    docker::operate::LogOptions,
    status::ListFilter,
};

impl Client {
    /// Streams `/logs`, calling `on_line` per line, until the server ends it (with `follow`,
    /// when the containers stop or the controller shuts down).
    pub async fn logs(
        &self,
        kind: Kind,
        name: &str,
        service: Option<&str>,
        opts: &LogOptions,
        on_line: impl FnMut(LogLine),
    ) -> Result<(), ClientError> {
        let mut url = self.url(&["api", "v1", "resources", kind.as_str(), name, "logs"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            if opts.follow {
                q.append_pair("follow", "true");
            }
            if let Some(s) = opts.since {
                q.append_pair("since", &s.to_string());
            }
            if let Some(t) = opts.tail {
                q.append_pair("tail", &t.to_string());
            }
        }
        let timeout = (!opts.follow).then_some(super::READ_TIMEOUT * 10);
        self.ndjson(url, timeout, on_line).await
    }

    /// Every event of the matching resources, oldest first.
    pub async fn events(&self, filter: &ListFilter) -> Result<Vec<EventRow>, ClientError> {
        let mut url = self.url(&["api", "v1", "events"]);
        set_filter(&mut url, filter);
        self.json(Method::GET, url, Some(READ_TIMEOUT)).await
    }

    /// The same events, then each new one as it happens, until the server ends the stream.
    pub async fn watch_events(
        &self,
        filter: &ListFilter,
        on_row: impl FnMut(EventRow),
    ) -> Result<(), ClientError> {
        let mut url = self.url(&["api", "v1", "events"]);
        set_filter(&mut url, filter);
        url.query_pairs_mut().append_pair("watch", "true");
        self.ndjson(url, None, on_row).await
    }

    pub async fn restart(
        &self,
        kind: Kind,
        name: &str,
        service: Option<&str>,
    ) -> Result<RestartResult, ClientError> {
        let mut url = self.url(&["api", "v1", "resources", kind.as_str(), name, "restart"]);
        if let Some(s) = service {
            url.query_pairs_mut().append_pair("service", s);
        }
        // A restart waits for each container's stop timeout.
        self.json(Method::POST, url, Some(READ_TIMEOUT * 10)).await
    }

    /// Reads newline-delimited JSON, skipping heartbeat (empty) lines.
    async fn ndjson<T: DeserializeOwned>(
        &self,
        url: reqwest::Url,
        timeout: Option<std::time::Duration>,
        mut on_item: impl FnMut(T),
    ) -> Result<(), ClientError> {
        let mut body = self.send(Method::GET, url, timeout).await?.bytes_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk.map_err(|e| self.transport_error(&e))?);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let item = serde_json::from_slice(&line).map_err(|e| ClientError::Protocol {
                    server: self.server.clone(),
                    detail: e.to_string(),
                })?;
                on_item(item);
            }
        }
        Ok(())
    }
}
