//! The HTTP client of `aegisctl`: one method per API route, and errors that tell the
//! operator what to do.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::connect::Connection;
use crate::{
    api::{ErrorBody, ReconcileResult, SuspendResponse},
    desired::Kind,
    status::{Change, ListFilter, ResourceStatus, SourceStatus},
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the server address.
    #[error(
        "cannot reach aegis at {server}: {detail} — is `aegis controller` running? set --server or AEGIS_SERVER"
    )]
    Unreachable { server: String, detail: String },
    /// The TLS handshake failed, most often an unknown CA.
    #[error(
        "cannot verify aegis at {server}: {detail} — pass --ca with the CA that signed the API's certificate"
    )]
    Tls { server: String, detail: String },
    /// 401 from the API.
    #[error("the server rejected the token — check --token-file / AEGIS_TOKEN")]
    Unauthorized,
    /// 404 from the API; the server's message names what is missing.
    #[error("{0}")]
    NotFound(String),
    /// Any other error answer from the API.
    #[error("{message} (HTTP {status})")]
    Server { status: u16, message: String },
    #[error("no API token: use --token-file, AEGIS_TOKEN, or `token-file:` in ~/.config/aegis/config.yaml")]
    NoToken,
    /// The connection settings are unusable.
    #[error("{0}")]
    Config(String),
    /// An argument is wrong (found before any connection).
    #[error("{0}")]
    Usage(String),
    /// The answer was not what this aegisctl understands.
    #[error("unexpected answer from {server}: {detail}")]
    Protocol { server: String, detail: String },
}

pub struct Client {
    base: Url,
    server: String,
    token: String,
    http: reqwest::Client,
}

/// Timeout of reads; watches have none, and triggers (`reconcile`) take their own wait.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than its wait a reconcile request waits for the server's answer.
const ANSWER_GRACE: Duration = Duration::from_secs(30);

impl Client {
    pub fn new(conn: &Connection) -> Result<Self, ClientError> {
        let base = Url::parse(&conn.server)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ClientError::Config(format!("`{}` is not an http(s) URL", conn.server)))?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("aegisctl/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &conn.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| ClientError::Config(format!("cannot read the CA file {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Config(format!("{} is not a PEM certificate: {e}", ca.display()))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Config(format!(
                    "{} holds no PEM certificate",
                    ca.display()
                )));
            }
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            base,
            server: conn.server.clone(),
            token: conn.token.clone(),
            http,
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have paths")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let message = resp
            .json::<ErrorBody>()
            .await
            .map(|b| b.error)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_owned());
        Err(match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
            StatusCode::NOT_FOUND => ClientError::NotFound(message),
            _ => ClientError::Server {
                status: status.as_u16(),
                message,
            },
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        self.send(method, url, timeout)
            .await?
            .json()
            .await
            .map_err(|e| self.protocol_error(&e))
    }

    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<ResourceStatus>, ClientError> {
        let mut url = self.url(&["api", "v1", "resources"]);
        set_filter(&mut url, filter);
        self.json(Method::GET, url, Some(READ_TIMEOUT)).await
    }

    /// The source's status (`GET /api/v1/source`).
    pub async fn source(&self) -> Result<SourceStatus, ClientError> {
        let url = self.url(&["api", "v1", "source"]);
        self.json(Method::GET, url, Some(READ_TIMEOUT)).await
    }

    pub async fn get(&self, kind: Kind, name: &str) -> Result<ResourceStatus, ClientError> {
        let url = self.url(&["api", "v1", "resources", kind.as_str(), name]);
        self.json(Method::GET, url, Some(READ_TIMEOUT)).await
    }

    /// Asks for a reconcile and waits up to `wait` for it (the server answers 504 then; this
    /// side waits a little longer, so that the server's answer, which says why, arrives).
    pub async fn reconcile(
        &self,
        kind: Kind,
        name: &str,
        wait: Duration,
    ) -> Result<ReconcileResult, ClientError> {
        let mut url = self.url(&["api", "v1", "resources", kind.as_str(), name, "reconcile"]);
        set_wait(&mut url, wait);
        self.json(Method::POST, url, Some(wait + ANSWER_GRACE)).await
    }

    pub async fn reconcile_all(&self, wait: Duration) -> Result<Vec<ReconcileResult>, ClientError> {
        let mut url = self.url(&["api", "v1", "reconcile"]);
        set_wait(&mut url, wait);
        self.json(Method::POST, url, Some(wait + ANSWER_GRACE)).await
    }

    pub async fn suspend(
        &self,
        kind: Kind,
        name: &str,
        suspended: bool,
    ) -> Result<SuspendResponse, ClientError> {
        let action = if suspended { "suspend" } else { "resume" };
        let url = self.url(&["api", "v1", "resources", kind.as_str(), name, action]);
        self.json(Method::POST, url, Some(READ_TIMEOUT)).await
    }

    /// Follows `/api/v1/watch`, calling `on_change` per change, until the server ends the
    /// stream.
    pub async fn watch(
        &self,
        filter: &ListFilter,
        mut on_change: impl FnMut(Change),
    ) -> Result<(), ClientError> {
        let mut url = self.url(&["api", "v1", "watch"]);
        set_filter(&mut url, filter);
        let mut body = self.send(Method::GET, url, None).await?.bytes_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk.map_err(|e| self.transport_error(&e))?);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue; // heartbeat
                }
                let change = serde_json::from_slice(&line).map_err(|e| ClientError::Protocol {
                    server: self.server.clone(),
                    detail: e.to_string(),
                })?;
                on_change(change);
            }
        }
        Ok(())
    }

    fn protocol_error(&self, e: &reqwest::Error) -> ClientError {
        ClientError::Protocol {
            server: self.server.clone(),
            detail: e.to_string(),
        }
    }

    /// Turns a failed send into the operator's words: refused, timed out, or TLS.
    fn transport_error(&self, e: &reqwest::Error) -> ClientError {
        let server = self.server.clone();
        let chain = error_chain(e);
        if let Some(tls) = chain.iter().find_map(|err| err.downcast_ref::<rustls::Error>()) {
            return ClientError::Tls {
                server,
                detail: tls.to_string(),
            };
        }
        if let Some(io) = chain.iter().find_map(|err| err.downcast_ref::<std::io::Error>()) {
            let detail = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::TimedOut => "connection timed out".to_owned(),
                _ => io.to_string(),
            };
            return ClientError::Unreachable { server, detail };
        }
        let detail = if e.is_timeout() {
            "timed out".to_owned()
        } else {
            chain.last().map_or_else(|| e.to_string(), ToString::to_string)
        };
        ClientError::Unreachable { server, detail }
    }
}

/// `e` and its sources. An `io::Error`'s `source()` skips the error it wraps, so this
/// steps into `get_ref()` instead; that is where rustls puts its certificate errors.
fn error_chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut chain = vec![e];
    let mut current = e;
    loop {
        let next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
        match next {
            Some(n) => {
                chain.push(n);
                current = n;
            }
            None => return chain,
        }
    }
}

/// `?timeout=<seconds>s`, whole seconds (at least 1).
fn set_wait(url: &mut Url, wait: Duration) {
    let secs = wait.as_secs().max(1);
    url.query_pairs_mut().append_pair("timeout", &format!("{secs}s"));
}

fn set_filter(url: &mut Url, filter: &ListFilter) {
    let mut q = url.query_pairs_mut();
    if let Some(k) = filter.kind {
        q.append_pair("kind", k.as_str());
    }
    if let Some(h) = &filter.host {
        q.append_pair("host", h);
    }
    if let Some(s) = &filter.selector {
        q.append_pair("selector", &s.to_string());
    }
    drop(q);
    if url.query() == Some("") {
        url.set_query(None);
    }
}

#[path = "client_ops.rs"]
mod ops;
