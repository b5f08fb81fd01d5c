//! Parity with `docker-compose` (Debian's 1.29.2): for one rich compose file, the containers
//! `aegis apply` creates must equal the ones `docker-compose up -d` creates, as `docker
//! inspect` shows them. Only names and ownership labels may differ.
//!
//! Both sides run the same file from the same directory, with a different project/stack name
//! and per-side values (subnet, host port) passed as interpolation variables: to
//! docker-compose through its (otherwise cleared) process environment, to aegis through the
//! Stack's `spec.environment`. Each side's own values are then replaced by placeholders.
//!
//! The comparison covers `Config`, `HostConfig` and `NetworkSettings.Networks` (aliases and
//! static addresses), flattened to `path = value` lines and diffed field by field.
//!
//! Normalisations, each explained where it is done: names (project/stack → `<project>`,
//! container ids → `<id of SERVICE>`), per-side subnet and host port, `Config.Hostname`,
//! `com.docker.compose.*`/`aegis.dev/*` labels, the source of repo-file binds, endpoint
//! runtime facts (ids, IPAM-assigned address, MAC), docker-compose 1.x's short-id alias, the
//! order of Env/Binds/Mounts/Aliases, empty list vs null, and the env file values where
//! compose 1.x and v2 disagree ([`V1_V2_ENV`], pinned per side rather than ignored).

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::{Map, Value};
use support::*;

const SERVICES: [&str; 4] = ["db", "web", "hostnet", "sidecar"];

/// The compose file. `PT_NET` (first three octets of `front`'s subnet) and `PT_PORT` (a free
/// host port) differ per side; `GREETING` and `FROM_DOTENV` come from `.env`.
const COMPOSE: &str = r#"services:
  db:
    image: busybox:1.36
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

/// Env file values where docker-compose 1.x (python-dotenv 0.21) and compose v2 (compose-go)
/// disagree. aegis follows compose v2 on purpose (see `compose/env_file.rs`); the test pins
/// both sides' values: `(key, docker-compose 1.29, aegis)`.
const V1_V2_ENV: [(&str, &str, &str); 2] = [
    // python-dotenv interpolates `${VAR}` even inside single quotes; compose v2 keeps single
    // quotes literal, like a shell.
    ("V1_SQ_INTERPOLATED", "plain value stays", "${PLAIN} stays"),
    // python-dotenv knows no `\$` escape and keeps the backslash; compose v2 unescapes it.
    ("V1_DQ_ESCAPED_DOLLAR", "cost \\$5", "cost $5"),
];

/// Fields of `web`'s normalised view that must be present (and are compared), so that the
/// test cannot pass by comparing nothing.
const WEB_FIELDS: &[&str] = &[
    "Config.Cmd[5]",
    "Config.Entrypoint[1]",
    "Config.Env[0]",
    "Config.ExposedPorts.7000/tcp",
    "Config.ExposedPorts.8080/tcp",
    "Config.Healthcheck.Interval",
    "Config.Healthcheck.Test[1]",
    "Config.Labels.com.example.empty",
    "Config.StopSignal",
    "Config.StopTimeout",
    "Config.User",
    "Config.Volumes./data",
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

/// Runs `docker-compose` with a clean environment: only `PATH`, `DOCKER_HOST` and the
/// per-side variables, so nothing of the test runner's environment leaks into interpolation
/// (aegis never reads its process environment).
fn compose(dir: &Path, side: &Side, args: &[&str]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(dir).env_clear();
    for k in ["PATH", "DOCKER_HOST"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("PT_NET", &side.net)
        .env("PT_PORT", side.port.to_string())
        .args(["-p", &side.project, "-f", "app/compose.yaml", "--no-ansi"])
        .args(args)
        .output()
        .expect("run docker-compose")
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

/// `docker inspect` of one container, as JSON.
fn inspect_json(name: &str) -> Value {
    let out = docker(&["inspect", name]);
    let mut v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v.as_array_mut().and_then(|a| a.pop()).expect("one container")
}

/// Removes the [`V1_V2_ENV`] keys from `Config.Env`, returning their values.
fn take_v1_v2_env(c: &mut Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Array(env)) = c.pointer_mut("/Config/Env") {
        env.retain(|e| {
            let (k, v) = e.as_str().and_then(|e| e.split_once('=')).unwrap_or_default();
            let known = V1_V2_ENV.iter().any(|(key, _, _)| *key == k);
            if known {
                out.insert(k.to_string(), v.to_string());
            }
            !known
        });
    }
    out
}

/// The normalised view of one container: `path = value` lines.
fn view(side: &Side, ids: &Ids, c: &Value) -> BTreeMap<String, String> {
    let short_id: String = c["Id"].as_str().unwrap_or_default().chars().take(12).collect();
    let mut config = c["Config"].clone();
    let mut host = c["HostConfig"].clone();
    let mut networks = c["NetworkSettings"]["Networks"].clone();

    let cfg = config.as_object_mut().expect("Config");
    // A random id unless `hostname:` is set (it is not).
    cfg.remove("Hostname");
    // Ownership and bookkeeping labels are the one allowed difference: docker-compose's
    // `com.docker.compose.*` (config-hash, version, project paths...) and aegis's `aegis.dev/*`.
    if let Some(Value::Object(labels)) = cfg.get_mut("Labels") {
        labels.retain(|k, _| !k.starts_with("com.docker.compose.") && !k.starts_with("aegis.dev/"));
    }
    // Env has no duplicate keys, so its order carries no meaning to the engine.
    sort_strings(cfg.get_mut("Env"));

    let hc = host.as_object_mut().expect("HostConfig");
    // Bind order carries no meaning either (aegis sorts mounts by target).
    if let Some(Value::Array(binds)) = hc.get_mut("Binds") {
        for b in binds.iter_mut() {
            if let Some(s) = b.as_str() {
                *b = Value::String(repo_source(s));
            }
        }
    }
    sort_strings(hc.get_mut("Binds"));
    // Nor does mount order (targets are unique); docker-compose 1.x's varies between runs.
    if let Some(Value::Array(mounts)) = hc.get_mut("Mounts") {
        mounts.sort_by_key(|m| m["Target"].to_string());
    }

    let nets = networks.as_object_mut().expect("Networks");
    for ep in nets.values_mut() {
        let ep = ep.as_object_mut().expect("endpoint");
        // Runtime facts of the endpoint, not configuration: ids, the address handed out by
        // IPAM (a static one is compared through IPAMConfig), gateway, MAC.
        for k in [
            "NetworkID",
            "EndpointID",
            "Gateway",
            "IPAddress",
            "IPPrefixLen",
            "IPv6Gateway",
            "GlobalIPv6Address",
            "GlobalIPv6PrefixLen",
            "MacAddress",
        ] {
            ep.remove(k);
        }
        // docker-compose 1.x adds the container's short id as an alias on every network
        // (compose v2 and aegis do not; the engine resolves the container by id anyway), and
        // its aliases are a Python set, so their order is arbitrary.
        if let Some(Value::Array(aliases)) = ep.get_mut("Aliases") {
            aliases.retain(|a| a.as_str() != Some(short_id.as_str()));
        }
        sort_strings(ep.get_mut("Aliases"));
    }

    let mut all = Map::new();
    all.insert("Config".into(), config);
    all.insert("HostConfig".into(), host);
    all.insert("Networks".into(), networks);
    let mut out = BTreeMap::new();
    flatten("", &placeholders(side, ids, Value::Object(all)), &mut out);
    out
}

fn sort_strings(v: Option<&mut Value>) {
    if let Some(Value::Array(a)) = v {
        a.sort_by_key(Value::to_string);
    }
}

/// A bind of a repository file: docker-compose mounts it from the checkout, aegis from the
/// copy it delivered to `/var/lib/aegis/files/<stack>/<hash>/`. The source legitimately
/// differs; the file name, target and mode are compared.
fn repo_source(bind: &str) -> String {
    let Some((src, rest)) = bind.split_once(':') else {
        return bind.to_string();
    };
    let is_repo = src.starts_with("/var/lib/aegis/files/")
        || src.starts_with(&std::env::temp_dir().display().to_string());
    if !is_repo {
        return bind.to_string();
    }
    let name = Path::new(src)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("<repo>/{name}:{rest}")
}

/// Container id → service, of one side.
type Ids = BTreeMap<String, String>;

/// Replaces the side's project name, subnet, host port and container ids (in keys and
/// strings) by placeholders. Ids show in `network_mode: service:X`, which both tools resolve
/// to `container:<id of X>`.
fn placeholders(side: &Side, ids: &Ids, v: Value) -> Value {
    let port = side.port.to_string();
    let fix = |s: &str| {
        if s == port {
            return "<port>".to_string();
        }
        let s = ids.iter().fold(s.to_string(), |s, (id, svc)| {
            s.replace(id, &format!("<id of {svc}>"))
        });
        s.replace(&side.project, "<project>")
            .replace(&format!("{}.", side.net), "<net>.")
    };
    match v {
        Value::String(s) => Value::String(fix(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| placeholders(side, ids, x)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (fix(&k), placeholders(side, ids, x)))
                .collect(),
        ),
        other => other,
    }
}

fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&format!("{path}.{k}"), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), x, out);
            }
        }
        // An empty list and null are the same to the engine (docker-py sends
        // `VolumesFrom: []` where aegis, like compose v2, sends nothing). Empty maps are
        // kept: `ExposedPorts` and `Volumes` are maps of `{}`.
        Value::Null | Value::Array(_) => {}
        other => {
            out.insert(path.trim_start_matches('.').to_string(), other.to_string());
        }
    }
}

/// Field-by-field differences, one line each.
fn diff(compose: &BTreeMap<String, String>, aegis: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<&String> = compose.keys().chain(aegis.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (c, a) = (compose.get(k), aegis.get(k));
            (c != a).then(|| {
                format!(
                    "  {k}\n    docker-compose: {}\n    aegis:          {}",
                    c.map_or("(absent)", String::as_str),
                    a.map_or("(absent)", String::as_str)
                )
            })
        })
        .collect()
}

#[test]
fn aegis_creates_the_containers_docker_compose_creates() {
    ensure_image();
    let src = Source::new();
    let pid = std::process::id();
    // Two distinct /24s per run (one per side), outside Docker's default address pools
    // (172.17-31.0.0/16, 192.168.0.0/16): networks that other tests or docker-compose's own
    // `default` network get from those pools can never overlap them.
    let octet = pid % 200 + 20;
    let aegis_side = Side {
        project: unique("pa"),
        net: format!("10.230.{octet}"),
        port: free_port(),
        container: |p, s| format!("{p}-{s}-1"),
    };
    let compose_side = Side {
        project: unique("pc").replace('-', "x"),
        net: format!("10.231.{octet}"),
        port: free_port(),
        container: |p, s| format!("{p}_{s}_1"),
    };
    src.write("app/compose.yaml", COMPOSE)
        .write("app/.env", DOTENV)
        .write("app/env/app.env", ENV_FILE)
        .write("app/files/motd.txt", "parity\n")
        .write(
            "aegis.yaml",
            &format!(
                "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {}}}\nspec:\n  compose: app/compose.yaml\n  environment: {{PT_NET: \"{}\", PT_PORT: \"{}\"}}\n",
                aegis_side.project, aegis_side.net, aegis_side.port
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
        up.join().expect("docker-compose thread")
    });
    assert!(up.status.success(), "docker-compose up failed:\n{}", text(&up));

    let ids = |side: &Side| -> Ids {
        SERVICES
            .iter()
            .map(|s| (container_id(&side.container(s)), (*s).to_string()))
            .collect()
    };
    let (c_ids, a_ids) = (ids(&compose_side), ids(&aegis_side));
    let mut report = Vec::new();
    for service in SERVICES {
        let mut c = inspect_json(&compose_side.container(service));
        let mut a = inspect_json(&aegis_side.container(service));
        let (c_env, a_env) = (take_v1_v2_env(&mut c), take_v1_v2_env(&mut a));
        if service == "web" {
            for (key, v1, ours) in V1_V2_ENV {
                assert_eq!(
                    c_env.get(key).map(String::as_str),
                    Some(v1),
                    "docker-compose's {key}"
                );
                assert_eq!(a_env.get(key).map(String::as_str), Some(ours), "aegis's {key}");
            }
        }
        let (c, a) = (view(&compose_side, &c_ids, &c), view(&aegis_side, &a_ids, &a));
        if service == "web" {
            // The comparison must not pass by being empty: every key of the file shows.
            let missing: Vec<&str> = WEB_FIELDS
                .iter()
                .copied()
                .filter(|f| !a.contains_key(*f))
                .collect();
            assert!(missing.is_empty(), "aegis's web lacks {missing:?}; view:\n{a:#?}");
        }
        let d = diff(&c, &a);
        if !d.is_empty() {
            report.push(format!("service `{service}`:\n{}", d.join("\n")));
        }
    }
    assert!(
        report.is_empty(),
        "containers differ from docker-compose's:\n{}",
        report.join("\n")
    );
}
