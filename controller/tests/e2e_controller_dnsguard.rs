//! A DnsGuard run by the long-running controller, on the real engine, against a real DNS
//! server (Debian's `dnsmasq`) on a 127.77.x.y loopback address.
//!
//! The controller builds the agent image itself from its own executable (nothing is
//! pre-loaded), deploys `aegis agent dnsguard` with the guard's `/etc` pointed at a scratch
//! directory (NEVER the machine's own `/etc`), and reads the agent's status back. The test
//! plays pangolin-cli: it points the scratch `resolv.conf` at the "proxy" (olm's marker, the
//! dnsmasq's address), then kills the dnsmasq. The agent restores its backup (tier 2), and
//! `aegisctl get dnsguards` / `describe` report the probe failure and the tier. Then the
//! agent's container is removed by hand and the controller puts it back (drift repair).
//!
//! Needs dnsmasq (scripts/setup-dnsmasq.sh): without it the test prints SKIP, under CI=true
//! it fails.

#[path = "support/controller.rs"]
mod controller;
mod dns_support;
mod sops_support;
mod support;

use std::{net::Ipv4Addr, time::Duration};

use aegis::status::{AgentReport, ConditionStatus};
use controller::ControllerProc;
use dns_support::{dnsmasq_bin, Dnsmasq, PROBE_NAME};
use support::*;

/// The scratch `resolv.conf` before the "client" overrides it: what tier 2 must bring back.
const ORIGINAL: &str = "nameserver 192.0.2.53\n";

/// Our own loopback address for the "proxy": 127.77.<pid-derived>.9.
fn proxy_ip() -> Ipv4Addr {
    Ipv4Addr::new(127, 77, (std::process::id() % 250) as u8 + 1, 9)
}

fn guard_report(ctl: &ControllerProc, name: &str) -> Option<aegis::status::GuardReport> {
    match ctl.status("dnsguards", name)?.agent? {
        AgentReport::DnsGuard(g) => Some(*g),
        AgentReport::TunnelClient(_) => None,
    }
}

#[test]
fn the_controller_runs_a_dnsguard_that_restores_resolv_conf() {
    let Some(bin) = dnsmasq_bin("the_controller_runs_a_dnsguard_that_restores_resolv_conf") else {
        return;
    };
    // The machine's own resolv.conf, to prove at the end that nothing touched it.
    let machine_resolv = std::fs::read("/etc/resolv.conf").ok();
    let mut proxy = Dnsmasq::start(&bin, proxy_ip());

    let scratch = tempfile::tempdir().expect("scratch");
    let etc = scratch.path().join("etc");
    let resolved = scratch.path().join("resolve");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::create_dir_all(&resolved).expect("resolve");
    std::fs::write(etc.join("resolv.conf"), ORIGINAL).expect("resolv.conf");

    let src = Source::new();
    let guard = unique("dnsguard2-g");
    src.write(
        "guard.yaml",
        &format!(
            "{MANIFEST_HEAD}
kind: DnsGuard
metadata: {{name: {guard}}}
spec:
  probe: {{server: \"{addr}\", name: {PROBE_NAME}, timeout: 500ms}}
  interval: 1s
  fallbackNameservers: [\"192.0.2.99\"]
  hostEtc: {etc}
  hostResolvedDir: {resolved}
",
            addr = proxy.addr,
            etc = etc.display(),
            resolved = resolved.display(),
        ),
    );
    let ctl = ControllerProc::start(&src);
    let agent = format!("aegis-dnsguard-{guard}");

    // Ready once the agent's first pass ran (its healthcheck), with the status read back:
    // the proxy answers, nothing was done, and the startup backup was taken.
    let ready = ctl.wait_ready_status("dnsguards", &guard, None, Duration::from_secs(240));
    assert_eq!(ready.ready(), ConditionStatus::True);
    let first = ctl.wait_for(Duration::from_secs(60), "the agent's first report", || {
        guard_report(&ctl, &guard).filter(|g| g.agent.as_ref().is_some_and(|a| a.last_pass.is_some()))
    });
    let status = first.agent.expect("agent status");
    let pass = status.last_pass.expect("a pass");
    assert!(pass.probe.ok, "{pass:?}");
    assert_eq!((pass.tier, pass.action.as_str()), (1, "none"));
    assert_eq!(pass.probe.server, proxy.addr.to_string());
    assert!(
        status.backup.as_ref().is_some_and(|b| b.ok()),
        "{:?}",
        status.backup
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("resolv.conf.pre-pangolin")).expect("the backup"),
        ORIGINAL
    );
    // The agent image is aegis's own, built by the controller.
    let image = inspect(&agent, "{{.Config.Image}}");
    assert_eq!(image, format!("aegis-agent:{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"aegis.dev/version\"}}",
            &image
        ]),
        env!("CARGO_PKG_VERSION")
    );

    // pangolin-cli's override: olm's marker and the proxy's address (in the utility subnet,
    // the /24 around the probe address).
    let overridden = format!(
        "{}\nnameserver {}\n",
        aegis::agent::dnsguard::OLM_MARKER,
        proxy.addr.ip()
    );
    let tmp = etc.join(".resolv.conf.test");
    std::fs::write(&tmp, &overridden).expect("write");
    std::fs::rename(&tmp, etc.join("resolv.conf")).expect("rename");
    // The proxy answers: the agent sees the override and leaves it alone.
    ctl.wait_for(Duration::from_secs(30), "a pass that sees the override", || {
        guard_report(&ctl, &guard)
            .and_then(|g| g.agent?.last_pass)
            .filter(|p| p.resolv_conf.olm_generated && p.probe.ok && p.tier == 1)
    });
    assert_eq!(
        std::fs::read_to_string(etc.join("resolv.conf")).expect("read"),
        overridden
    );

    // The client "crashes" and its proxy with it.
    proxy.stop();
    ctl.wait_for(
        Duration::from_secs(60),
        "the scratch resolv.conf restored",
        || (std::fs::read_to_string(etc.join("resolv.conf")).ok()? == ORIGINAL).then_some(()),
    );
    let d = ctl.wait_for(Duration::from_secs(60), "describe to show tier 2", || {
        let d = ctl.aegisctl_ok(&["describe", &format!("dnsguard/{guard}")]);
        d.contains("Last Action:   tier 2 restored-backup").then_some(d)
    });
    assert!(d.contains("Agent:\n  Last Probe:"), "{d}");
    assert!(
        d.contains(&format!("{} no answer", proxy.addr)),
        "the failed probe is shown:\n{d}"
    );
    assert!(d.contains("AgentRepaired"), "an event records the repair:\n{d}");
    let table = ctl.aegisctl_ok(&["get", "dnsguards"]);
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("NAME") && header.contains("PROBE") && header.contains("LAST-ACTION"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&guard))
        .unwrap_or_else(|| panic!("no row for {guard}:\n{table}"));
    assert!(
        row.contains("failed") && row.contains("tier 2 restored-backup"),
        "{table}"
    );
    // No flapping: the restored file points nowhere near the dead proxy; it stays restored.
    ctl.wait_for(Duration::from_secs(30), "a quiet pass after the repair", || {
        guard_report(&ctl, &guard)
            .and_then(|g| g.agent?.last_pass)
            .filter(|p| !p.probe.ok && p.action.as_str() == "none")
    });
    assert_eq!(
        std::fs::read_to_string(etc.join("resolv.conf")).expect("read"),
        ORIGINAL
    );

    // Drift: the agent's container removed by hand comes back.
    let old_id = container_id(&agent);
    docker(&["rm", "-f", &agent]);
    ctl.wait_for(
        Duration::from_secs(120),
        "the agent's container to come back",
        || {
            let id = docker(&["ps", "-q", "--no-trunc", "--filter", &format!("name=^{agent}$")]);
            (!id.is_empty() && id != old_id).then_some(())
        },
    );
    ctl.wait_ready_status("dnsguards", &guard, None, Duration::from_secs(60));

    assert_eq!(
        std::fs::read("/etc/resolv.conf").ok(),
        machine_resolv,
        "the machine's own /etc/resolv.conf changed"
    );
}

/// A locally built pangolin-cli stand-in (the real image cannot be pulled here) under a tag
/// of this test's own; removed on drop.
struct StandIn(String);

impl StandIn {
    /// The real image's entrypoint reduced to the machine-client case, and a fake
    /// `pangolin-cli` whose `status --json` says connected once `up` runs.
    fn pangolin_cli() -> StandIn {
        let tag = format!("aegis-test/dnsguard2-pangolin-cli:{}", unique("t"));
        let dir = tempfile::tempdir().expect("context");
        let files = [
            (
                "entrypoint.sh",
                "#!/bin/sh\nexec pangolin-cli up client --attach --id \"$CLIENT_ID\" --secret \"$CLIENT_SECRET\" --endpoint \"$PANGOLIN_ENDPOINT\" \"$@\"\n",
            ),
            (
                "pangolin-cli",
                "#!/bin/sh\ncase \"$1\" in\nup) touch /tmp/connected; exec sleep 1000000 ;;\n\
                 status) [ -f /tmp/connected ] && echo '{\"status\":\"ok\",\"connected\":true,\"registered\":true,\"tunnelIP\":\"100.90.128.5\",\"version\":\"stand-in\"}' || echo 'No client is currently running' ;;\nesac\n",
            ),
        ];
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).expect("write");
            std::process::Command::new("chmod")
                .arg("755")
                .arg(dir.path().join(name))
                .status()
                .expect("chmod");
        }
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!(
                "FROM {IMAGE}\nCOPY entrypoint.sh /entrypoint.sh\nCOPY pangolin-cli /usr/local/bin/pangolin-cli\nENTRYPOINT [\"/entrypoint.sh\"]\n"
            ),
        )
        .expect("Dockerfile");
        docker(&["build", "-q", "-t", &tag, &dir.path().display().to_string()]);
        StandIn(tag)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", &self.0])
            .output();
    }
}

/// A pangolin-cli TunnelClient under the controller: its DnsGuard is Ready and the
/// host-side backup is taken (`--backup-now`, run by the controller in the agent's container)
/// before the client's first start; `get`/`describe tunnelclients` show it connected and the
/// Pangolin API "not checked".
#[test]
fn the_controller_starts_a_tunnel_client_after_its_guard_and_backup() {
    let test = "the_controller_starts_a_tunnel_client_after_its_guard_and_backup";
    let (Some(bin), Some(t)) = (dnsmasq_bin(test), sops_support::tools(test)) else {
        return;
    };
    ensure_image();
    let stand_in = StandIn::pangolin_cli();
    let proxy = Dnsmasq::start(
        &bin,
        Ipv4Addr::new(127, 77, (std::process::id() % 250) as u8 + 1, 10),
    );

    let scratch = tempfile::tempdir().expect("scratch");
    let etc = scratch.path().join("etc");
    let resolved = scratch.path().join("resolve");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::create_dir_all(&resolved).expect("resolve");
    std::fs::write(etc.join("resolv.conf"), ORIGINAL).expect("resolv.conf");

    let key = t.keygen();
    let keydir = tempfile::tempdir().expect("keydir");
    let keyfile = keydir.path().join("keys.txt");
    std::fs::write(&keyfile, format!("{}\n", key.identity)).expect("key");
    let src = Source::new();
    let secret = unique("client-s3cr3t");
    std::fs::write(
        src.path().join("client.env"),
        format!("PANGOLIN_ENDPOINT=https://pangolin.example\nCLIENT_ID=cid\nCLIENT_SECRET={secret}\n"),
    )
    .expect("write");
    let enc = t.encrypt(
        src.path(),
        "client.env",
        &[
            "--age",
            &key.recipient,
            "--input-type",
            "dotenv",
            "--output-type",
            "dotenv",
        ],
    );
    std::fs::remove_file(src.path().join("client.env")).expect("no plaintext in the source");
    std::fs::write(src.path().join("client.env.sops"), enc).expect("write");

    let guard = unique("dnsguard2-tg");
    let client = unique("dnsguard2-tc");
    src.write(
        "tunnel.yaml",
        &format!(
            "{MANIFEST_HEAD}
kind: DnsGuard
metadata: {{name: {guard}}}
spec:
  probe: {{server: \"{addr}\", name: {PROBE_NAME}, timeout: 500ms}}
  interval: 1s
  fallbackNameservers: [\"192.0.2.53\"]
  hostEtc: {etc}
  hostResolvedDir: {resolved}
---
{MANIFEST_HEAD}
kind: TunnelClient
metadata: {{name: {client}}}
spec:
  type: pangolin-cli
  image: {image}
  secrets: [{{sopsEnv: client.env.sops}}]
",
            addr = proxy.addr,
            etc = etc.display(),
            resolved = resolved.display(),
            image = stand_in.0,
        ),
    );
    let keyfile = keyfile.display().to_string();
    let ctl = ControllerProc::start_with(&src, &["--age-key-file", &keyfile]);
    let s = ctl.wait_for(Duration::from_secs(240), "the client to be connected", || {
        ctl.status("tunnelclients", &client).filter(|s| {
            s.ready() == ConditionStatus::True
                && matches!(&s.agent, Some(AgentReport::TunnelClient(r)) if r.connected == Some(true))
        })
    });
    let Some(AgentReport::TunnelClient(r)) = &s.agent else {
        unreachable!()
    };
    assert_eq!(r.tunnel_type, "pangolin-cli");
    assert_eq!(r.api.state, "not checked");

    // Order: the guard's agent was healthy, and the backup was there, before the client started.
    let agent = format!("aegis-dnsguard-{guard}");
    let health: serde_json::Value =
        serde_json::from_str(&inspect(&agent, "{{json .State.Health.Log}}")).unwrap_or_default();
    let first_ok = health
        .as_array()
        .and_then(|l| l.iter().find(|e| e["ExitCode"] == 0))
        .and_then(|e| e["End"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("the agent never became healthy: {health}"));
    let started = inspect(&client, "{{.State.StartedAt}}");
    assert!(
        started.as_str() > first_ok.as_str(),
        "the client started at {started}, before the guard was healthy at {first_ok}"
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("resolv.conf.pre-pangolin")).expect("the backup"),
        ORIGINAL
    );
    let log = ctl.log_text();
    assert!(
        log.contains("backup before the client's first start"),
        "the controller ran --backup-now:\n{}",
        ctl.log_tail(60)
    );
    assert!(
        !log.contains(&secret),
        "the controller log shows the client's secret"
    );

    let table = ctl.aegisctl_ok(&["get", "tunnelclients"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&client))
        .unwrap_or_else(|| panic!("no row for {client}:\n{table}"));
    assert!(
        row.contains("pangolin-cli") && row.contains("true") && row.contains("not checked"),
        "{table}"
    );
    let d = ctl.aegisctl_ok(&["describe", &format!("tunnelclient/{client}")]);
    assert!(d.contains("Tunnel:\n  Type:          pangolin-cli\n"), "{d}");
    assert!(d.contains("Connected:     true (connected and registered"), "{d}");
    assert!(d.contains("Pangolin API:  not checked"), "{d}");
    assert!(!d.contains(&secret), "describe shows the secret:\n{d}");

    // The client says it is down: not Ready, though its container runs.
    docker(&["exec", &client, "rm", "/tmp/connected"]);
    ctl.wait_for(
        Duration::from_secs(90),
        "the client to be reported disconnected",
        || {
            ctl.status("tunnelclients", &client)
                .filter(|s| s.ready() == ConditionStatus::False && s.status_word() == "TunnelNotConnected")
        },
    );
}
