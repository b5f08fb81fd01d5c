//! `DnsGuard` manifests → the agent container on their host (pure).
//!
//! The agent is `aegis agent dnsguard` in the agent image (aegis's own executable). It needs:
//! - **the host's network** (`network_mode: host`), to reach the tunnel's DNS proxy over the
//!   host's routes and systemd-resolved's stub on the host's `127.0.0.53`;
//! - **the host's `/etc`**, read-write, as `/host/etc`: replacing `/etc/resolv.conf` (which
//!   may be a symlink) means renaming a file into `/etc`, so the directory is mounted, not
//!   the file;
//! - **`/run/systemd/resolve`**, read-only, as `/host/run/systemd/resolve`: tier 3 checks the
//!   stub file exists before pointing `resolv.conf` at it.
//!
//! The agent runs with `--root /host`, so the paths it is given are the host's own. It drops
//! every capability except `DAC_OVERRIDE` (to replace files in `/etc` whoever owns them) and
//! cannot gain new ones. Its healthcheck, `aegis agent dnsguard --health`, prints the agent's
//! status; the container is healthy once the first pass has run, which is what a TunnelClient
//! waits for.

use std::collections::BTreeMap;

use crate::{
    agent::dnsguard::defaults,
    desired::{
        BindSource, ContainerSpec, Healthcheck, Kind, Mount, MountKind, NetworkMode, RestartPolicy, StackSpec,
    },
    manifest::kinds::DnsGuardSpec,
};

/// The agent's container is named `aegis-dnsguard-<name>`.
pub const CONTAINER_PREFIX: &str = "aegis-dnsguard-";
/// Where the agent image keeps the aegis executable.
pub const AGENT_EXECUTABLE: &str = crate::agent::image::BINARY;
/// Where the host's files appear in the agent's container (`--root`).
pub const HOST_ROOT: &str = "/host";
/// Label on the agent's container: which agent it runs.
pub const AGENT_LABEL: &str = "aegis.dev/agent";

/// The image the agent runs when `spec.image` is not set: the alias of the agent image
/// aegis builds from its own executable ([`crate::agent::image::AgentImage::alias`]).
pub fn default_agent_image() -> String {
    format!("aegis-agent:{}", env!("CARGO_PKG_VERSION"))
}

/// The guard's settings with defaults applied, as the container and the TunnelClients that
/// rely on the guard need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub name: String,
    pub image: String,
    pub probe: String,
    pub probe_name: String,
    pub timeout: std::time::Duration,
    pub interval: std::time::Duration,
    pub resolv_conf: String,
    pub backup: String,
    pub fallback: Vec<String>,
    pub utility_subnet: Option<String>,
    pub host_etc: String,
    pub host_resolved_dir: String,
}

impl Guard {
    pub fn new(name: &str, spec: &DnsGuardSpec) -> Guard {
        Guard {
            name: name.to_string(),
            image: spec.image.clone().unwrap_or_else(default_agent_image),
            probe: spec.probe.server.clone(),
            probe_name: spec
                .probe
                .name
                .clone()
                .unwrap_or_else(|| defaults::PROBE_NAME.into()),
            timeout: spec.probe.timeout.map_or(defaults::PROBE_TIMEOUT, |d| d.0),
            interval: spec.interval.map_or(defaults::INTERVAL, |d| d.0),
            resolv_conf: spec
                .resolv_conf
                .clone()
                .unwrap_or_else(|| defaults::RESOLV_CONF.into()),
            backup: spec
                .backup_path
                .clone()
                .unwrap_or_else(|| defaults::BACKUP.into()),
            fallback: spec.fallback_nameservers.clone(),
            utility_subnet: spec.utility_subnet.clone(),
            host_etc: spec.host_etc.clone().unwrap_or_else(|| "/etc".into()),
            host_resolved_dir: spec
                .host_resolved_dir
                .clone()
                .unwrap_or_else(|| "/run/systemd/resolve".into()),
        }
    }

    /// Where the guarded `resolv.conf` is on the host, through `hostEtc`: what a pangolin-cli
    /// client bind-mounts as its `/etc/resolv.conf`, so that both look at the same file.
    pub fn resolv_conf_on_host(&self) -> String {
        let rel = self.resolv_conf.strip_prefix("/etc/").unwrap_or("resolv.conf");
        format!("{}/{rel}", self.host_etc.trim_end_matches('/'))
    }

    pub fn container_name(&self) -> String {
        format!("{CONTAINER_PREFIX}{}", self.name)
    }

    /// `aegis agent dnsguard ...` with this guard's settings (after the executable).
    pub fn agent_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "agent".into(),
            "dnsguard".into(),
            "--root".into(),
            HOST_ROOT.into(),
            "--probe".into(),
            self.probe.clone(),
            "--probe-name".into(),
            self.probe_name.clone(),
            "--timeout".into(),
            format!("{}ms", self.timeout.as_millis()),
            "--interval".into(),
            format!("{}ms", self.interval.as_millis()),
            "--resolv-conf".into(),
            self.resolv_conf.clone(),
            "--backup".into(),
            self.backup.clone(),
            "--status-file".into(),
            defaults::STATUS_FILE.into(),
        ];
        if !self.fallback.is_empty() {
            a.push("--fallback".into());
            a.push(self.fallback.join(","));
        }
        if let Some(u) = &self.utility_subnet {
            a.push("--utility-subnet".into());
            a.push(u.clone());
        }
        a
    }
}

/// The agent's container, as the only container of the `DnsGuard/<name>` resource.
pub fn expand(guard: &Guard) -> StackSpec {
    let bind = |source: &str, target: &str, read_only: bool, create: bool| Mount {
        target: target.into(),
        read_only,
        kind: MountKind::Bind {
            source: BindSource::Host(source.into()),
            propagation: None,
            create_host_path: create,
            relabel: None,
        },
    };
    // The healthcheck reads a file: cheap, so it may run more often than the passes.
    let health_every = guard.interval.min(std::time::Duration::from_secs(10));
    let container = ContainerSpec {
        name: guard.container_name(),
        stack: guard.name.clone(),
        service: "dnsguard".into(),
        image: guard.image.clone(),
        labels: BTreeMap::from([(AGENT_LABEL.to_string(), "dnsguard".to_string())]),
        entrypoint: Some(vec![AGENT_EXECUTABLE.into()]),
        command: Some(guard.agent_args()),
        restart: RestartPolicy::UnlessStopped,
        network_mode: NetworkMode::Host,
        mounts: vec![
            // /etc must exist; a missing one is a mistake, not something to create.
            bind(&guard.host_etc, &format!("{HOST_ROOT}/etc"), false, false),
            // Absent on hosts without systemd-resolved: created empty, and tier 3 is skipped.
            bind(
                &guard.host_resolved_dir,
                &format!("{HOST_ROOT}/run/systemd/resolve"),
                true,
                true,
            ),
        ],
        cap_drop: vec!["ALL".into()],
        cap_add: vec!["DAC_OVERRIDE".into()],
        security_opt: vec!["no-new-privileges:true".into()],
        healthcheck: Some(Healthcheck {
            test: vec![
                "CMD".into(),
                AGENT_EXECUTABLE.into(),
                "agent".into(),
                "dnsguard".into(),
                "--health".into(),
                "--status-file".into(),
                defaults::STATUS_FILE.into(),
            ],
            interval: Some(nanos(health_every)),
            timeout: Some(nanos(std::time::Duration::from_secs(5))),
            retries: Some(3),
            start_period: None,
            start_interval: None,
        }),
        ..Default::default()
    };
    StackSpec {
        kind: Kind::DnsGuard,
        name: guard.name.clone(),
        depends_on: Vec::new(),
        containers: vec![container],
        networks: Vec::new(),
        volumes: Vec::new(),
        critical: false,
    }
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{agent::dnsguard::DnsGuardArgs, manifest::kinds::DnsProbe};

    fn spec() -> DnsGuardSpec {
        DnsGuardSpec {
            host: Some("vps".into()),
            probe: DnsProbe {
                server: "100.96.128.1:53".into(),
                name: None,
                timeout: None,
            },
            interval: None,
            backup_path: None,
            resolv_conf: None,
            fallback_nameservers: vec!["8.8.8.8".into(), "8.8.4.4".into()],
            utility_subnet: None,
            image: None,
            host_etc: None,
            host_resolved_dir: None,
        }
    }

    #[test]
    fn the_agent_container() {
        let s = expand(&Guard::new("vps-dns", &spec()));
        assert_eq!(s.owner().to_string(), "DnsGuard/vps-dns");
        let [c] = s.containers.as_slice() else {
            panic!("one container")
        };
        assert_eq!(c.name, "aegis-dnsguard-vps-dns");
        assert_eq!(c.image, default_agent_image());
        assert_eq!(c.network_mode, NetworkMode::Host);
        assert_eq!(c.restart, RestartPolicy::UnlessStopped);
        assert_eq!(c.mounts[0].target, "/host/etc");
        assert!(!c.mounts[0].read_only);
        assert!(
            matches!(&c.mounts[0].kind, MountKind::Bind { source: BindSource::Host(p), .. } if p == "/etc")
        );
        assert_eq!(c.mounts[1].target, "/host/run/systemd/resolve");
        assert!(c.mounts[1].read_only);
        assert_eq!(c.cap_drop, ["ALL"]);
        let hc = c.healthcheck.as_ref().expect("healthcheck");
        assert!(hc.test.contains(&"--health".to_string()));
        assert_eq!(hc.interval, Some(10_000_000_000));
    }

    /// The command line the controller writes is one the agent accepts, with the same values.
    #[test]
    fn the_agent_accepts_its_command_line() {
        let mut sp = spec();
        sp.interval = Some(crate::manifest::kinds::Duration(std::time::Duration::from_secs(
            5,
        )));
        sp.utility_subnet = Some("100.96.128.0/24".into());
        sp.host_etc = Some("/srv/scratch/etc".into());
        let g = Guard::new("g", &sp);
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: DnsGuardArgs,
        }
        let mut argv = vec!["aegis".to_string()];
        argv.extend(g.agent_args().into_iter().skip(2));
        let cfg = T::try_parse_from(argv)
            .expect("parses")
            .a
            .into_config()
            .expect("valid");
        assert_eq!(cfg.root, std::path::PathBuf::from("/host"));
        assert_eq!(cfg.probe.server.to_string(), "100.96.128.1:53");
        assert_eq!(cfg.interval.as_secs(), 5);
        assert_eq!(cfg.fallback.len(), 2);
        assert_eq!(cfg.status_file, std::path::PathBuf::from(defaults::STATUS_FILE));
        assert_eq!(g.resolv_conf_on_host(), "/srv/scratch/etc/resolv.conf");
        let c = &expand(&g).containers[0];
        assert!(
            matches!(&c.mounts[0].kind, MountKind::Bind { source: BindSource::Host(p), .. } if p == "/srv/scratch/etc")
        );
        assert_eq!(
            c.healthcheck.as_ref().and_then(|h| h.interval),
            Some(5_000_000_000)
        );
    }

    /// A DnsGuard's containers are planned like a Stack's, so their compose project (the
    /// name) may not be shared with a Stack on the same host.
    #[test]
    fn a_guard_and_a_stack_cannot_share_a_name_on_one_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("m.yaml"),
            "apiVersion: aegis.dev/v1alpha1\nkind: DnsGuard\nmetadata: {name: dns}\nspec: {probe: {server: \"100.96.128.1\"}}\n---\napiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: dns}\nspec: {services: {web: {image: busybox:1.36}}}\n",
        )
        .expect("write");
        let e = crate::resolve::load_source(dir.path())
            .expect_err("collision")
            .to_string();
        assert!(
            e.contains("DnsGuard/dns and Stack/dns on host `local` share the name `dns`"),
            "{e}"
        );
    }
}
