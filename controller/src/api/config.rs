//! [`ApiConfig`] and the controller flags that build it.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

use super::server::ServeError;

/// Where the API listens by default: loopback only, so that no token crosses a network
/// unless the operator says so.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7443);

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    /// The bearer token every client must present; already trimmed.
    pub token: String,
    /// PEM certificate chain and private key. Without them the API speaks plain HTTP,
    /// which is allowed only on loopback unless `insecure_api`.
    pub tls: Option<TlsFiles>,
    /// Allow plain HTTP on a non-loopback address (e.g. behind a TLS-terminating proxy).
    pub insecure_api: bool,
    /// `GET /metrics` needs the bearer token too.
    pub metrics_token_required: bool,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ApiConfig {
    /// Reads the token from `path`, trimming whitespace and the trailing newline that
    /// editors and `echo` add. An empty token is an error: it would let anyone in.
    pub fn read_token_file(path: &Path) -> Result<String, ServeError> {
        let raw = std::fs::read_to_string(path).map_err(|source| ServeError::TokenFile {
            path: path.to_path_buf(),
            source,
        })?;
        let token = raw.trim().to_owned();
        if token.is_empty() {
            return Err(ServeError::EmptyToken);
        }
        Ok(token)
    }
}

/// The API flags of `aegis controller`; `#[command(flatten)]` them into its arguments
/// and call [`ApiArgs::into_config`].
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Address of the HTTP API.
    #[arg(long = "api", env = "AEGIS_API", default_value_t = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// File holding the API's bearer token (required).
    #[arg(long, env = "AEGIS_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// PEM certificate (chain) for the API; serves HTTPS together with --tls-key.
    #[arg(long, env = "AEGIS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "AEGIS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback --api-bind (only behind a TLS-terminating proxy).
    #[arg(long, env = "AEGIS_INSECURE_API")]
    pub insecure_api: bool,
    /// Serve `/metrics` only with the API token (default: open, like most Prometheus
    /// targets; it shows resource names and revisions, never a secret).
    #[arg(long, env = "AEGIS_METRICS_TOKEN_REQUIRED")]
    pub metrics_token_required: bool,
}

impl ApiArgs {
    pub fn into_config(self) -> Result<ApiConfig, ServeError> {
        Ok(ApiConfig {
            bind: self.bind,
            token: ApiConfig::read_token_file(&self.token_file)?,
            tls: self
                .tls_cert
                .zip(self.tls_key)
                .map(|(cert, key)| TlsFiles { cert, key }),
            insecure_api: self.insecure_api,
            metrics_token_required: self.metrics_token_required,
        })
    }
}
