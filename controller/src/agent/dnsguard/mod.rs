//! `aegis agent dnsguard`: the host DNS failsafe from the seed (phase 2d), as an agent.
//!
//! `pangolin-cli` points the host's `/etc/resolv.conf` at its DNS proxy (`100.96.128.1`). If
//! the client dies without cleaning up, every lookup on the host fails. Every `--interval` the
//! agent runs the seed's four tiers, in order, and stops at the first that applies:
//!
//! 1. **Probe** the proxy with one real DNS query and a timeout. It answers: nothing to do.
//! 2. **Restore** the host-side backup (`/etc/resolv.conf.pre-pangolin`), if it is usable.
//! 3. **Relink** systemd-resolved's stub, if its file exists and `127.0.0.53` answers,
//!    keeping `/etc/resolv.conf` a symlink as systemd-resolved set it up.
//! 4. **Write** the host's fallback nameservers.
//!
//! What the agent guarantees:
//! - **No flapping.** It acts only when the proxy is dead *and* `resolv.conf` still points at
//!   it (olm's marker, or a nameserver in the utility subnet; see [`resolv`]). After a repair
//!   the file points elsewhere, so the next pass leaves it alone.
//! - **Atomic writes, confined to `--root`.** Every path is resolved inside the root like a
//!   chroot would ([`root`]); files are replaced by rename, never written in place.
//! - **A backup before the client starts.** On start the agent takes the backup
//!   ([`backup`]) when there is no good one, and it refuses an olm-generated file. The
//!   controller applies a TunnelClient only after its DnsGuard is Ready, which is after the
//!   first pass, so the backup exists before the client's first start.
//! - **It reports every step** ([`report`]): each pass is logged with its tier and action,
//!   and the status (last pass, last action, backup) is what the container's healthcheck
//!   prints, which is how the controller reads it back.
//!
//! Files: `root.rs` (paths inside the root, atomic writes), `resolv.rs` (parsing, the olm
//! marker, subnets), `probe.rs` (the DNS query), `decide.rs` (the tiers, pure), `pass.rs`
//! (one pass: facts → decision → action), `backup.rs` (`--backup-now`), `report.rs` (what is
//! reported and read back), `args.rs` (the command line).
//!
//! ```no_run
//! # async fn demo() {
//! use aegis::agent::dnsguard::{self, Config};
//! let cfg = Config::for_root("/host");
//! let report = dnsguard::run_once(&cfg).await;
//! println!("tier {} {}", report.tier, report.action.as_str());
//! # }
//! ```

mod args;
pub mod backup;
pub mod decide;
mod pass;
pub mod probe;
pub mod report;
pub mod resolv;
pub mod root;

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

pub use args::DnsGuardArgs;
pub use backup::backup_now;
pub use decide::Action;
pub use probe::{ProbeResult, ProbeTarget};
pub use report::{AgentStatus, BackupAction, BackupReport, PassReport};
pub use resolv::{ResolvConf, Subnet, OLM_MARKER};

/// Defaults, shared with the controller's container expansion.
pub mod defaults {
    use std::time::Duration;

    /// Pangolin's DNS proxy: the first address of the default organisation utility subnet.
    pub const PROBE: &str = "100.96.128.1:53";
    pub const PROBE_NAME: &str = "example.com";
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
    pub const INTERVAL: Duration = Duration::from_secs(30);
    pub const RESOLV_CONF: &str = "/etc/resolv.conf";
    pub const BACKUP: &str = "/etc/resolv.conf.pre-pangolin";
    /// systemd-resolved's stub file; `/etc/resolv.conf` links here when resolved manages it.
    pub const STUB_FILE: &str = "/run/systemd/resolve/stub-resolv.conf";
    pub const STUB_SERVER: &str = "127.0.0.53:53";
    /// In the agent's own container, not under the root.
    pub const STATUS_FILE: &str = "/run/aegis/dnsguard-status.json";
}

/// Everything one agent needs. Paths other than `root` and `status_file` are as seen on the
/// host, and resolved inside `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The host's `/` (in the agent's container: where the host's files are mounted).
    pub root: PathBuf,
    pub probe: ProbeTarget,
    /// Nameservers in this subnet mean "points at the proxy". Default: the /24 around the
    /// probe address (Pangolin's per-organisation utility block).
    pub utility_subnet: Subnet,
    pub resolv_conf: PathBuf,
    pub backup: PathBuf,
    pub stub_file: PathBuf,
    /// systemd-resolved's stub listener (tier 3 asks it before relinking).
    pub stub_server: SocketAddr,
    pub fallback: Vec<IpAddr>,
    pub interval: Duration,
    /// Where the long-running agent keeps its [`AgentStatus`].
    pub status_file: PathBuf,
}

impl Config {
    /// The defaults, with the host's files under `root`.
    pub fn for_root(root: impl Into<PathBuf>) -> Config {
        let probe = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(100, 96, 128, 1)), 53);
        Config {
            root: root.into(),
            probe: ProbeTarget {
                server: probe,
                name: defaults::PROBE_NAME.into(),
                timeout: defaults::PROBE_TIMEOUT,
            },
            utility_subnet: Subnet::around(probe.ip()),
            resolv_conf: defaults::RESOLV_CONF.into(),
            backup: defaults::BACKUP.into(),
            stub_file: defaults::STUB_FILE.into(),
            stub_server: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53)), 53),
            fallback: Vec::new(),
            interval: defaults::INTERVAL,
            status_file: defaults::STATUS_FILE.into(),
        }
    }
}

/// One pass of the four tiers (`--once`).
pub async fn run_once(cfg: &Config) -> PassReport {
    let report = pass::run(cfg).await;
    log_pass(&report);
    report
}

/// The long-running agent: the backup, then a pass every interval until `shutdown` resolves.
/// The status file is rewritten after every pass; a pass that acts, or whose probe result
/// differs from the previous one, is also printed as one JSON line on stdout (the container's
/// log).
pub async fn run(cfg: &Config, shutdown: impl Future<Output = ()>) {
    let mut status = AgentStatus {
        interval_secs: cfg.interval.as_secs(),
        ..Default::default()
    };
    let backup = backup::backup_now(cfg);
    log_backup(&backup);
    status.backup = Some(backup);
    tokio::pin!(shutdown);
    loop {
        let report = pass::run(cfg).await;
        log_pass(&report);
        let changed = status.last_pass.as_ref().map(|p| p.probe.ok) != Some(report.probe.ok);
        if changed || report.action != Action::None {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
        }
        status.record(report);
        if let Err(e) = write_status(&cfg.status_file, &status) {
            tracing::error!(file = %cfg.status_file.display(), "cannot write the status file: {e}");
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.interval) => {}
            () = &mut shutdown => break,
        }
    }
}

/// `--health`: the status line and whether the agent is healthy (see [`AgentStatus::health`]).
pub fn health(status_file: &Path) -> (String, Result<(), String>) {
    let status: Result<AgentStatus, String> = std::fs::read(status_file)
        .map_err(|e| format!("cannot read {}: {e}", status_file.display()))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", status_file.display())));
    match status {
        Ok(s) => {
            let verdict = s.health(report::unix_now());
            (s.to_line(), verdict)
        }
        Err(e) => (String::new(), Err(e)),
    }
}

fn write_status(path: &Path, status: &AgentStatus) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".dnsguard-status.{}", std::process::id()));
    std::fs::write(&tmp, status.to_line())?;
    std::fs::rename(&tmp, path)
}

fn log_pass(r: &PassReport) {
    if r.action == Action::Failed {
        tracing::error!(
            tier = r.tier,
            action = r.action.as_str(),
            probe_ok = r.probe.ok,
            "{}",
            r.detail
        );
    } else if r.action != Action::None {
        tracing::warn!(
            tier = r.tier,
            action = r.action.as_str(),
            probe_ok = r.probe.ok,
            "{}",
            r.detail
        );
    } else {
        tracing::info!(
            tier = r.tier,
            action = r.action.as_str(),
            probe_ok = r.probe.ok,
            "{}",
            r.detail
        );
    }
}

fn log_backup(b: &BackupReport) {
    if b.ok() {
        tracing::info!(action = ?b.action, "backup: {}", b.detail);
    } else {
        tracing::warn!(action = ?b.action, "backup: {}", b.detail);
    }
}
