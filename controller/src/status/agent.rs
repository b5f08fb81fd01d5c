//! What a DnsGuard or TunnelClient reports beyond its containers, as `aegisctl get` and
//! `describe` show it:
//!
//! - a **DnsGuard**: the agent's own status (last probe: when, to which server, the result;
//!   last action with its tier; the startup backup), read back from the agent's healthcheck
//!   output ([`crate::agent::dnsguard::AgentStatus::from_health_output`]);
//! - a **TunnelClient**: whether the client says it is connected (pangolin-cli's `status
//!   --json`, newt's health file) and the optional Pangolin API check ("not checked" without
//!   `pangolinApi`).
//!
//! Plain data: no secret ever lands here (the API check's summary names objects, not keys).

use serde::{Deserialize, Serialize};

use super::time::Timestamp;
use crate::agent::dnsguard::AgentStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AgentReport {
    /// Boxed: the agent's status is much larger than a tunnel's report.
    DnsGuard(Box<GuardReport>),
    TunnelClient(TunnelReport),
}

/// A DnsGuard's agent, as last read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardReport {
    /// `None` until the agent's healthcheck has printed its status (before the first pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentStatus>,
    /// Why the status could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the controller read it.
    pub read_at: Timestamp,
}

/// A TunnelClient's connection and Pangolin API check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelReport {
    /// `pangolin-cli` or `newt`.
    pub tunnel_type: String,
    /// `None` when it could not be asked (the container is not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// What the answer was based on, e.g. "connected and registered (tunnel IP ...)".
    pub detail: String,
    pub checked_at: Timestamp,
    pub api: ApiCheck,
}

/// The Pangolin API check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCheck {
    /// `not checked`, `ok`, `problem` (offline, missing, not granted) or `failed` (the API
    /// could not be asked).
    pub state: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
}

impl ApiCheck {
    pub const NOT_CHECKED: &'static str = "not checked";

    pub fn not_checked() -> ApiCheck {
        ApiCheck {
            state: Self::NOT_CHECKED.into(),
            summary: "Pangolin API: not checked (no pangolinApi)".into(),
            checked_at: None,
        }
    }
}

impl GuardReport {
    /// PROBE: `ok`, `failed`, or `-` before the first pass.
    pub fn probe_word(&self) -> &'static str {
        match self.agent.as_ref().and_then(|a| a.last_pass.as_ref()) {
            Some(p) if p.probe.ok => "ok",
            Some(_) => "failed",
            None => "-",
        }
    }

    /// LAST-PROBE: when the last pass ran (RFC 3339), or `-`.
    pub fn last_probe_time(&self) -> &str {
        self.agent
            .as_ref()
            .and_then(|a| a.last_pass.as_ref())
            .map_or("-", |p| p.time.as_str())
    }

    /// LAST-ACTION: `tier N <action>` of the last pass that acted, or `none`.
    pub fn last_action_words(&self) -> String {
        match self.agent.as_ref().and_then(|a| a.last_action.as_ref()) {
            Some(p) => format!("tier {} {}", p.tier, p.action.as_str()),
            None if self.agent.is_some() => "none".into(),
            None => "-".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::dnsguard::{decide::Action, report::ResolvSummary, PassReport, ProbeResult};

    fn pass(tier: u8, action: Action, ok: bool) -> PassReport {
        PassReport {
            time: "2026-11-30T19:00:00Z".into(),
            unix: 1,
            tier,
            action,
            detail: "d".into(),
            probe: ProbeResult {
                server: "127.77.1.1:53".into(),
                ok,
                rcode: None,
                error: None,
                millis: 1,
            },
            stub_probe: None,
            resolv_conf: ResolvSummary::default(),
        }
    }

    #[test]
    fn columns_before_and_after_a_repair() {
        let mut r = GuardReport {
            agent: None,
            note: Some("no pass yet".into()),
            read_at: Timestamp::now(),
        };
        assert_eq!(
            (
                r.probe_word(),
                r.last_probe_time(),
                r.last_action_words().as_str()
            ),
            ("-", "-", "-")
        );
        let mut s = AgentStatus::default();
        s.record(pass(1, Action::None, true));
        r.agent = Some(s.clone());
        assert_eq!((r.probe_word(), r.last_action_words().as_str()), ("ok", "none"));
        s.record(pass(2, Action::RestoredBackup, false));
        r.agent = Some(s);
        assert_eq!(
            (r.probe_word(), r.last_action_words().as_str()),
            ("failed", "tier 2 restored-backup")
        );
        assert_eq!(r.last_probe_time(), "2026-11-30T19:00:00Z");
    }

    #[test]
    fn round_trips_as_json() {
        let r = AgentReport::TunnelClient(TunnelReport {
            tunnel_type: "newt".into(),
            connected: Some(true),
            detail: "health file /tmp/healthy exists".into(),
            checked_at: Timestamp::now(),
            api: ApiCheck::not_checked(),
        });
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["tunnelClient"]["api"]["state"], "not checked");
        let back: AgentReport = serde_json::from_value(v).expect("back");
        assert_eq!(back, r);
    }
}
