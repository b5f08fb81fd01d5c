//! `--backup-now`: the host-side backup tier 2 restores.
//!
//! olm keeps its own backup (`/etc/resolv.conf.olm.backup`) inside the client's container,
//! where it dies with the container: only `/etc/resolv.conf` is bind-mounted, and bind-mounting
//! the backup too makes olm's cleanup fail (seed, phase 2c). So the agent keeps one on the host,
//! taken before the tunnel client first starts. It holds the *content* of `resolv.conf` (through
//! a symlink), as a regular file, so restoring it never depends on another file still being
//! right.
//!
//! Two refusals keep the backup worth restoring: a good backup is never overwritten (the
//! client may already be running, and the current file may be its override), and a file that
//! is olm-generated or names the proxy is never taken as a backup.

use super::{
    decide::BackupView,
    pass,
    report::{self, BackupAction, BackupReport},
    resolv::ResolvConf,
    root::Root,
    Config,
};

/// Takes the backup if there is no good one and the current file is fit to be one.
pub fn backup_now(cfg: &Config) -> BackupReport {
    let (action, detail) = match take(cfg) {
        Ok(x) => x,
        Err(e) => (BackupAction::Refused, e),
    };
    BackupReport {
        time: report::rfc3339_now(),
        action,
        detail,
    }
}

fn take(cfg: &Config) -> Result<(BackupAction, String), String> {
    let root = Root::new(&cfg.root).map_err(|e| e.to_string())?;
    let backup = cfg.backup.display();
    let existing = pass::backup_view(&root, cfg);
    if existing == BackupView::Usable {
        return Ok((
            BackupAction::KeptExisting,
            format!("{backup} is already a good backup; not overwritten"),
        ));
    }
    let current = root
        .read(&cfg.resolv_conf)
        .map_err(|e| format!("cannot read {}: {e}", cfg.resolv_conf.display()))?
        .ok_or_else(|| format!("{} does not exist; nothing to back up", cfg.resolv_conf.display()))?;
    let parsed = ResolvConf::parse(&String::from_utf8_lossy(&current));
    if parsed.olm_generated {
        return Err(format!(
            "{} is olm-generated (the tunnel client's override); refusing to back it up",
            cfg.resolv_conf.display()
        ));
    }
    if parsed.points_at_proxy(&cfg.utility_subnet) {
        return Err(format!(
            "{} names the tunnel's DNS proxy ({}); refusing to back it up",
            cfg.resolv_conf.display(),
            cfg.utility_subnet
        ));
    }
    if parsed.nameservers.is_empty() {
        return Err(format!(
            "{} names no nameserver; refusing to back it up",
            cfg.resolv_conf.display()
        ));
    }
    root.write_atomic(&cfg.backup, &current, 0o644)
        .map_err(|e| format!("cannot write {backup}: {e}"))?;
    let replaced = match existing {
        BackupView::Unusable(why) => format!(" (replacing an unusable one: {why})"),
        _ => String::new(),
    };
    Ok((
        BackupAction::BackedUp,
        format!("copied {} to {backup}{replaced}", cfg.resolv_conf.display()),
    ))
}
