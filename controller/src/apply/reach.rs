//! "Can the controller still reach this host?", asked the way that counts after a
//! management-path change: over a **new** connection.
//!
//! A pooled connection opened before the change proves nothing: it may ride a tunnel session
//! that outlives the change, or already be dead and only fail on its next use. So every check
//! opens a fresh client ([`DockerHost::connect`] negotiates the API version: a real round trip
//! through the whole path) and, when the host has one, runs its `spec.probe` (a TCP connect or
//! an HTTP GET). Each check is bounded in time: a path that black-holes packets must not hang
//! the controller.

use std::time::Duration;

use crate::{
    desired::{HostSpec, Probe, ProbeTarget},
    docker::DockerHost,
};

/// One host to check after a change: how to reach it, and its probe.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCheck {
    pub spec: HostSpec,
    pub probe: Option<Probe>,
}

/// A fresh connection to `spec`, within `limit`. The error says why (refused, timed out, TLS).
pub async fn fresh(spec: &HostSpec, limit: Duration) -> Result<DockerHost, String> {
    match tokio::time::timeout(limit, DockerHost::connect(spec)).await {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "host `{}`: no answer within {}s",
            spec.name,
            limit.as_secs_f32()
        )),
    }
}

/// Runs a host's probe once.
pub async fn probe(host: &str, p: &Probe) -> Result<(), String> {
    let what = || format!("host `{host}`: probe {}", p.target);
    match &p.target {
        ProbeTarget::Tcp(addr) => {
            match tokio::time::timeout(p.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("{}: {e}", what())),
                Err(_) => Err(format!(
                    "{}: no answer within {}s",
                    what(),
                    p.timeout.as_secs_f32()
                )),
            }
        }
        ProbeTarget::Http(url) => {
            let client = reqwest::Client::builder()
                .timeout(p.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("{}: {e}", what()))?;
            let resp = client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("{}: {e}", what()))?;
            let code = resp.status();
            if code.is_success() || code.is_redirection() {
                Ok(())
            } else {
                Err(format!("{}: answered {code}", what()))
            }
        }
    }
}

/// A fresh connection to the host, then its probe. Returns the fresh connection.
pub async fn check(c: &HostCheck, limit: Duration) -> Result<DockerHost, String> {
    let host = fresh(&c.spec, limit).await?;
    if let Some(p) = &c.probe {
        probe(&c.spec.name, p).await?;
    }
    Ok(host)
}
