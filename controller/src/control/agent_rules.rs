//! The pure decisions of [`super::agents`]: what `--backup-now`'s answer means for a client's
//! first start, when to look at an agent or a tunnel again, which agent action is new.

use std::time::Duration;

use crate::{
    agent::dnsguard::{AgentStatus, BackupReport},
    status::Timestamp,
};

use super::agents::API_RECHECK;

/// `--backup-now`'s answer: the report when a good backup is in place, else why the client
/// must wait.
pub fn backup_verdict(
    guard: &str,
    exit_code: Option<i64>,
    stdout: &str,
    stderr: &str,
) -> Result<BackupReport, String> {
    let report: Option<BackupReport> = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok());
    match report {
        Some(r) if r.ok() && exit_code == Some(0) => Ok(r),
        Some(r) => Err(format!(
            "waiting for DnsGuard/{guard}'s backup of resolv.conf before the client's first start: {}",
            r.detail
        )),
        None => Err(format!(
            "waiting for DnsGuard/{guard}'s backup of resolv.conf before the client's first start: \
             `--backup-now` gave no report (exit {}): {}",
            exit_code.map_or("unknown".into(), |c| c.to_string()),
            stderr
                .lines()
                .chain(stdout.lines())
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output")
        )),
    }
}

/// The `tier` label of `aegis_dnsguard_actions_total` for a pass's tier (1 to 4).
pub fn tier_label(tier: u8) -> Option<&'static str> {
    crate::telemetry::metrics::DNSGUARD_TIERS
        .get(usize::from(tier).checked_sub(1)?)
        .copied()
}

/// When to read a guard's agent again: every interval (its healthcheck runs at least that
/// often, see [`crate::resolve::dnsguards::expand`]), between one and thirty seconds.
pub fn follow_up(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// Whether a configured Pangolin API check is due: never asked, or asked longer than
/// [`API_RECHECK`] ago.
pub fn api_due(last: Option<&Timestamp>) -> bool {
    last.is_none_or(|t| t.age() >= API_RECHECK)
}

/// The event to record when the agent reports an action it had not reported before.
pub fn new_action(before: Option<&AgentStatus>, now: Option<&AgentStatus>) -> Option<String> {
    let act = now?.last_action.as_ref()?;
    let seen = before
        .and_then(|b| b.last_action.as_ref())
        .is_some_and(|b| b.unix == act.unix && b.action == act.action);
    (!seen).then(|| {
        format!(
            "agent: tier {} {} at {}: {}",
            act.tier,
            act.action.as_str(),
            act.time,
            act.detail
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::dnsguard::{
        decide::Action, report::ResolvSummary, BackupAction, PassReport, ProbeResult,
    };

    fn pass(unix: u64, tier: u8, action: Action) -> PassReport {
        PassReport {
            time: format!("t{unix}"),
            unix,
            tier,
            action,
            detail: "restored /etc/resolv.conf.pre-pangolin".into(),
            probe: ProbeResult {
                server: "127.77.1.1:53".into(),
                ok: action == Action::None,
                rcode: None,
                error: None,
                millis: 1,
            },
            stub_probe: None,
            resolv_conf: ResolvSummary::default(),
        }
    }

    #[test]
    fn an_action_is_an_event_once() {
        let mut a = AgentStatus::default();
        a.record(pass(1, 1, Action::None));
        assert_eq!(new_action(None, Some(&a)), None);
        let mut b = a.clone();
        b.record(pass(2, 2, Action::RestoredBackup));
        let msg = new_action(Some(&a), Some(&b)).expect("an event");
        assert!(msg.starts_with("agent: tier 2 restored-backup at t2"), "{msg}");
        let mut c = b.clone();
        c.record(pass(3, 1, Action::None));
        assert_eq!(new_action(Some(&b), Some(&c)), None, "the same action again");
        // A controller that restarted (no previous report) records it once.
        assert!(new_action(None, Some(&c)).is_some());
    }

    #[test]
    fn tiers_name_their_metric_label() {
        assert_eq!(tier_label(2), Some("restore-backup"));
        assert_eq!(tier_label(4), Some("fallback"));
        assert_eq!((tier_label(0), tier_label(5)), (None, None));
    }

    #[test]
    fn follow_up_is_the_interval_within_bounds() {
        assert_eq!(follow_up(Duration::from_millis(200)), Duration::from_secs(1));
        assert_eq!(follow_up(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(follow_up(Duration::from_secs(300)), Duration::from_secs(30));
    }

    #[test]
    fn the_api_is_asked_at_most_once_a_minute() {
        assert!(api_due(None));
        assert!(!api_due(Some(&Timestamp::now())));
        let old = Timestamp(std::time::SystemTime::now() - Duration::from_secs(61));
        assert!(api_due(Some(&old)));
    }

    fn backup_line(action: BackupAction) -> String {
        serde_json::to_string(&BackupReport {
            time: "t".into(),
            action,
            detail: "/etc/resolv.conf is olm-generated".into(),
        })
        .expect("json")
    }

    #[test]
    fn the_client_waits_for_a_good_backup() {
        assert!(backup_verdict("g", Some(0), &backup_line(BackupAction::BackedUp), "").is_ok());
        assert!(backup_verdict("g", Some(0), &backup_line(BackupAction::KeptExisting), "").is_ok());
        let e = backup_verdict("g", Some(1), &backup_line(BackupAction::Refused), "").expect_err("refused");
        assert!(e.contains("DnsGuard/g") && e.contains("olm-generated"), "{e}");
        let e = backup_verdict("g", Some(126), "", "OCI runtime exec failed").expect_err("no report");
        assert!(e.contains("exit 126") && e.contains("OCI runtime"), "{e}");
    }
}
