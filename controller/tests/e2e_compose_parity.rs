//! Parity with Docker Compose v2 (v2.40.3, `scripts/setup-compose-v2.sh`): for one rich
//! compose file, the containers `aegis apply` creates must equal the ones `docker compose up
//! -d` creates, as `docker inspect` shows them. Only names and ownership labels may differ.
//!
//! Both sides run the same file from the same directory, with a different project/stack name
//! and per-side values (subnet, host port) passed as interpolation variables: to Compose
//! through its (otherwise cleared) process environment, to aegis through the Stack's
//! `spec.environment`. Each side's own values are then replaced by placeholders.
//!
//! The comparison (`support/inspect_view.rs`, shared with the corpus test) covers `Config`,
//! `HostConfig` and `NetworkSettings.Networks` (aliases and static addresses), flattened to
//! `path = value` lines and diffed field by field. Normalisations, each explained where it is
//! done: names (project/stack → `<project>`, container ids → `<id of SERVICE>`), per-side
//! subnet and host port, a default `Config.Hostname`, `com.docker.compose.*`/`aegis.dev/*`
//! labels, the source of repo-file binds, endpoint runtime facts (ids, IPAM-assigned address,
//! MAC), the order of Env/Binds/Mounts/Aliases, empty list vs null.
//!
//! docker-compose 1.29 is no longer the reference: it reached end of life, and where it
//! disagrees with v2 (env file quoting, [`V2_ENV`]) aegis follows v2.

#[path = "support/compose_v2.rs"]
mod compose_v2;
#[path = "support/inspect_view.rs"]
mod inspect_view;
mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use inspect_view::{diff, inspect_json, view, Ids, Known, Names};
use support::*;

const SERVICES: [&str; 4] = ["db", "web", "hostnet", "sidecar"];

/// The compose file. `PT_PLATFORM` is the engine's own platform (`db` sets it, so both
/// sides send it on create). `PT_NET` (first three octets of `front`'s subnet) and `PT_PORT` (a free
/// host port) differ per side; `GREETING` and `FROM_DOTENV` come from `.env`.
const COMPOSE: &str = r#"services:
  db:
    image: busybox:1.36
    platform: ${PT_PLATFORM}
    command: ["sleep", "3600"]
    init: true
    cpu_shares: 512
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD-SHELL", "test -d /data"]
      interval: 1s
      timeout: 2s
      retries: 5
      start_period: 1500ms
    labels: ["com.example.list=form"]
    environment: ["LIST_FORM=yes", "FROM_DOTENV"]
    volumes:
      - data:/data
      - type: bind
        source: /etc/hostname
        target: /y/hostname
        read_only: true
      - type: volume
        source: data
        target: /data2
        volume: {nocopy: true}
    ports:
      - target: 7070
    networks: [back]
  web:
    image: busybox:1.36
    entrypoint: /bin/sh -c
    command: >-
      'exec sleep 3600' arg0 #hash "dq \"x\" $$HOME" 'sq  x' it\'s
    user: "65534:65534"
    working_dir: /tmp
    labels:
      com.example.tier: frontend
      com.example.empty: ""
    restart: unless-stopped
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    group_add: ["100"]
    devices: ["/dev/null:/dev/xnull"]
    dns: [192.0.2.53]
    dns_search: [parity.test]
    dns_opt: ["ndots:2"]
    extra_hosts: ["gateway.parity.test:192.0.2.1", "other.parity.test:192.0.2.2"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 512
    sysctls:
      net.ipv4.ip_unprivileged_port_start: "80"
    tmpfs: ["/run/cache:size=1m,mode=1777"]
    volumes:
      - data:/data:ro
      - ./files/motd.txt:/etc/motd.txt:ro
      - /etc/hostname:/x/hostname:ro
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576}
    ports:
      - "127.0.0.1:${PT_PORT}:8080"
      - "127.0.0.1::9090/udp"
    expose: ["7000"]
    healthcheck:
      test: "test -f /etc/motd.txt"
      interval: 2s
      timeout: 1s
      retries: 2
    logging:
      driver: json-file
      options: {max-size: "1m", max-file: "2"}
    mem_limit: 64m
    mem_reservation: 32m
    cpus: 0.5
    pids_limit: 100
    shm_size: 16m
    init: true
    stop_grace_period: 1m30s
    stop_signal: SIGUSR1
    read_only: true
    security_opt: ["no-new-privileges:true"]
    env_file: [env/app.env]
    environment:
      OVERRIDDEN: from-environment
      GREETING: ${GREETING:-hello}
      DEFAULTED: ${PT_UNSET_VAR:-fallback}
      FROM_DOTENV:
    networks:
      front:
        aliases: [www, web.alias]
        ipv4_address: ${PT_NET}.10
      back: {}
    depends_on:
      db: {condition: service_healthy}
  hostnet:
    image: busybox:1.36
    command: sleep 3600
    network_mode: host
    restart: "no"
    tty: true
    stdin_open: true
  sidecar:
    image: busybox:1.36
    command: sleep 3600
    network_mode: service:db
    use_api_socket: true
    post_start:
      - command: ["sh", "-c", "echo \"$$HOOK_MSG\" > post_start; id -u >> post_start"]
        user: "65534"
        working_dir: /tmp
        environment: {HOOK_MSG: "${GREETING}"}
networks:
  front:
    ipam:
      config:
        - subnet: ${PT_NET}.0/24
  back: {}
volumes:
  data: {}
"#;

/// `.env` next to the compose file: both tools read it for interpolation.
const DOTENV: &str = "GREETING=hi from dotenv\nFROM_DOTENV=dotenv value\nBARE_FROM_DOTENV=bare\n";

/// The env file, with the quoting rules both compose generations agree on.
const ENV_FILE: &str = r#"# a comment line

PLAIN=plain value   
export EXPORTED=yes
INLINE=value # an inline comment
HASH_NOSPACE=a#b
SQ='single quoted # kept'
SQ_TRAILING='single' # comment after the quote
DQ="double \"quoted\" \\ back\nslash" # comment after the quote
DQ_TAB="tab\there"
DQ_MULTI="line one
line two"
EMPTY=
EQUALS=a=b=c
OVERRIDDEN=from-file
REF=${PLAIN}-ref
BARE_FROM_DOTENV
V1_SQ_INTERPOLATED='${PLAIN} stays'
V1_DQ_ESCAPED_DOLLAR="cost \$5"
"#;

/// Env file values where docker-compose 1.x (python-dotenv) and Compose v2 (compose-go)
/// disagree; aegis follows v2 (see `compose/env_file.rs`), and so must v2's container here.
const V2_ENV: [(&str, &str); 2] = [
    // python-dotenv interpolated `${VAR}` even inside single quotes; v2 keeps single quotes
    // literal, like a shell.
    ("V1_SQ_INTERPOLATED", "${PLAIN} stays"),
    // python-dotenv knew no `\$` escape and kept the backslash; v2 unescapes it.
    ("V1_DQ_ESCAPED_DOLLAR", "cost $5"),
];

/// Fields of `web`'s normalised view that must be present (and are compared), so that the
/// test cannot pass by comparing nothing.
const WEB_FIELDS: &[&str] = &[
    "Config.Cmd[5]",
    "Config.Entrypoint[1]",
    "Config.Env[0]",
    "Config.ExposedPorts.7000",
    "Config.ExposedPorts.8080/tcp",
    "Config.Healthcheck.Interval",
    "Config.Healthcheck.Test[1]",
    "Config.Labels.com.example.empty",
    "Config.StopSignal",
    "Config.StopTimeout",
    "Config.User",
    "Config.WorkingDir",
    "HostConfig.Binds[2]",
    "HostConfig.CapAdd[0]",
    "HostConfig.CapDrop[0]",
    "HostConfig.Devices[0].PathInContainer",
    "HostConfig.Dns[0]",
    "HostConfig.DnsOptions[0]",
    "HostConfig.DnsSearch[0]",
    "HostConfig.ExtraHosts[1]",
    "HostConfig.GroupAdd[0]",
    "HostConfig.Init",
    "HostConfig.LogConfig.Config.max-file",
    "HostConfig.Memory",
    "HostConfig.MemoryReservation",
    "HostConfig.Mounts[0].TmpfsOptions.SizeBytes",
    "HostConfig.NanoCpus",
    "HostConfig.NetworkMode",
    "HostConfig.PidsLimit",
    "HostConfig.PortBindings.8080/tcp[0].HostPort",
    "HostConfig.PortBindings.9090/udp[0].HostIp",
    "HostConfig.ReadonlyRootfs",
    "HostConfig.RestartPolicy.Name",
    "HostConfig.SecurityOpt[0]",
    "HostConfig.ShmSize",
    "HostConfig.Sysctls.net.ipv4.ip_unprivileged_port_start",
    "HostConfig.Tmpfs./run/cache",
    "HostConfig.Ulimits[1].Soft",
    "Networks.<project>_back.Aliases[0]",
    "Networks.<project>_front.Aliases[2]",
    "Networks.<project>_front.IPAMConfig.IPv4Address",
];

/// One side's names and per-side values.
struct Side {
    /// Compose project / aegis stack name.
    project: String,
    /// First three octets of `front`'s subnet.
    net: String,
    port: u16,
    /// Container name of `service`.
    container: fn(&str, &str) -> String,
}

impl Side {
    fn container(&self, service: &str) -> String {
        (self.container)(&self.project, service)
    }
}

/// Runs Compose v2 on the side's project, with the per-side interpolation variables.
fn compose(dir: &Path, side: &Side, args: &[&str]) -> Output {
    let port = side.port.to_string();
    let platform = engine_platform();
    let env = [
        ("PT_NET", side.net.as_str()),
        ("PT_PORT", port.as_str()),
        ("PT_PLATFORM", platform.as_str()),
    ];
    compose_v2::run(dir, &side.project, "app/compose.yaml", &env, args)
}

impl Side {
    /// The placeholders of this side's names and values.
    fn names(&self, ids: Ids) -> Names {
        Names {
            project: self.project.clone(),
            exact: vec![(self.port.to_string(), "<port>".into())],
            substrings: vec![(format!("{}.", self.net), "<net>.".into())],
            ids,
        }
    }
}

/// Takes the compose side down (`down -v`), then removes by exact name anything left over.
struct ComposeDown<'a> {
    dir: PathBuf,
    side: &'a Side,
}

impl Drop for ComposeDown<'_> {
    fn drop(&mut self) {
        let _ = compose(&self.dir, self.side, &["down", "-v", "-t", "0"]);
        let p = &self.side.project;
        for s in SERVICES {
            let _ = Command::new("docker")
                .args(["rm", "-f", &self.side.container(s)])
                .output();
        }
        for n in ["front", "back"] {
            let _ = Command::new("docker")
                .args(["network", "rm", &format!("{p}_{n}")])
                .output();
        }
        let _ = Command::new("docker")
            .args(["volume", "rm", &format!("{p}_data")])
            .output();
    }
}

/// The values of the [`V2_ENV`] keys in `Config.Env`.
fn v2_env(c: &serde_json::Value) -> Vec<(String, String)> {
    let env = c["Config"]["Env"].as_array().cloned().unwrap_or_default();
    V2_ENV
        .iter()
        .map(|(k, _)| {
            let v = env
                .iter()
                .filter_map(|e| e.as_str()?.strip_prefix(&format!("{k}=")).map(String::from))
                .next()
                .unwrap_or_else(|| "(absent)".into());
            ((*k).to_string(), v)
        })
        .collect()
}

#[test]
fn aegis_creates_the_containers_compose_v2_creates() {
    if !compose_v2::available("aegis_creates_the_containers_compose_v2_creates") {
        return;
    }
    ensure_image();
    let src = Source::new();
    let pid = std::process::id();
    // Two distinct /24s per run (one per side), outside Docker's default address pools
    // (172.17-31.0.0/16, 192.168.0.0/16): networks that other tests or Compose's own
    // `default` network get from those pools can never overlap them.
    let octet = pid % 200 + 20;
    let aegis_side = Side {
        project: unique("pa"),
        net: format!("10.230.{octet}"),
        port: free_port(),
        container: |p, s| format!("{p}-{s}-1"),
    };
    let compose_side = Side {
        project: unique("pc"),
        net: format!("10.231.{octet}"),
        port: free_port(),
        container: |p, s| format!("{p}-{s}-1"),
    };
    src.write("app/compose.yaml", COMPOSE)
        .write("app/.env", DOTENV)
        .write("app/env/app.env", ENV_FILE)
        .write("app/files/motd.txt", "parity\n")
        .write(
            "aegis.yaml",
            &format!(
                "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {}}}\nspec:\n  compose: app/compose.yaml\n  environment: {{PT_NET: \"{}\", PT_PORT: \"{}\", PT_PLATFORM: \"{}\"}}\n",
                aegis_side.project,
                aegis_side.net,
                aegis_side.port,
                engine_platform()
            ),
        );
    let _down = ComposeDown {
        dir: src.path().to_path_buf(),
        side: &compose_side,
    };

    // Both sides at once: each waits for `db` to be healthy.
    let up = std::thread::scope(|s| {
        let up = s.spawn(|| compose(src.path(), &compose_side, &["up", "-d"]));
        apply(&src);
        up.join().expect("docker compose thread")
    });
    assert!(up.status.success(), "docker compose up failed:\n{}", text(&up));

    let ids = |side: &Side| -> Ids {
        SERVICES
            .iter()
            .map(|s| (container_id(&side.container(s)), (*s).to_string()))
            .collect()
    };
    let (c_ids, a_ids) = (ids(&compose_side), ids(&aegis_side));
    let known = Known::load();
    let mut report = Vec::new();
    for service in SERVICES {
        let c = inspect_json(&compose_side.container(service));
        let a = inspect_json(&aegis_side.container(service));
        if service == "web" {
            let want: Vec<(String, String)> =
                V2_ENV.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            assert_eq!(v2_env(&c), want, "Compose v2's env file values");
            assert_eq!(v2_env(&a), want, "aegis's env file values");
        }
        let (c, a) = (
            view(&compose_side.names(c_ids.clone()), &c),
            view(&aegis_side.names(a_ids.clone()), &a),
        );
        if service == "web" {
            // The comparison must not pass by being empty: every key of the file shows.
            let missing: Vec<&str> = WEB_FIELDS
                .iter()
                .copied()
                .filter(|f| !a.contains_key(*f))
                .collect();
            assert!(missing.is_empty(), "aegis's web lacks {missing:?}; view:\n{a:#?}");
        }
        let (unexpected, known_diffs) = known.split(diff(&c, &a));
        for d in &known_diffs {
            eprintln!("service `{service}`: known difference (compose-v2-differences):\n{d}");
        }
        if !unexpected.is_empty() {
            let lines: Vec<String> = unexpected.iter().map(ToString::to_string).collect();
            report.push(format!("service `{service}`:\n{}", lines.join("\n")));
        }
    }
    // Hooks leave no trace in inspect: what sidecar's post_start wrote must match.
    let hook_out = |side: &Side| docker(&["exec", &side.container("sidecar"), "cat", "/tmp/post_start"]);
    assert_eq!(
        hook_out(&aegis_side),
        hook_out(&compose_side),
        "post_start's output"
    );
    assert_eq!(hook_out(&aegis_side), "hi from dotenv\n65534");
    // Nor does the client configuration `use_api_socket` writes: same bytes, mode and owner.
    let api_config = |side: &Side| {
        docker(&[
            "exec",
            &side.container("sidecar"),
            "sh",
            "-c",
            "stat -c '%a %u:%g' /run/secrets/docker/config.json; cat /run/secrets/docker/config.json",
        ])
    };
    assert_eq!(
        api_config(&aegis_side),
        api_config(&compose_side),
        "use_api_socket's config.json"
    );
    assert!(
        report.is_empty(),
        "containers differ from Compose v2's:\n{}",
        report.join("\n")
    );
}
