//! One connection to one Docker engine, with a call counter.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bollard::{Docker, API_DEFAULT_VERSION};
use tracing::Instrument as _;

use super::error::{connect_reason, DockerError, Result};
use crate::desired::{Endpoint, HostSpec, TlsFiles};

/// Seconds before a single (non-streaming) request gives up.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// Seconds a long transfer (an image load, which answers only once the whole upload is read)
/// may take: a big image over a slow tunnel takes far longer than [`REQUEST_TIMEOUT_SECS`].
const TRANSFER_TIMEOUT_SECS: u64 = 3600;

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
        let span = if tracing::Span::current().is_none() {
            tracing::Span::none() // see `api`
        } else {
            tracing::debug_span!("docker", otel.name = "docker.connect", aegis.host = %spec.name)
        };
        let result = Self::connect_in(spec).instrument(span.clone()).await;
        if let Err(e) = &result {
            crate::telemetry::spans::record_error(&span, &e.to_string());
        }
        result
    }

    async fn connect_in(spec: &HostSpec) -> Result<DockerHost> {
        let endpoint = describe(&spec.endpoint);
        let fail = |e: bollard::errors::Error| {
            let reason = connect_reason(&e);
            let tls = match &spec.endpoint {
                Endpoint::Tcp { tls: Some(tls), .. } => tls_problem(&reason, tls),
                _ => None,
            };
            match tls {
                Some(problem) => DockerError::Tls {
                    host: spec.name.clone(),
                    endpoint: endpoint.clone(),
                    problem,
                    source: Some(e),
                },
                None => DockerError::Connect {
                    host: spec.name.clone(),
                    endpoint: endpoint.clone(),
                    reason,
                    source: Some(e),
                },
            }
        };
        let docker = match &spec.endpoint {
            Endpoint::Default => Docker::connect_with_defaults().map_err(fail)?,
            Endpoint::Unix(path) => {
                Docker::connect_with_unix(&path.to_string_lossy(), REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
                    .map_err(fail)?
            }
            Endpoint::Tcp { addr, tls: Some(tls) } => {
                // bollard reads the client certificate and key only during the handshake and,
                // if that fails, silently sends none: the engine then answers "BadCertificate",
                // which hides the real problem. So check the files first.
                check_tls_files(tls).map_err(|problem| DockerError::Tls {
                    host: spec.name.clone(),
                    endpoint: endpoint.clone(),
                    problem,
                    source: None,
                })?;
                super::tls::connect(addr, tls, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION).map_err(
                    |problem| DockerError::Tls {
                        host: spec.name.clone(),
                        endpoint: endpoint.clone(),
                        problem,
                        source: None,
                    },
                )?
            }
            Endpoint::Tcp { addr, tls: None } => {
                Docker::connect_with_http(addr, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION).map_err(fail)?
            }
        }
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
    /// layer go through here (or through [`DockerHost::api`], which adds a span), which is
    /// what makes [`DockerHost::api_calls`] trustworthy.
    pub(crate) fn call(&self) -> &Docker {
        self.calls.fetch_add(1, Ordering::Relaxed);
        &self.docker
    }

    /// One counted API call, `op` (bollard's method name), under its own span `docker.<op>`
    /// when it is part of a traced operation (see [`crate::telemetry::spans`]). The span is marked failed when the engine answers
    /// with an error other than 304 (not modified) or 404 (not found), which callers treat
    /// as normal answers ("already started", "already gone", "no such image").
    pub(crate) async fn api<'a, T, F, Fut>(
        &'a self,
        op: &'static str,
        f: F,
    ) -> std::result::Result<T, bollard::errors::Error>
    where
        F: FnOnce(&'a Docker) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, bollard::errors::Error>> + 'a,
    {
        let span = if tracing::Span::current().is_none() {
            // Outside any reconcile (the event watcher's pings, every few seconds): traced,
            // each call would be a trace of its own, noise in the trace store.
            tracing::Span::none()
        } else {
            tracing::debug_span!(
                "docker",
                otel.name = format!("docker.{op}"),
                docker.operation = op,
                aegis.host = %self.host,
            )
        };
        let result = f(self.call()).instrument(span.clone()).await;
        if let Err(e) = &result {
            crate::telemetry::spans::record_docker_error(&span, e);
        }
        result
    }

    /// Like [`DockerHost::call`], for one long transfer (image export or load): the same
    /// connection pool with a one-hour request timeout instead of two minutes.
    pub(crate) fn call_long(&self) -> Docker {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.docker
            .clone()
            .with_timeout(Duration::from_secs(TRANSFER_TIMEOUT_SECS))
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

/// Checks that the TLS files of a host can be read and hold what they should: a PEM
/// certificate in `ca` and `cert`, a PEM private key in `key`. The message names the field.
fn check_tls_files(tls: &TlsFiles) -> Result<(), String> {
    let files = [
        ("tls.ca", &tls.ca, "CERTIFICATE", "certificate"),
        ("tls.cert", &tls.cert, "CERTIFICATE", "certificate"),
        ("tls.key", &tls.key, "PRIVATE KEY", "private key"),
    ];
    for (field, path, tag, what) in files {
        let bytes =
            std::fs::read(path).map_err(|e| format!("{field} `{}` cannot be read: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let found = text.lines().any(|l| {
            let l = l.trim_end();
            l.starts_with("-----BEGIN ") && l.ends_with(&format!("{tag}-----"))
        });
        if !found {
            return Err(format!("{field} `{}` holds no PEM {what}", path.display()));
        }
    }
    Ok(())
}

/// A failed TLS handshake, said in terms of the host's `tls` fields, or `None` when `reason`
/// (the innermost error of a failed connect, see [`connect_reason`]) is not about TLS.
///
/// rustls gives no error type we can reach through bollard's chain without depending on
/// rustls ourselves, so this matches its messages: `invalid peer certificate: …` (we do not
/// trust the engine) and `received fatal alert: …` (the engine does not trust us).
fn tls_problem(reason: &str, tls: &TlsFiles) -> Option<String> {
    if reason.starts_with("invalid peer certificate") {
        Some(format!(
            "the server certificate could not be verified with tls.ca `{}` ({reason}) — is tls.ca \
             the CA that signed the engine's certificate (dockerd --tlscert), and is that \
             certificate valid for this address?",
            tls.ca.display()
        ))
    } else if reason.starts_with("received fatal alert") {
        Some(format!(
            "the engine rejected the client certificate tls.cert `{}` ({reason}) — it must be \
             signed by the CA the engine trusts (dockerd --tlscacert), match tls.key `{}`, and \
             allow client authentication (extendedKeyUsage clientAuth)",
            tls.cert.display(),
            tls.key.display()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn files(dir: &std::path::Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    #[test]
    fn tls_files_are_checked_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let tls = files(dir.path());
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let err = check_tls_files(&tls).unwrap_err();
        assert!(
            err.starts_with("tls.ca `") && err.contains("cannot be read"),
            "{err}"
        );
        std::fs::write(&tls.ca, cert).unwrap();
        std::fs::write(&tls.cert, "not pem").unwrap();
        let err = check_tls_files(&tls).unwrap_err();
        assert!(
            err.starts_with("tls.cert `") && err.contains("holds no PEM certificate"),
            "{err}"
        );
        std::fs::write(&tls.cert, cert).unwrap();
        std::fs::write(&tls.key, cert).unwrap();
        let err = check_tls_files(&tls).unwrap_err();
        assert!(
            err.contains("tls.key") && err.contains("no PEM private key"),
            "{err}"
        );
        for key in ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"] {
            std::fs::write(
                &tls.key,
                format!("-----BEGIN {key}-----\nMHc\n-----END {key}-----\n"),
            )
            .unwrap();
            check_tls_files(&tls).unwrap();
        }
    }

    #[test]
    fn tls_handshake_failures_name_the_side_and_the_file() {
        let tls = files(&PathBuf::from("/etc/aegis"));
        let p = tls_problem("invalid peer certificate: UnknownIssuer", &tls).unwrap();
        assert!(
            p.contains("server certificate could not be verified") && p.contains("/etc/aegis/ca.pem"),
            "{p}"
        );
        let p = tls_problem("received fatal alert: BadCertificate", &tls).unwrap();
        assert!(
            p.contains("rejected the client certificate") && p.contains("/etc/aegis/cert.pem"),
            "{p}"
        );
        assert_eq!(tls_problem("Connection refused (os error 111)", &tls), None);
    }
}
