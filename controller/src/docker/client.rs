//! One connection to one Docker engine, with a call counter.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bollard::{Docker, API_DEFAULT_VERSION};

use super::error::{connect_reason, DockerError, Result};
use crate::desired::{Endpoint, HostSpec};

/// Seconds before a single (non-streaming) request gives up.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// A connected Docker engine for one `Host`.
///
/// Cheap to clone: clones share the connection pool and the call counter.
#[derive(Debug, Clone)]
pub struct DockerHost {
    docker: Docker,
    host: String,
    endpoint: String,
    calls: Arc<AtomicU64>,
}

impl DockerHost {
    /// Connects to the host's engine and negotiates the API version (the engines we manage
    /// can be as old as 20.10, API 1.41). Negotiation is a real round trip, so an unreachable
    /// engine fails here, with a message naming the endpoint.
    pub async fn connect(spec: &HostSpec) -> Result<DockerHost> {
        let endpoint = describe(&spec.endpoint);
        let fail = |e: bollard::errors::Error| DockerError::Connect {
            host: spec.name.clone(),
            endpoint: endpoint.clone(),
            reason: connect_reason(&e),
            source: Some(e),
        };
        let docker = match &spec.endpoint {
            Endpoint::Default => Docker::connect_with_defaults(),
            Endpoint::Unix(path) => {
                Docker::connect_with_unix(&path.to_string_lossy(), REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
            Endpoint::Tcp { addr, tls: Some(tls) } => Docker::connect_with_ssl(
                addr,
                &tls.key,
                &tls.cert,
                &tls.ca,
                REQUEST_TIMEOUT_SECS,
                API_DEFAULT_VERSION,
            ),
            Endpoint::Tcp { addr, tls: None } => {
                Docker::connect_with_http(addr, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
        }
        .map_err(fail)?
        .with_timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS));
        let docker = docker.negotiate_version().await.map_err(fail)?;
        Ok(DockerHost {
            docker,
            host: spec.name.clone(),
            endpoint,
            calls: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The `Host` name this connection belongs to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The endpoint, as a URL-ish string for messages (`unix:///var/run/docker.sock`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The negotiated API version, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// Whether the engine accepts several networks in one create call (API 1.44+). Before
    /// that, extra networks must be connected between create and start.
    pub fn multi_network_create(&self) -> bool {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version) >= (1, 44)
    }

    /// How many Docker API calls were made through this connection (negotiation included).
    /// A streaming call (pull) counts once.
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The client, for exactly one API call: every use is counted. All calls of the docker
    /// layer go through here, which is what makes [`DockerHost::api_calls`] trustworthy.
    pub(crate) fn call(&self) -> &Docker {
        self.calls.fetch_add(1, Ordering::Relaxed);
        &self.docker
    }
}

/// A human-readable endpoint: the URL dockerd is reached at.
fn describe(e: &Endpoint) -> String {
    match e {
        Endpoint::Default => {
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
        }
        Endpoint::Unix(p) => {
            let p = p.to_string_lossy();
            if p.starts_with("unix://") {
                p.into_owned()
            } else {
                format!("unix://{p}")
            }
        }
        Endpoint::Tcp { addr, tls } => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let bare = addr.trim_start_matches("tcp://");
            let bare = bare.trim_start_matches("http://").trim_start_matches("https://");
            format!("tcp://{bare} ({scheme})")
        }
    }
}
