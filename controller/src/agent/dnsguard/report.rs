//! What the agent reports, and how the controller reads it back.
//!
//! Every pass produces a [`PassReport`] (tier, action, probe result). The long-running agent
//! keeps an [`AgentStatus`] (the last pass, the last pass that acted, the startup backup) in a
//! JSON file inside its own container, `--status-file`. The container's healthcheck is
//! `aegis agent dnsguard --health`, which prints that status as one JSON line and fails when
//! it is stale or the last pass failed. Docker keeps the output of the last health checks in
//! `State.Health.Log`, so the controller reads the agent's status with the one inspect call
//! it makes anyway, no exec and no extra file transfer: [`AgentStatus::from_health_output`].
//! `--once` prints one [`PassReport`] line to stdout, and `--backup-now` one [`BackupReport`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{decide::Action, probe::ProbeResult};

/// One pass of the four tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassReport {
    /// When the pass ran (RFC 3339, UTC).
    pub time: String,
    /// The same, in seconds since the epoch (for age checks).
    pub unix: u64,
    /// The tier the pass ended in: 1 (nothing to do) to 4 (fallback nameservers).
    pub tier: u8,
    pub action: Action,
    /// Why, in words.
    pub detail: String,
    /// The tier-1 probe of the tunnel's DNS proxy.
    pub probe: ProbeResult,
    /// The probe of systemd-resolved's stub, when tier 3 was considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub_probe: Option<ProbeResult>,
    /// `resolv.conf` as found at the start of the pass.
    pub resolv_conf: ResolvSummary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResolvSummary {
    /// `file`, `symlink` or `missing`.
    pub form: String,
    pub nameservers: Vec<String>,
    pub olm_generated: bool,
    pub points_at_proxy: bool,
}

/// What `--backup-now` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupAction {
    /// The current `resolv.conf` was copied to the backup path.
    BackedUp,
    /// A good backup is already there; it was not overwritten.
    KeptExisting,
    /// No good backup exists and the current file cannot be one (olm-generated, names the
    /// proxy, has no nameserver, or is missing).
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    pub time: String,
    pub action: BackupAction,
    pub detail: String,
}

impl BackupReport {
    /// The backup the controller needs before a tunnel client starts is in place.
    pub fn ok(&self) -> bool {
        self.action != BackupAction::Refused
    }
}

/// The long-running agent's state, as the controller reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// The probe interval, so a reader can tell a stale status.
    pub interval_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<PassReport>,
    /// The most recent pass whose action was not `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<PassReport>,
    /// The backup taken (or kept, or refused) when the agent started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupReport>,
}

impl AgentStatus {
    /// Records a pass.
    pub fn record(&mut self, pass: PassReport) {
        if pass.action != Action::None {
            self.last_action = Some(pass.clone());
        }
        self.last_pass = Some(pass);
    }

    /// The healthcheck's verdict at `now_unix`: healthy when a pass ran within three intervals
    /// (plus slack for the probe timeouts) and it did not fail.
    pub fn health(&self, now_unix: u64) -> Result<(), String> {
        let Some(pass) = &self.last_pass else {
            return Err("no pass has run yet".into());
        };
        let max_age = self.interval_secs.saturating_mul(3).saturating_add(30);
        let age = now_unix.saturating_sub(pass.unix);
        if age > max_age {
            return Err(format!(
                "the last pass ran {age}s ago (more than {max_age}s): the agent is stuck"
            ));
        }
        if pass.action == Action::Failed {
            return Err(format!("tier {} failed: {}", pass.tier, pass.detail));
        }
        Ok(())
    }

    /// The status printed by `--health` (one JSON line), as found in a container's
    /// `State.Health.Log[].Output`. `None` when the output is not the agent's (e.g. the
    /// healthcheck could not run at all).
    pub fn from_health_output(output: &str) -> Option<AgentStatus> {
        output
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line.trim()).ok())
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// RFC 3339, UTC, seconds.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(unix: u64, action: Action) -> PassReport {
        PassReport {
            time: "2026-01-01T00:00:00Z".into(),
            unix,
            tier: if action == Action::None { 1 } else { 2 },
            action,
            detail: "d".into(),
            probe: ProbeResult {
                server: "100.96.128.1:53".into(),
                ok: action == Action::None,
                rcode: None,
                error: None,
                millis: 3,
            },
            stub_probe: None,
            resolv_conf: ResolvSummary::default(),
        }
    }

    #[test]
    fn last_action_survives_quiet_passes() {
        let mut s = AgentStatus {
            interval_secs: 30,
            ..Default::default()
        };
        s.record(pass(100, Action::RestoredBackup));
        s.record(pass(130, Action::None));
        assert_eq!(
            s.last_action.as_ref().map(|p| p.action),
            Some(Action::RestoredBackup)
        );
        assert_eq!(s.last_pass.as_ref().map(|p| p.unix), Some(130));
    }

    #[test]
    fn health_is_stale_after_three_intervals_and_failed_after_a_failed_pass() {
        let mut s = AgentStatus {
            interval_secs: 30,
            ..Default::default()
        };
        assert!(s.health(0).is_err());
        s.record(pass(1000, Action::None));
        assert!(s.health(1100).is_ok());
        assert!(s.health(1121).unwrap_err().contains("stuck"));
        s.record(pass(1000, Action::Failed));
        assert!(s.health(1001).unwrap_err().contains("failed"));
    }

    #[test]
    fn read_back_from_health_output() {
        let mut s = AgentStatus {
            interval_secs: 30,
            ..Default::default()
        };
        s.record(pass(5, Action::WroteFallback));
        let output = format!("{}\n", s.to_line());
        assert_eq!(AgentStatus::from_health_output(&output), Some(s));
        assert_eq!(AgentStatus::from_health_output("OCI runtime exec failed"), None);
    }
}
