//! The HTTP/protobuf exporter's client: the reqwest 0.12 (rustls) client aegis already has,
//! instead of the opentelemetry-http features that would pull in a second reqwest.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// How long one export request may take, body included.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(super) struct ReqwestClient(reqwest::Client);

impl ReqwestClient {
    pub(super) fn new() -> Result<Self, String> {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map(Self)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let mut out = Response::builder().status(response.status());
        if let Some(headers) = out.headers_mut() {
            headers.extend(response.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let body = response.bytes().await?;
        Ok(out.body(body)?)
    }
}
