//! `aegis healthcheck`: GET `/readyz` of a controller on this machine, for the image's
//! `HEALTHCHECK` (the image has no curl or shell).
//!
//! It reads the same `AEGIS_API` / `AEGIS_TLS_CERT` variables as `aegis controller`, so the
//! controller's environment configures both. An unspecified bind address (`0.0.0.0`, `::`)
//! is probed on loopback. Over HTTPS the certificate is not verified: the probe goes to
//! this machine, sends no token, and only reads a status code.

use std::{net::SocketAddr, time::Duration};

/// The flags of `aegis healthcheck`.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// The controller's API address (as given to `aegis controller --api`).
    #[arg(long = "api", env = "AEGIS_API", default_value_t = super::DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// The API serves HTTPS (default: when `AEGIS_TLS_CERT` is set, as for the controller).
    #[arg(long, env = "AEGIS_TLS_CERT", value_parser = has_value)]
    pub https: Option<bool>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

fn has_value(s: &str) -> Result<bool, String> {
    Ok(!matches!(s, "false" | "0" | ""))
}

impl HealthcheckArgs {
    /// The URL probed: loopback for an unspecified bind address.
    pub fn url(&self) -> String {
        let mut addr = self.bind;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let scheme = if self.https.unwrap_or(false) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{addr}/readyz")
    }
}

/// `Ok` when `/readyz` answers 200; otherwise what was wrong, for the health log.
pub async fn healthcheck(args: &HealthcheckArgs) -> Result<(), String> {
    let url = args.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let body = response.text().await.unwrap_or_default();
        Err(format!("{url}: {status} {}", body.trim()))
    }
}

/// An error and its causes, `: `-separated (reqwest's own message names no cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_bind_is_probed_on_loopback() {
        let args = |bind: &str, https| HealthcheckArgs {
            bind: bind.parse().unwrap(),
            https,
            timeout: 5,
        };
        assert_eq!(args("0.0.0.0:7443", None).url(), "http://127.0.0.1:7443/readyz");
        assert_eq!(args("[::]:7443", Some(true)).url(), "https://[::1]:7443/readyz");
        assert_eq!(
            args("10.0.0.5:8000", Some(false)).url(),
            "http://10.0.0.5:8000/readyz"
        );
    }
}
