//! The command line of `aegis agent dnsguard`.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use super::{defaults, resolv::Subnet, Config, ProbeTarget};
use crate::cli::exit::Exit;

/// `aegis agent dnsguard`: keep the host's DNS working when the tunnel's DNS proxy dies.
#[derive(Debug, Clone, clap::Args)]
pub struct DnsGuardArgs {
    /// The host's `/`: every other path is resolved inside it and never leaves it.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// The tunnel's DNS proxy, `ip` or `ip:port` (port 53 by default).
    #[arg(long, default_value = defaults::PROBE)]
    pub probe: String,
    /// The name the probe asks for.
    #[arg(long, default_value = defaults::PROBE_NAME)]
    pub probe_name: String,
    /// How long the probe waits for an answer, e.g. 2s.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Tier 2: the host-side backup.
    #[arg(long, default_value = defaults::BACKUP)]
    pub backup: PathBuf,
    /// The file being guarded.
    #[arg(long, default_value = defaults::RESOLV_CONF)]
    pub resolv_conf: PathBuf,
    /// Tier 4: fallback nameservers, comma-separated (e.g. 8.8.8.8,8.8.4.4).
    #[arg(long, value_delimiter = ',')]
    pub fallback: Vec<IpAddr>,
    /// Time between passes, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Nameservers in this subnet mean "points at the proxy" [default: the /24 around the
    /// probe address, Pangolin's per-organisation utility subnet].
    #[arg(long)]
    pub utility_subnet: Option<Subnet>,
    /// Where the running agent keeps its status (in its own container, not under --root).
    #[arg(long, default_value = defaults::STATUS_FILE)]
    pub status_file: PathBuf,
    /// Run one pass, print what it did as one JSON line, and exit (1 if the pass failed).
    #[arg(long, conflicts_with_all = ["backup_now", "health"])]
    pub once: bool,
    /// Take the host-side backup once and exit: refuses to overwrite a good backup, and
    /// refuses an olm-generated resolv.conf (exit 1 when no good backup results).
    #[arg(long, conflicts_with = "health")]
    pub backup_now: bool,
    /// The container healthcheck: print the running agent's status as one JSON line; exit 1
    /// when it is stale or its last pass failed.
    #[arg(long)]
    pub health: bool,
    /// systemd-resolved's stub listener (tier 3). Tests point it at a loopback server.
    #[arg(long, default_value = defaults::STUB_SERVER, hide = true)]
    pub stub_server: String,
    /// systemd-resolved's stub file (tier 3), as seen on the host.
    #[arg(long, default_value = defaults::STUB_FILE, hide = true)]
    pub stub_file: PathBuf,
}

impl DnsGuardArgs {
    pub fn into_config(self) -> Result<Config, String> {
        let server = parse_server(&self.probe, "--probe")?;
        let stub_server = parse_server(&self.stub_server, "--stub-server")?;
        for (flag, p) in [
            ("--backup", &self.backup),
            ("--resolv-conf", &self.resolv_conf),
            ("--stub-file", &self.stub_file),
        ] {
            if !p.is_absolute() {
                return Err(format!(
                    "{flag} `{}` must be an absolute path (as seen on the host)",
                    p.display()
                ));
            }
        }
        if self.interval.is_zero() {
            return Err("--interval must be more than 0".into());
        }
        Ok(Config {
            root: self.root,
            probe: ProbeTarget {
                server,
                name: self.probe_name,
                timeout: self.timeout,
            },
            utility_subnet: self.utility_subnet.unwrap_or_else(|| Subnet::around(server.ip())),
            resolv_conf: self.resolv_conf,
            backup: self.backup,
            stub_file: self.stub_file,
            stub_server,
            fallback: self.fallback,
            interval: self.interval,
            status_file: self.status_file,
        })
    }

    /// Runs the command: `--once`, `--backup-now`, `--health`, or the long-running agent
    /// (until SIGTERM or SIGINT). 1 means the pass failed, the backup was refused, or (for
    /// `--health`, as Docker's healthcheck expects) the agent is unhealthy.
    pub fn run(self) -> Exit {
        let (once, backup_now, health) = (self.once, self.backup_now, self.health);
        let cfg = match self.into_config() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        if health {
            let (line, verdict) = super::health(&cfg.status_file);
            if !line.is_empty() {
                println!("{line}");
            }
            return match verdict {
                Ok(()) => Exit::Success,
                Err(e) => {
                    println!("unhealthy: {e}");
                    Exit::Failed
                }
            };
        }
        if backup_now {
            let report = super::backup_now(&cfg);
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            return if report.ok() { Exit::Success } else { Exit::Failed };
        }
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return Exit::Error;
            }
        };
        if once {
            let report = runtime.block_on(super::run_once(&cfg));
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            return if report.action == super::Action::Failed {
                Exit::Failed
            } else {
                Exit::Success
            };
        }
        tracing::info!(
            root = %cfg.root.display(),
            probe = %cfg.probe.server,
            utility_subnet = %cfg.utility_subnet,
            interval = ?cfg.interval,
            "dnsguard agent starting"
        );
        runtime.block_on(super::run(&cfg, shutdown_signal()));
        tracing::info!("dnsguard agent stopped");
        Exit::Success
    }
}

/// `ip` or `ip:port` (`[v6]:port`); the port defaults to 53.
fn parse_server(s: &str, flag: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{flag} `{s}` is not an IP address or ip:port"))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::manifest::kinds::Duration::parse(s).map(|d| d.0)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: DnsGuardArgs,
    }

    fn cfg(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        T::try_parse_from(v).map_err(|e| e.to_string())?.a.into_config()
    }

    #[test]
    fn defaults_follow_the_seed() {
        let c = cfg(&[]).expect("defaults");
        assert_eq!(c.probe.server.to_string(), "100.96.128.1:53");
        assert_eq!(c.utility_subnet.to_string(), "100.96.128.0/24");
        assert_eq!(c.backup, PathBuf::from("/etc/resolv.conf.pre-pangolin"));
        assert_eq!(c.interval.as_secs(), 30);
        assert!(c.fallback.is_empty());
    }

    #[test]
    fn flags() {
        let c = cfg(&[
            "--root",
            "/host",
            "--probe",
            "127.77.0.1:5353",
            "--fallback",
            "8.8.8.8,8.8.4.4",
            "--interval",
            "1s",
            "--utility-subnet",
            "127.77.0.0/16",
        ])
        .expect("flags");
        assert_eq!(c.root, PathBuf::from("/host"));
        assert_eq!(c.probe.server.port(), 5353);
        assert_eq!(c.fallback.len(), 2);
        assert_eq!(c.utility_subnet.to_string(), "127.77.0.0/16");
        assert_eq!(cfg(&["--probe", "10.0.0.1"]).expect("ip").probe.server.port(), 53);
        assert!(cfg(&["--probe", "pangolin"]).unwrap_err().contains("--probe"));
        assert!(cfg(&["--backup", "etc/x"]).unwrap_err().contains("absolute"));
        assert!(cfg(&["--once", "--health"]).is_err());
    }
}
