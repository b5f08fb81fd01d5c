//! The DnsGuard and TunnelClient parts of `aegisctl get` and `describe`: the agent's last
//! probe and action, the tunnel's connection and Pangolin API check. Formatting only.
//!
//! ```text
//! NAME      HOST    READY   STATUS                    PROBE    LAST-PROBE   LAST-ACTION              REVISION   AGE
//! vps-dns   vps     True    ReconciliationSucceeded   failed   4s           tier 2 restored-backup   0d89988    2h
//! ```

use std::{
    fmt::Write as _,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::table::short_age;
use crate::{
    desired::Kind,
    status::{AgentReport, ResourceStatus},
};

/// The extra columns of `get dnsguards` / `get tunnelclients` (after STATUS).
pub fn header(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::DnsGuard => &["PROBE", "LAST-PROBE", "LAST-ACTION"],
        Kind::TunnelClient => &["TYPE", "CONNECTED", "API"],
        _ => &[],
    }
}

/// The cells under [`header`] for one row (`-` where nothing was read yet).
pub fn cells(kind: Kind, s: &ResourceStatus) -> Vec<String> {
    let n = header(kind).len();
    match (&s.agent, kind) {
        (Some(AgentReport::DnsGuard(g)), Kind::DnsGuard) => {
            let last = g.agent.as_ref().and_then(|a| a.last_pass.as_ref());
            vec![
                g.probe_word().to_string(),
                last.map_or("-".into(), |p| short_age(since_unix(p.unix))),
                g.last_action_words(),
            ]
        }
        (Some(AgentReport::TunnelClient(t)), Kind::TunnelClient) => vec![
            t.tunnel_type.clone(),
            t.connected.map_or("-".into(), |c| c.to_string()),
            t.api.state.clone(),
        ],
        _ => vec!["-".to_string(); n],
    }
}

fn since_unix(unix: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(now.saturating_sub(unix))
}

/// The `describe` section (`Agent:` or `Tunnel:`), empty for other kinds.
pub fn describe_section(s: &ResourceStatus) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| {
        let _ = writeln!(out, "  {:<15}{v}", format!("{k}:"));
    };
    match (&s.agent, s.kind) {
        (Some(AgentReport::DnsGuard(g)), _) => {
            match g.agent.as_ref().and_then(|a| a.last_pass.as_ref()) {
                Some(p) => {
                    let result = match (&p.probe.ok, &p.probe.error, &p.probe.rcode) {
                        (true, _, Some(code)) => format!("answered ({code}) in {}ms", p.probe.millis),
                        (true, _, None) => format!("answered in {}ms", p.probe.millis),
                        (false, Some(e), _) => format!("no answer: {e}"),
                        (false, None, _) => "no answer".into(),
                    };
                    field(
                        "Last Probe",
                        format!(
                            "{} ({} ago) {} {result}",
                            p.time,
                            short_age(since_unix(p.unix)),
                            p.probe.server
                        ),
                    );
                    field(
                        "Last Pass",
                        format!("tier {} {}: {}", p.tier, p.action.as_str(), p.detail),
                    );
                }
                None => field("Last Probe", "<none>".into()),
            }
            let action = g.agent.as_ref().and_then(|a| a.last_action.as_ref());
            field(
                "Last Action",
                action.map_or("<none>".into(), |p| {
                    format!(
                        "tier {} {} at {}: {}",
                        p.tier,
                        p.action.as_str(),
                        p.time,
                        p.detail
                    )
                }),
            );
            let backup = g.agent.as_ref().and_then(|a| a.backup.as_ref());
            field(
                "Backup",
                backup.map_or("<none>".into(), |b| {
                    let word = serde_json::to_value(b.action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    format!("{word} at {}: {}", b.time, b.detail)
                }),
            );
            if let Some(note) = &g.note {
                field("Note", note.clone());
            }
            field("Read", g.read_at.to_string());
            format!("Agent:\n{out}")
        }
        (Some(AgentReport::TunnelClient(t)), _) => {
            field("Type", t.tunnel_type.clone());
            let connected = t.connected.map_or("unknown".into(), |c| c.to_string());
            field("Connected", format!("{connected} ({})", t.detail));
            field("Checked", t.checked_at.to_string());
            let when = t.api.checked_at.map(|c| format!(" (at {c})")).unwrap_or_default();
            field(
                "Pangolin API",
                format!("{}{when}: {}", t.api.state, t.api.summary),
            );
            format!("Tunnel:\n{out}")
        }
        (None, Kind::DnsGuard) => "Agent:\n  <not read yet>\n".into(),
        (None, Kind::TunnelClient) => "Tunnel:\n  <not checked yet>\n".into(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        agent::dnsguard::{
            decide::Action, report::ResolvSummary, AgentStatus, BackupAction, BackupReport, PassReport,
            ProbeResult,
        },
        status::{ApiCheck, GuardReport, StatusKey, Timestamp, TunnelReport},
    };

    fn guard() -> ResourceStatus {
        let mut a = AgentStatus {
            interval_secs: 1,
            backup: Some(BackupReport {
                time: "2026-11-30T19:00:00Z".into(),
                action: BackupAction::BackedUp,
                detail: "copied /etc/resolv.conf".into(),
            }),
            ..Default::default()
        };
        a.record(PassReport {
            time: "2026-11-30T19:00:05Z".into(),
            unix: 0,
            tier: 2,
            action: Action::RestoredBackup,
            detail: "restored /etc/resolv.conf.pre-pangolin".into(),
            probe: ProbeResult {
                server: "127.77.1.1:20053".into(),
                ok: false,
                rcode: None,
                error: Some("timed out".into()),
                millis: 500,
            },
            stub_probe: None,
            resolv_conf: ResolvSummary::default(),
        });
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::DnsGuard, "vps", "vps-dns"));
        s.agent = Some(AgentReport::DnsGuard(Box::new(GuardReport {
            agent: Some(a),
            note: None,
            read_at: Timestamp::now(),
        })));
        s
    }

    #[test]
    fn guard_cells_and_section() {
        let s = guard();
        let c = cells(Kind::DnsGuard, &s);
        assert_eq!(c[0], "failed");
        assert!(c[1].ends_with('y'), "{c:?}"); // unix 0: years ago
        assert_eq!(c[2], "tier 2 restored-backup");
        let d = describe_section(&s);
        assert!(
            d.starts_with("Agent:\n  Last Probe:    2026-11-30T19:00:05Z ("),
            "{d}"
        );
        assert!(d.contains("127.77.1.1:20053 no answer: timed out"), "{d}");
        assert!(
            d.contains("  Last Action:   tier 2 restored-backup at 2026-11-30T19:00:05Z: restored /etc/resolv.conf.pre-pangolin\n"),
            "{d}"
        );
        assert!(
            d.contains("  Backup:        backed-up at 2026-11-30T19:00:00Z: copied"),
            "{d}"
        );
    }

    #[test]
    fn tunnel_cells_and_section_say_not_checked() {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::TunnelClient, "vps", "mgmt"));
        assert_eq!(cells(Kind::TunnelClient, &s), ["-", "-", "-"]);
        assert_eq!(describe_section(&s), "Tunnel:\n  <not checked yet>\n");
        s.agent = Some(AgentReport::TunnelClient(TunnelReport {
            tunnel_type: "pangolin-cli".into(),
            connected: Some(true),
            detail: "connected and registered".into(),
            checked_at: Timestamp::now(),
            api: ApiCheck::not_checked(),
        }));
        assert_eq!(
            cells(Kind::TunnelClient, &s),
            ["pangolin-cli", "true", "not checked"]
        );
        let d = describe_section(&s);
        assert!(
            d.contains("  Connected:     true (connected and registered)\n"),
            "{d}"
        );
        assert!(
            d.contains("  Pangolin API:  not checked: Pangolin API: not checked (no pangolinApi)\n"),
            "{d}"
        );
    }
}
