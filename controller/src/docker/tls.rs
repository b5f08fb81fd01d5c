//! The TLS transport to a remote Docker engine.
//!
//! bollard's `connect_with_ssl` adds the system's (or webpki's) public roots to the CA the user
//! names, so any publicly trusted certificate for the host's name would be accepted, e.g. one
//! issued by Let's Encrypt for the same domain. `docker --tlsverify --tlscacert` trusts only
//! that CA; so do we: the root store holds exactly `tls.ca`, and the client certificate is
//! loaded up front (a bad key is an error here, not a silent "no certificate" later).

use std::sync::Arc;

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

use crate::desired::TlsFiles;

/// A client for `https://addr` that trusts only `tls.ca` and presents `tls.cert`/`tls.key`.
pub(crate) fn connect(
    addr: &str,
    tls: &TlsFiles,
    timeout: u64,
    version: &ClientVersion,
) -> Result<Docker, String> {
    let ca =
        std::fs::read(&tls.ca).map_err(|e| format!("tls.ca `{}` cannot be read: {e}", tls.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|e| format!("tls.ca `{}` is not PEM: {e}", tls.ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls.ca `{}` holds an unusable certificate: {e}", tls.ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("tls.ca `{}` holds no certificate", tls.ca.display()));
    }
    let cert_pem = std::fs::read(&tls.cert)
        .map_err(|e| format!("tls.cert `{}` cannot be read: {e}", tls.cert.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls.cert `{}` is not PEM: {e}", tls.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("tls.key `{}` holds no usable private key: {e}", tls.key.display()))?;
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("tls.cert/tls.key `{}` cannot be used: {e}", tls.cert.display()))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_max_idle_per_host(0);
    let client = Arc::new(builder.build(https));
    let bare = addr.trim_start_matches("tcp://").trim_start_matches("https://");
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = Arc::clone(&client);
            Box::pin(async move { client.request(req).await.map_err(bollard::errors::Error::from) })
        },
        Some(format!("https://{bare}")),
        timeout,
        version,
    )
    .map_err(|e| e.to_string())
}
