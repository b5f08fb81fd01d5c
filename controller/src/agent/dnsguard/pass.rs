//! One pass of the four tiers: gather the facts, decide (`decide.rs`), act, report.

use super::{
    decide::{self, Action, BackupView, Repair, StubView, Triage},
    probe::{self, ProbeResult, ProbeTarget},
    report::{self, PassReport, ResolvSummary},
    resolv::{self, ResolvConf},
    root::{Entry, Root},
    Config,
};

/// Mode of the files the agent writes: what `resolv.conf` has on every distribution.
const FILE_MODE: u32 = 0o644;

/// Runs the tiers once. Never panics; a failure to act is reported as [`Action::Failed`].
pub async fn run(cfg: &Config) -> PassReport {
    let unix = report::unix_now();
    let time = report::rfc3339_now();
    let root = match Root::new(&cfg.root) {
        Ok(r) => r,
        Err(e) => {
            let probe = probe::probe(&cfg.probe).await;
            return failed(time, unix, 1, format!("{e}"), probe, ResolvSummary::default());
        }
    };
    let (resolv, summary) = match read_resolv(&root, cfg) {
        Ok(x) => x,
        Err(e) => {
            let probe = probe::probe(&cfg.probe).await;
            return failed(
                time,
                unix,
                1,
                format!("cannot read {}: {e}", cfg.resolv_conf.display()),
                probe,
                ResolvSummary::default(),
            );
        }
    };
    let probe = probe::probe(&cfg.probe).await;
    let base = |tier: u8, action: Action, detail: String, stub_probe: Option<ProbeResult>| PassReport {
        time: time.clone(),
        unix,
        tier,
        action,
        detail,
        probe: probe.clone(),
        stub_probe,
        resolv_conf: summary.clone(),
    };
    if let Triage::Leave(why) = decide::triage(probe.ok, resolv.as_ref(), &cfg.utility_subnet) {
        return base(1, Action::None, why, None);
    }

    let backup = backup_view(&root, cfg);
    let (stub, stub_probe) = if backup == BackupView::Usable {
        (StubView::Missing, None)
    } else {
        stub_view(&root, cfg).await
    };
    let repair = decide::repair(&backup, &stub, &cfg.fallback);
    let tier = repair.tier();
    let dead = format!(
        "the proxy {} does not answer ({}) and resolv.conf points at it",
        probe.server,
        probe.error.as_deref().unwrap_or("no answer")
    );
    let (action, result) = match &repair {
        Repair::RestoreBackup => (
            Action::RestoredBackup,
            restore_backup(&root, cfg).map(|()| format!("{dead}: restored {}", cfg.backup.display())),
        ),
        Repair::RelinkStub => (
            Action::RelinkedStub,
            root.symlink_atomic(&cfg.resolv_conf, &cfg.stub_file)
                .map(|()| {
                    format!(
                        "{dead}: no usable backup; {} -> {} (systemd-resolved answers)",
                        cfg.resolv_conf.display(),
                        cfg.stub_file.display()
                    )
                })
                .map_err(|e| e.to_string()),
        ),
        Repair::WriteFallback(ns) => (
            Action::WroteFallback,
            root.write_atomic(&cfg.resolv_conf, resolv::fallback_file(ns).as_bytes(), FILE_MODE)
                .map(|()| {
                    let list: Vec<String> = ns.iter().map(ToString::to_string).collect();
                    format!(
                        "{dead}: no usable backup, no systemd-resolved stub; wrote nameservers {}",
                        list.join(", ")
                    )
                })
                .map_err(|e| e.to_string()),
        ),
        Repair::GiveUp(why) => (Action::Failed, Err(format!("{dead}: {why}"))),
    };
    match result {
        Ok(detail) => base(tier, action, detail, stub_probe),
        Err(e) => base(
            tier,
            Action::Failed,
            format!("tier {tier} ({}) failed: {e}", action.as_str()),
            stub_probe,
        ),
    }
}

fn failed(
    time: String,
    unix: u64,
    tier: u8,
    detail: String,
    probe: ProbeResult,
    resolv_conf: ResolvSummary,
) -> PassReport {
    PassReport {
        time,
        unix,
        tier,
        action: Action::Failed,
        detail,
        probe,
        stub_probe: None,
        resolv_conf,
    }
}

/// `resolv.conf` as found: parsed (following a symlink inside the root), and its form.
fn read_resolv(root: &Root, cfg: &Config) -> std::io::Result<(Option<ResolvConf>, ResolvSummary)> {
    let form = match root.entry(&cfg.resolv_conf)? {
        Entry::Missing => "missing",
        Entry::Symlink(_) => "symlink",
        Entry::File | Entry::Other => "file",
    };
    let parsed = root
        .read(&cfg.resolv_conf)?
        .map(|bytes| ResolvConf::parse(&String::from_utf8_lossy(&bytes)));
    let summary = ResolvSummary {
        form: form.to_string(),
        nameservers: parsed
            .iter()
            .flat_map(|r| r.nameservers.iter().map(ToString::to_string))
            .collect(),
        olm_generated: parsed.as_ref().is_some_and(|r| r.olm_generated),
        points_at_proxy: parsed
            .as_ref()
            .is_some_and(|r| r.points_at_proxy(&cfg.utility_subnet)),
    };
    Ok((parsed, summary))
}

/// Tier 2's input: is there a backup, and would restoring it help?
pub(super) fn backup_view(root: &Root, cfg: &Config) -> BackupView {
    match root.read(&cfg.backup) {
        Ok(None) => BackupView::Missing,
        Err(e) => BackupView::Unusable(format!("{} cannot be read: {e}", cfg.backup.display())),
        Ok(Some(bytes)) => {
            let r = ResolvConf::parse(&String::from_utf8_lossy(&bytes));
            if r.is_usable(&cfg.utility_subnet) {
                BackupView::Usable
            } else if r.points_at_proxy(&cfg.utility_subnet) {
                BackupView::Unusable(format!("{} points at the proxy too", cfg.backup.display()))
            } else {
                BackupView::Unusable(format!("{} names no nameserver", cfg.backup.display()))
            }
        }
    }
}

async fn stub_view(root: &Root, cfg: &Config) -> (StubView, Option<ProbeResult>) {
    match root.read(&cfg.stub_file) {
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => return (StubView::Missing, None),
    }
    let target = ProbeTarget {
        server: cfg.stub_server,
        ..cfg.probe.clone()
    };
    let p = probe::probe(&target).await;
    let view = if p.ok {
        StubView::Available
    } else {
        StubView::Silent
    };
    (view, Some(p))
}

fn restore_backup(root: &Root, cfg: &Config) -> Result<(), String> {
    let bytes = root
        .read(&cfg.backup)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} disappeared", cfg.backup.display()))?;
    root.write_atomic(&cfg.resolv_conf, &bytes, FILE_MODE)
        .map_err(|e| e.to_string())
}
