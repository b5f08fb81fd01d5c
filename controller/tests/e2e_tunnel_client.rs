//! TunnelClients on the real engine: `aegis apply` creates a pangolin-cli machine client and a
//! Newt site from their manifests, with credentials from files encrypted by the real `sops`.
//!
//! The real images cannot be pulled here, so stand-ins are built locally under the pinned
//! names (`fosrl/pangolin-cli:0.3.3`, `fosrl/newt:1.9.0`): busybox with a fake `pangolin-cli`
//! behind an entrypoint like the real image's, and a fake `newt`. A tag this test creates is
//! removed at the end; a tag that was already there and is not a stand-in is never touched
//! (the test then refuses to run rather than overwrite it). The DnsGuard runs a stand-in
//! agent too (its first pass takes two seconds), so the order is observable: the guard is
//! healthy before the client starts. The guard's `/etc` is a scratch directory: nothing here
//! touches the machine's own `/etc/resolv.conf`.

mod sops_support;
mod support;

use std::{
    path::Path,
    process::{Command, Output},
};

use sops_support::tools;
use support::*;

const PANGOLIN_IMAGE: &str = "fosrl/pangolin-cli:0.3.3";
const NEWT_IMAGE: &str = "fosrl/newt:1.9.0";
const STAND_IN_LABEL: &str = "aegis.test/stand-in";

/// The real image's entrypoint (fosrl/cli `entrypoint.sh`), reduced to the machine-client case.
const ENTRYPOINT: &str = r#"#!/bin/sh
set -e
if [ -n "$PANGOLIN_ENDPOINT" ] && [ -n "$CLIENT_ID" ] && [ -n "$CLIENT_SECRET" ]; then
    exec pangolin-cli up client --attach --id "$CLIENT_ID" --secret "$CLIENT_SECRET" --endpoint "$PANGOLIN_ENDPOINT" "$@"
fi
exec "$@"
"#;

/// A fake `pangolin-cli`: `up` records its arguments and stays up; `status --json` prints
/// olm's status once up.
const PANGOLIN_CLI: &str = r#"#!/bin/sh
case "$1" in
up)
    shift
    echo "$@" > /tmp/up-args
    touch /tmp/connected
    exec sleep 1000000
    ;;
status)
    if [ -f /tmp/connected ]; then
        printf '{\n  "status": "ok",\n  "connected": true,\n  "tunnelIP": "100.90.128.5",\n  "version": "stand-in",\n  "registered": true,\n  "orgId": "test"\n}\n'
    else
        echo "No client is currently running"
    fi
    ;;
*)
    echo "stand-in pangolin-cli: $*"
    ;;
esac
"#;

/// A fake `newt`: with its credentials, "connects" (writes HEALTH_FILE) and stays up.
const NEWT: &str = r#"#!/bin/sh
[ -n "$NEWT_ID" ] && [ -n "$NEWT_SECRET" ] && [ -n "$PANGOLIN_ENDPOINT" ] || { echo "newt: missing credentials"; exit 1; }
sleep 1
[ -n "$HEALTH_FILE" ] && touch "$HEALTH_FILE"
exec sleep 1000000
"#;

/// A fake agent: the first pass takes two seconds, then `--health` succeeds.
const AGENT: &str = r#"#!/bin/sh
S=/run/aegis/dnsguard-status.json
for a in "$@"; do
    if [ "$a" = "--health" ]; then cat "$S" 2>/dev/null && exit 0; echo "no pass yet"; exit 1; fi
done
mkdir -p /run/aegis
echo "$@" > /tmp/agent-args
sleep 2
echo '{"intervalSecs":1,"lastPass":{"tier":1,"action":"none"}}' > "$S"
exec sleep 1000000
"#;

/// A locally built image under `tag`; removed on drop if this test created the tag.
struct StandIn {
    tag: String,
    created: bool,
}

impl StandIn {
    fn build(tag: &str, files: &[(&str, &str)], dockerfile: &str) -> StandIn {
        let existing = Command::new("docker")
            .args([
                "image",
                "inspect",
                "-f",
                &format!("{{{{index .Config.Labels \"{STAND_IN_LABEL}\"}}}}"),
                tag,
            ])
            .output()
            .expect("docker");
        let was_there = existing.status.success();
        let is_stand_in = String::from_utf8_lossy(&existing.stdout).trim() == "yes";
        assert!(
            !was_there || is_stand_in,
            "{tag} exists and is not this test's stand-in; refusing to overwrite it"
        );
        let dir = tempfile::tempdir().expect("context");
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).expect("write");
            let _ = Command::new("chmod")
                .arg("755")
                .arg(dir.path().join(name))
                .status();
        }
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {IMAGE}\nLABEL {STAND_IN_LABEL}=yes\n{dockerfile}"),
        )
        .expect("Dockerfile");
        let o = Command::new("docker")
            .args(["build", "-q", "-t", tag])
            .arg(dir.path())
            .output()
            .expect("docker build");
        assert!(o.status.success(), "docker build {tag}: {}", text(&o));
        StandIn {
            tag: tag.to_string(),
            created: !was_there,
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if self.created {
            let _ = Command::new("docker").args(["rmi", &self.tag]).output();
        }
    }
}

fn json(name: &str, format: &str) -> serde_json::Value {
    serde_json::from_str(&inspect(name, format)).unwrap_or(serde_json::Value::Null)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn encrypt(t: &sops_support::Tools, dir: &Path, name: &str, recipient: &str, body: &str) {
    std::fs::write(dir.join(name), body).expect("write");
    let enc = t.encrypt(
        dir,
        name,
        &[
            "--age",
            recipient,
            "--input-type",
            "dotenv",
            "--output-type",
            "dotenv",
        ],
    );
    std::fs::remove_file(dir.join(name)).expect("no plaintext in the source");
    std::fs::write(dir.join(format!("{name}.sops")), enc).expect("write");
}

#[tokio::test(flavor = "multi_thread")]
async fn tunnel_clients_expand_to_the_seeds_containers() {
    let Some(t) = tools("tunnel_clients_expand_to_the_seeds_containers") else {
        return;
    };
    ensure_image();
    let _pangolin = StandIn::build(
        PANGOLIN_IMAGE,
        &[("entrypoint.sh", ENTRYPOINT), ("pangolin-cli", PANGOLIN_CLI)],
        "COPY entrypoint.sh /entrypoint.sh\nCOPY pangolin-cli /usr/local/bin/pangolin-cli\nENTRYPOINT [\"/entrypoint.sh\"]\nCMD [\"pangolin-cli\"]\n",
    );
    let _newt = StandIn::build(
        NEWT_IMAGE,
        &[("newt", NEWT)],
        "COPY newt /usr/local/bin/newt\nENTRYPOINT [\"/usr/local/bin/newt\"]\n",
    );
    let agent_tag = format!("aegis-test/dnsguard-stand-in:{}", unique("t"));
    let _agent = StandIn::build(
        &agent_tag,
        &[("aegis", AGENT)],
        "COPY aegis /usr/local/bin/aegis\n",
    );

    // Credentials, encrypted by the real sops to a fresh key.
    let key = t.keygen();
    let keydir = tempfile::tempdir().expect("keydir");
    let keyfile = keydir.path().join("keys.txt");
    std::fs::write(&keyfile, format!("{}\n", key.identity)).expect("key");
    let src = Source::new();
    let client_id = unique("client-id");
    let client_secret = unique("client-s3cr3t");
    let newt_secret = unique("newt-s3cr3t");
    encrypt(
        &t,
        src.path(),
        "client.env",
        &key.recipient,
        &format!("PANGOLIN_ENDPOINT=https://pangolin.example\nCLIENT_ID={client_id}\nCLIENT_SECRET={client_secret}\n"),
    );
    encrypt(
        &t,
        src.path(),
        "newt.env",
        &key.recipient,
        &format!("PANGOLIN_ENDPOINT=https://pangolin.example\nNEWT_ID=newt-id\nNEWT_SECRET={newt_secret}\n"),
    );

    // The guard's /etc and systemd-resolved directory: scratch, never the machine's.
    let scratch = tempfile::tempdir().expect("scratch");
    let etc = scratch.path().join("etc");
    let resolved = scratch.path().join("resolve");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::create_dir_all(&resolved).expect("resolve");
    std::fs::write(etc.join("resolv.conf"), "nameserver 192.0.2.53\n").expect("resolv.conf");

    let guard = unique("guard");
    let client = unique("mgmt");
    let site = unique("site");
    let net = unique("tnet");
    src.write(
        "tunnels.yaml",
        &format!(
            "{MANIFEST_HEAD}
kind: DnsGuard
metadata: {{name: {guard}}}
spec:
  image: {agent_tag}
  probe: {{server: \"127.0.0.1:9\", timeout: 500ms}}
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
  image: {PANGOLIN_IMAGE}
  secrets: [{{sopsEnv: client.env.sops}}]
  carriesManagementFor: [local]
---
{MANIFEST_HEAD}
kind: Network
metadata: {{name: {net}}}
spec: {{}}
---
{MANIFEST_HEAD}
kind: TunnelClient
metadata: {{name: {site}}}
spec:
  type: newt
  image: {NEWT_IMAGE}
  networks: [{net}]
  healthFile: /tmp/healthy
  secrets: [{{sopsEnv: newt.env.sops}}]
",
            etc = etc.display(),
            resolved = resolved.display(),
        ),
    );
    let mut args = src.args("apply");
    args.extend(["--age-key-file".to_string(), keyfile.display().to_string()]);
    let out: Output = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(&args)
        .env("RUST_LOG", "aegis=debug")
        .output()
        .expect("aegis apply");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    for v in [&client_secret, &newt_secret, &client_id] {
        assert!(!log.contains(v.as_str()), "apply's output shows a secret:\n{log}");
    }

    // The machine client: the seed's privileges, the guard's resolv.conf, env from SOPS.
    assert_eq!(inspect(&client, "{{.HostConfig.NetworkMode}}"), "host");
    assert_eq!(
        json(&client, "{{json .HostConfig.CapAdd}}"),
        serde_json::json!(["CAP_NET_ADMIN"])
    );
    let devices = json(&client, "{{json .HostConfig.Devices}}");
    assert_eq!(devices[0]["PathOnHost"], "/dev/net/tun", "{devices}");
    assert_eq!(devices[0]["PathInContainer"], "/dev/net/tun", "{devices}");
    let mounts = json(&client, "{{json .Mounts}}");
    let m = mounts
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["Destination"] == "/etc/resolv.conf"))
        .unwrap_or_else(|| panic!("no /etc/resolv.conf mount: {mounts}"));
    assert_eq!(m["Source"], etc.join("resolv.conf").display().to_string(), "{m}");
    assert_eq!(m["RW"], true, "{m}");
    let env = inspect(&client, "{{json .Config.Env}}");
    for want in [
        format!("CLIENT_ID={client_id}"),
        format!("CLIENT_SECRET={client_secret}"),
        "PANGOLIN_ENDPOINT=https://pangolin.example".to_string(),
    ] {
        assert!(env.contains(&want), "{want} not in {env}");
    }
    assert_eq!(
        json(&client, "{{json .Config.Cmd}}"),
        serde_json::json!(["--upstream-dns", "192.0.2.53:53"])
    );
    assert_eq!(
        inspect(&client, "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    assert_eq!(
        inspect(&client, "{{index .Config.Labels \"aegis.dev/resource\"}}"),
        format!("TunnelClient/{client}")
    );
    // The image's entrypoint ran the client with the credentials and our --upstream-dns.
    let up = docker(&["exec", &client, "cat", "/tmp/up-args"]);
    assert!(
        up.starts_with("client --attach --id ") && up.ends_with("--upstream-dns 192.0.2.53:53"),
        "{up}"
    );

    // The guard's agent: host network, the scratch /etc read-write, resolved read-only,
    // capabilities dropped, and the agent's command line.
    let agent = format!("aegis-dnsguard-{guard}");
    assert_eq!(inspect(&agent, "{{.HostConfig.NetworkMode}}"), "host");
    let mounts = json(&agent, "{{json .Mounts}}");
    let by_dest = |d: &str| {
        mounts
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["Destination"] == d).cloned())
            .unwrap_or_default()
    };
    assert_eq!(
        by_dest("/host/etc")["Source"],
        etc.display().to_string(),
        "{mounts}"
    );
    assert_eq!(by_dest("/host/etc")["RW"], true, "{mounts}");
    assert_eq!(
        by_dest("/host/run/systemd/resolve")["Source"],
        resolved.display().to_string()
    );
    assert_eq!(by_dest("/host/run/systemd/resolve")["RW"], false, "{mounts}");
    assert_eq!(
        json(&agent, "{{json .HostConfig.CapDrop}}"),
        serde_json::json!(["ALL"])
    );
    let agent_args = docker(&["exec", &agent, "cat", "/tmp/agent-args"]);
    assert!(
        agent_args.starts_with("agent dnsguard --root /host --probe 127.0.0.1:9")
            && agent_args.contains("--fallback 192.0.2.53"),
        "{agent_args}"
    );

    // Order: the client started only after the guard's agent was healthy (its first pass).
    let health = json(&agent, "{{json .State.Health.Log}}");
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
    // The scratch resolv.conf is untouched by all this.
    assert_eq!(
        std::fs::read_to_string(etc.join("resolv.conf")).expect("read"),
        "nameserver 192.0.2.53\n"
    );

    // The Newt site: its network, env from SOPS, the health file as healthcheck.
    let nets = json(&site, "{{json .NetworkSettings.Networks}}");
    assert!(nets.get(&net).is_some(), "{nets}");
    let env = inspect(&site, "{{json .Config.Env}}");
    assert!(
        env.contains(&format!("NEWT_SECRET={newt_secret}")) && env.contains("HEALTH_FILE=/tmp/healthy"),
        "{env}"
    );
    assert_eq!(
        json(&site, "{{json .Config.Healthcheck.Test}}"),
        serde_json::json!(["CMD", "test", "-f", "/tmp/healthy"])
    );
    wait_for("the newt stand-in to become healthy", || {
        inspect(&site, "{{.State.Health.Status}}") == "healthy"
    });

    // Readiness, asked inside the containers.
    let host = aegis::docker::DockerHost::connect(&aegis::desired::HostSpec {
        name: "local".into(),
        endpoint: aegis::desired::Endpoint::Default,
        labels: Default::default(),
    })
    .await
    .expect("engine");
    use aegis::{manifest::kinds::TunnelType, tunnel::readiness};
    let r = readiness::check(&host, &client, TunnelType::PangolinCli, None)
        .await
        .expect("exec");
    assert!(r.is_ready(), "{r:?}");
    let r = readiness::check(&host, &site, TunnelType::Newt, Some("/tmp/healthy"))
        .await
        .expect("exec");
    assert!(r.is_ready(), "{r:?}");
    let r = readiness::check(&host, &site, TunnelType::Newt, Some("/tmp/nope"))
        .await
        .expect("exec");
    assert!(!r.is_ready(), "{r:?}");
    docker(&["exec", &client, "rm", "/tmp/connected"]);
    let r = readiness::check(&host, &client, TunnelType::PangolinCli, None)
        .await
        .expect("exec");
    assert!(!r.is_ready(), "{r:?}");

    // A second apply changes nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(&args)
        .output()
        .expect("apply");
    let again = text(&out);
    assert!(
        out.status.success() && !again.contains("created") && !again.contains("recreated"),
        "{again}"
    );
}
