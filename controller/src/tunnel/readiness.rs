//! Is a tunnel client connected? Asked of the client itself, inside its container.
//!
//! - **pangolin-cli**: `pangolin-cli status --json` prints olm's status (fosrl/cli
//!   `internal/olm.StatusResponse`: `status`, `connected`, `registered`, `tunnelIP`,
//!   `version`, `peers`, `orgId`). Ready means `connected` (the websocket to Pangolin is up)
//!   and `registered` (the WireGuard interface exists). With no client running it prints a
//!   log line instead of JSON: not ready.
//! - **newt**: Newt writes `HEALTH_FILE` while connected to Pangolin and removes it when the
//!   connection drops: ready means the file exists.

use std::time::Duration;

use serde::Deserialize;

use crate::{
    docker::{exec, DockerHost, Result},
    manifest::kinds::TunnelType,
};

/// How long a readiness command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// The verdict, with what it was based on (for status messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready(String),
    NotReady(String),
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready(_))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OlmStatus {
    connected: bool,
    registered: bool,
    #[serde(default, rename = "tunnelIP")]
    tunnel_ip: String,
    #[serde(default)]
    version: String,
}

/// The verdict on `pangolin-cli status --json`'s exit code and output.
pub fn pangolin_status(exit_code: Option<i64>, stdout: &str) -> Readiness {
    if exit_code != Some(0) {
        return Readiness::NotReady(match exit_code {
            Some(c) => format!(
                "`pangolin-cli status --json` exited with {c}: {}",
                first_line(stdout)
            ),
            None => "`pangolin-cli status --json` did not finish".into(),
        });
    }
    let Some(json) = stdout.find('{').map(|i| &stdout[i..]) else {
        return Readiness::NotReady(format!("no client status: {}", first_line(stdout)));
    };
    match serde_json::from_str::<OlmStatus>(json) {
        Ok(s) if s.connected && s.registered => Readiness::Ready(format!(
            "connected and registered (tunnel IP {}, olm {})",
            s.tunnel_ip, s.version
        )),
        Ok(s) => Readiness::NotReady(format!(
            "connected={}, registered={}: the client is not up yet",
            s.connected, s.registered
        )),
        Err(e) => Readiness::NotReady(format!("unreadable client status ({e})")),
    }
}

/// The verdict on `test -f HEALTH_FILE`'s exit code.
pub fn newt_health_file(exit_code: Option<i64>, path: &str) -> Readiness {
    match exit_code {
        Some(0) => Readiness::Ready(format!("health file {path} exists")),
        _ => Readiness::NotReady(format!(
            "health file {path} does not exist: newt is not connected"
        )),
    }
}

/// Asks the client in `container` (see the module doc). A newt without a health file has no
/// way to tell, and counts as ready once running.
pub async fn check(
    host: &DockerHost,
    container: &str,
    tunnel: TunnelType,
    health_file: Option<&str>,
) -> Result<Readiness> {
    match (tunnel, health_file) {
        (TunnelType::PangolinCli, _) => {
            let out = exec::exec(
                host,
                container,
                &["pangolin-cli", "status", "--json"],
                EXEC_TIMEOUT,
            )
            .await?;
            Ok(pangolin_status(out.exit_code, &out.stdout))
        }
        (TunnelType::Newt, Some(path)) => {
            let out = exec::exec(host, container, &["test", "-f", path], EXEC_TIMEOUT).await?;
            Ok(newt_health_file(out.exit_code, path))
        }
        (TunnelType::Newt, None) => Ok(Readiness::Ready("running (no healthFile to check)".into())),
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `pangolin-cli status --json` prints (json.MarshalIndent of StatusResponse).
    const CONNECTED: &str = r#"{
  "status": "ok",
  "connected": true,
  "tunnelIP": "100.90.128.5",
  "version": "1.2.0",
  "peers": {"1": {"siteId": 1, "connected": true, "rtt": 13000000, "lastSeen": "2026-02-19T10:00:00Z", "endpoint": "203.0.113.7:21820", "isRelay": true}},
  "registered": true,
  "orgId": "homeops"
}"#;

    #[test]
    fn connected_and_registered_is_ready() {
        assert!(pangolin_status(Some(0), CONNECTED).is_ready());
        let half = CONNECTED.replace("\"registered\": true", "\"registered\": false");
        assert_eq!(
            pangolin_status(Some(0), &half),
            Readiness::NotReady("connected=true, registered=false: the client is not up yet".into())
        );
    }

    #[test]
    fn no_client_or_failure_is_not_ready() {
        assert!(!pangolin_status(Some(0), "INFO: No client is currently running\n").is_ready());
        assert!(!pangolin_status(Some(1), "Error: socket does not exist").is_ready());
        assert!(!pangolin_status(None, "").is_ready());
        assert!(!pangolin_status(Some(0), "{not json").is_ready());
    }

    #[test]
    fn newt_file() {
        assert!(newt_health_file(Some(0), "/tmp/healthy").is_ready());
        assert!(!newt_health_file(Some(1), "/tmp/healthy").is_ready());
    }
}
