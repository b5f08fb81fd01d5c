//! Binding and serving: the loopback-or-TLS rule, plain or rustls, graceful shutdown.

use std::{
    future::Future,
    io,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    time::Duration,
};

use axum_server::{tls_rustls::RustlsConfig, Handle};
use tokio::sync::watch;

use super::{config::ApiConfig, routes::ApiState, tls};

/// How long open requests (a running reconcile) get to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback bind without TLS and without `--insecure-api`.
    #[error(
        "refusing to serve the API on {addr} without TLS: the token would cross the network in clear \
         text. Give --tls-cert and --tls-key, bind to 127.0.0.1, or pass --insecure-api if a proxy \
         terminates TLS"
    )]
    InsecureBind { addr: SocketAddr },
    /// The token file is empty (after trimming).
    #[error("the API token is empty; put a long random string in the --token-file")]
    EmptyToken,
    #[error("cannot read the API token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A certificate or key file is missing, unreadable or does not parse.
    #[error("TLS: {path}: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the API server failed: {0}")]
    Serve(#[source] io::Error),
}

/// A bound, not yet serving API. Split from [`ApiServer::run`] so that callers (and tests
/// binding port 0) learn the address before serving.
pub struct ApiServer {
    listener: TcpListener,
    token: String,
    tls: Option<RustlsConfig>,
}

impl ApiServer {
    /// Checks the config, loads the TLS files and binds.
    pub fn bind(config: ApiConfig) -> Result<Self, ServeError> {
        let addr = config.bind;
        if config.token.trim().is_empty() {
            return Err(ServeError::EmptyToken);
        }
        if config.tls.is_none() && !addr.ip().is_loopback() && !config.insecure_api {
            return Err(ServeError::InsecureBind { addr });
        }
        let tls = config
            .tls
            .as_ref()
            .map(tls::server_config)
            .transpose()?
            .map(RustlsConfig::from_config);
        let bind_err = |source| ServeError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        Ok(Self {
            listener,
            token: config.token.trim().to_owned(),
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` resolves, then ends watch streams and gives open requests
    /// [`SHUTDOWN_GRACE`] to finish.
    pub async fn run(
        self,
        state: ApiState,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let app = super::routes::router(state, &self.token, Some(stop_rx)).into_make_service();
        let handle = Handle::new();
        let plain = axum_server::from_tcp(self.listener).map_err(ServeError::Serve)?;
        let server: std::pin::Pin<Box<dyn Future<Output = io::Result<()>> + Send>> = match self.tls {
            Some(tls) => Box::pin(
                plain
                    .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(tls))
                    .handle(handle.clone())
                    .serve(app),
            ),
            None => Box::pin(plain.handle(handle.clone()).serve(app)),
        };
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return result.map_err(ServeError::Serve),
            () = shutdown => {}
        }
        let _ = stop_tx.send(true);
        handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        server.await.map_err(ServeError::Serve)
    }
}

/// [`ApiServer::bind`] then [`ApiServer::run`].
pub async fn serve(
    config: ApiConfig,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    ApiServer::bind(config)?.run(state, shutdown).await
}
