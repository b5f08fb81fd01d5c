//! A throwaway CA and a server certificate for 127.0.0.1 signed by it, for tests of TLS
//! servers (the aegis API, a git server over https).
//! Include it with `#[path = "support/certs.rs"] mod certs;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The PEM files [`write`] made.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes `ca.pem`, `server.pem` and `server.key` (for 127.0.0.1 and localhost) to `dir`.
pub fn write(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "aegis test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("server params");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let certs = Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&certs.ca, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(&certs.cert, server_cert.pem()).expect("write server.pem");
    std::fs::write(&certs.key, server_key.serialize_pem()).expect("write server.key");
    certs
}
