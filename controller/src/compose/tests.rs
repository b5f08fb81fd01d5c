//! End-to-end tests of [`load`](super::load) on small compose files.

use std::{collections::BTreeMap, fs, path::Path};

use super::{load, ComposeInput, ComposeStack};
use crate::{
    desired::{
        BindSource, DependsCondition, Kind, MountKind, PortBinding, PullPolicy, ResourceRef, RestartPolicy,
    },
    diagnostic::Diagnostics,
    yaml::{parse_documents, FieldPath},
};

pub(super) fn load_in(dir: &Path, src: &str, vars: &[(&str, &str)]) -> Result<ComposeStack, Diagnostics> {
    let docs = parse_documents(Path::new("stacks/demo/compose.yaml"), src).expect("valid YAML");
    let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    load(&ComposeInput {
        stack: "demo",
        file: Path::new("stacks/demo/compose.yaml"),
        value: &docs[0].value,
        map: &docs[0].map,
        base: FieldPath::root(),
        project_dir: &crate::source::SourceRoot::open(dir).expect("root").top(),
        host_project_dir: "/var/lib/aegis/stacks/demo",
        home_dir: "/root",
        vars: &vars,
        secrets: &Default::default(),
    })
}

pub(super) fn load_ok(src: &str) -> ComposeStack {
    let dir = tempfile::tempdir().expect("tempdir");
    load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn load_err(src: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    load_in(dir.path(), src, &[]).expect_err("must fail").to_string()
}

#[test]
fn every_supported_key_is_normalised() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.env"), "A=from-file\nB=file\n").expect("write");
    fs::write(dir.path().join("app.conf"), "x=1\n").expect("write");
    let src = r#"
services:
  web:
    image: nginx:1.27
    container_name: web
    restart: on-failure:5
    labels: ["a=1", "b"]
    networks:
      front:
        aliases: [www, web]
        ipv4_address: 172.30.0.10
      back:
    volumes:
      - ./app.conf:/etc/app.conf:ro
      - data:/data
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1g}
    tmpfs: /run:size=64m
    environment:
      B: 2
      C: true
    env_file: [app.env, {path: missing.env, required: false}]
    ports: ["127.0.0.1:8080:80", 443, {target: 53, published: "5353", protocol: udp}]
    expose: ["9000"]
    command: nginx -g 'daemon off;'
    entrypoint: ["/docker-entrypoint.sh"]
    user: "1000:1000"
    working_dir: /srv
    hostname: web
    domainname: example.test
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    devices: ["/dev/net/tun:/dev/net/tun"]
    dns: 1.1.1.1
    dns_search: [example.test]
    dns_opt: [ndots:1]
    extra_hosts: ["db.local:10.0.0.2", "cache.local=10.0.0.3"]
    healthcheck:
      test: curl -f localhost
      interval: 30s
      retries: 3
    depends_on:
      db: {condition: service_healthy, restart: true}
    privileged: true
    read_only: "true"
    init: true
    tty: true
    stdin_open: true
    security_opt: [no-new-privileges:true]
    sysctls: {net.core.somaxconn: 1024}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    logging: {driver: json-file, options: {max-size: 10m}}
    stop_grace_period: 1m30s
    stop_signal: SIGQUIT
    mem_limit: 512m
    mem_reservation: 256m
    shm_size: 64m
    cpus: 1.5
    cpu_shares: 512
    pids_limit: 100
    group_add: [docker, 999]
    pid: host
    ipc: shareable
    pull_policy: always
  db:
    image: postgres:16
    deploy: {resources: {limits: {memory: 1g, cpus: "0.5"}}}
networks:
  front:
    ipam: {config: [{subnet: 172.30.0.0/24, gateway: 172.30.0.1}]}
  back:
    internal: true
    labels: {tier: back}
volumes:
  data:
"#;
    let stack = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    let web = &stack.containers[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.service, "web");
    assert_eq!(web.stack, "demo");
    assert_eq!(web.image, "nginx:1.27");
    assert_eq!(web.restart, RestartPolicy::OnFailure { max_retries: Some(5) });
    assert_eq!(web.labels.get("a").map(String::as_str), Some("1"));
    assert_eq!(web.labels.get("b").map(String::as_str), Some(""));
    let nets: Vec<_> = web.networks.iter().map(|n| n.network.as_str()).collect();
    assert_eq!(nets, vec!["demo_back", "demo_front"]);
    assert_eq!(web.networks[1].aliases, vec!["web", "www"]);
    assert_eq!(web.networks[1].ipv4_address.as_deref(), Some("172.30.0.10"));
    assert_eq!(web.networks[0].aliases, vec!["web"]);
    assert_eq!(web.mounts.len(), 3);
    assert_eq!(web.mounts[0].target, "/cache");
    assert_eq!(web.mounts[1].target, "/data");
    assert!(matches!(&web.mounts[1].kind, MountKind::Volume { name: Some(n), .. } if n == "demo_data"));
    assert!(
        matches!(&web.mounts[2].kind, MountKind::Bind { source: BindSource::Repo(f), .. } if f.content_hash.len() == 64)
    );
    assert_eq!(web.tmpfs.get("/run").map(String::as_str), Some("size=64m"));
    assert_eq!(web.env.get("A").and_then(|v| v.as_plain()), Some("from-file"));
    assert_eq!(web.env.get("B").and_then(|v| v.as_plain()), Some("2"));
    assert_eq!(web.env.get("C").and_then(|v| v.as_plain()), Some("true"));
    assert_eq!(
        web.ports,
        vec![
            PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("8080".into()),
                container_port: 80,
                protocol: "tcp".into()
            },
            PortBinding {
                host_ip: None,
                host_port: None,
                container_port: 443,
                protocol: "tcp".into()
            },
            PortBinding {
                host_ip: None,
                host_port: Some("5353".into()),
                container_port: 53,
                protocol: "udp".into()
            },
        ]
    );
    assert_eq!(web.expose, vec!["9000"]);
    assert_eq!(
        web.command.as_deref(),
        Some(&["nginx".to_string(), "-g".into(), "daemon off;".into()][..])
    );
    assert_eq!(
        web.entrypoint.as_deref(),
        Some(&["/docker-entrypoint.sh".to_string()][..])
    );
    assert_eq!(web.user.as_deref(), Some("1000:1000"));
    assert_eq!(web.working_dir.as_deref(), Some("/srv"));
    assert_eq!(web.hostname.as_deref(), Some("web"));
    assert_eq!(web.domainname.as_deref(), Some("example.test"));
    assert_eq!(web.cap_add, vec!["NET_ADMIN"]);
    assert_eq!(web.cap_drop, vec!["ALL"]);
    assert_eq!(web.devices[0].permissions, "rwm");
    assert_eq!(web.dns, vec!["1.1.1.1"]);
    assert_eq!(web.dns_search, vec!["example.test"]);
    assert_eq!(web.dns_opt, vec!["ndots:1"]);
    assert_eq!(web.extra_hosts, vec!["db.local:10.0.0.2", "cache.local:10.0.0.3"]);
    let hc = web.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(hc.test, vec!["CMD-SHELL", "curl -f localhost"]);
    assert_eq!(hc.interval, Some(30_000_000_000));
    assert_eq!(hc.retries, Some(3));
    assert_eq!(web.depends_on[0].service, "db");
    assert_eq!(web.depends_on[0].condition, DependsCondition::Healthy);
    assert_eq!(web.restart_with, vec!["db"]);
    assert!(web.privileged && web.read_only && web.tty && web.stdin_open);
    assert_eq!(web.init, Some(true));
    assert_eq!(web.security_opt, vec!["no-new-privileges:true"]);
    assert_eq!(
        web.sysctls.get("net.core.somaxconn").map(String::as_str),
        Some("1024")
    );
    assert_eq!(web.ulimits.len(), 2);
    assert_eq!(
        (
            web.ulimits[0].name.as_str(),
            web.ulimits[0].soft,
            web.ulimits[0].hard
        ),
        ("nofile", 1024, 2048)
    );
    assert_eq!((web.ulimits[1].soft, web.ulimits[1].hard), (512, 512));
    let logging = web.logging.as_ref().expect("logging");
    assert_eq!(logging.driver.as_deref(), Some("json-file"));
    assert_eq!(logging.options.get("max-size").map(String::as_str), Some("10m"));
    assert_eq!(web.stop_timeout, Some(90));
    assert_eq!(web.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(web.memory, Some(512 << 20));
    assert_eq!(web.memory_reservation, Some(256 << 20));
    assert_eq!(web.shm_size, Some(64 << 20));
    assert_eq!(web.nano_cpus, Some(1_500_000_000));
    assert_eq!(web.cpu_shares, Some(512));
    assert_eq!(web.pids_limit, Some(100));
    assert_eq!(web.group_add, vec!["docker", "999"]);
    assert_eq!(web.pid.as_deref(), Some("host"));
    assert_eq!(web.ipc.as_deref(), Some("shareable"));
    assert_eq!(web.pull_policy, Some(PullPolicy::Always));

    let db = &stack.containers[1];
    assert_eq!(db.name, "demo-db-1");
    assert_eq!(db.memory, Some(1 << 30));
    assert_eq!(db.nano_cpus, Some(500_000_000));
    assert_eq!(db.networks[0].network, "demo_default");
    assert_eq!(db.networks[0].aliases, vec!["db"]);

    let names: Vec<_> = stack.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["demo_back", "demo_default", "demo_front"]);
    assert!(stack.networks[0].internal);
    assert_eq!(
        stack.networks[0].labels.get("tier").map(String::as_str),
        Some("back")
    );
    assert_eq!(stack.networks[1].driver, "bridge");
    assert_eq!(stack.networks[1].owner, ResourceRef::new(Kind::Stack, "demo"));
    let ipam = stack.networks[2].ipam.as_ref().expect("ipam");
    assert_eq!(ipam.subnet.as_deref(), Some("172.30.0.0/24"));
    assert_eq!(ipam.gateway.as_deref(), Some("172.30.0.1"));
    assert_eq!(stack.volumes.len(), 1);
    assert_eq!(stack.volumes[0].name, "demo_data");
    assert!(stack.external_networks.is_empty());
    assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);
}

#[test]
fn interpolation_uses_vars_then_dotenv_never_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join(".env"),
        "TAG=from-dotenv\nPORT=8080\nHOME_DIR=$TAG/x\n",
    )
    .expect("write");
    std::env::set_var("AEGIS_COMPOSE_TEST_PROCESS_VAR", "leak");
    let src = r#"
services:
  app:
    image: "busybox:${TAG}"
    ports: ["${PORT}:80"]
    command: ["echo", "$$HOME", "${MISSING:-fallback}", "${AEGIS_COMPOSE_TEST_PROCESS_VAR}", "${HOME_DIR}"]
    environment:
      FROM_VARS: ${STACK_VAR}
      STACK_VAR:
      NOT_ANYWHERE:
    cpus: ${CPUS:-0.5}
    privileged: ${PRIV:-false}
"#;
    let stack =
        load_in(dir.path(), src, &[("TAG", "1.36"), ("STACK_VAR", "s")]).unwrap_or_else(|e| panic!("{e}"));
    let app = &stack.containers[0];
    assert_eq!(app.image, "busybox:1.36");
    assert_eq!(app.ports[0].host_port.as_deref(), Some("8080"));
    assert_eq!(
        app.command.as_deref().expect("command"),
        &["echo", "$HOME", "fallback", "", "from-dotenv/x"]
    );
    assert_eq!(app.env.get("FROM_VARS").and_then(|v| v.as_plain()), Some("s"));
    assert_eq!(app.env.get("STACK_VAR").and_then(|v| v.as_plain()), Some("s"));
    assert!(!app.env.contains_key("NOT_ANYWHERE"));
    assert_eq!(app.nano_cpus, Some(500_000_000));
    assert!(!app.privileged);
    let warnings: Vec<String> = stack.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("AEGIS_COMPOSE_TEST_PROCESS_VAR"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains("compose.yaml:6: services.app.command[3]"),
        "{warnings:?}"
    );
}
