//! The keys Compose v2 accepts that aegis took on for issue 11: each one's resolved spec,
//! and the error (file:line: field) where the input is wrong.

use std::fs;

use super::tests::{load_err, load_in, load_ok};
use crate::desired::{DeviceRequest, RestartPolicy};

#[test]
fn runtime_keys_reach_the_spec() {
    let s = load_ok(
        r#"
services:
  app:
    image: busybox
    memswap_limit: 1g
    uts: host
    cgroup_parent: /aegis.slice
    device_cgroup_rules: ["c 1:3 mr", "a 7:* rmw"]
    storage_opt: {size: 20G}
    annotations: {com.example.a: "1"}
    mac_address: 02:42:ac:11:00:02
    devices:
      - source: /dev/dri
        target: /dev/dri
        permissions: rw
      - /dev/net/tun
      - nvidia.com/gpu=all
"#,
    );
    let c = &s.containers[0];
    assert_eq!(c.memory_swap, Some(1 << 30));
    assert_eq!(c.uts.as_deref(), Some("host"));
    assert_eq!(c.cgroup_parent.as_deref(), Some("/aegis.slice"));
    assert_eq!(c.device_cgroup_rules, vec!["c 1:3 mr", "a 7:* rmw"]);
    assert_eq!(c.storage_opt.get("size").map(String::as_str), Some("20G"));
    assert_eq!(c.annotations.get("com.example.a").map(String::as_str), Some("1"));
    assert_eq!(c.networks[0].mac_address.as_deref(), Some("02:42:ac:11:00:02"));
    let devs: Vec<_> = c
        .devices
        .iter()
        .map(|d| (d.host.as_str(), d.container.as_str(), d.permissions.as_str()))
        .collect();
    assert_eq!(
        devs,
        vec![
            ("/dev/dri", "/dev/dri", "rw"),
            ("/dev/net/tun", "/dev/net/tun", "rwm")
        ]
    );
    assert_eq!(
        c.device_requests,
        vec![DeviceRequest {
            driver: Some("cdi".into()),
            device_ids: vec!["nvidia.com/gpu=all".into()],
            ..DeviceRequest::default()
        }]
    );
}

#[test]
fn per_network_mac_and_service_mac_must_agree() {
    let text = load_err(
        "services:\n  app:\n    image: busybox\n    mac_address: 02:00:00:00:00:01\n    networks:\n      default:\n        mac_address: 02:00:00:00:00:02\n",
    );
    assert!(
        text.contains("compose.yaml:4: services.app.mac_address: `mac_address` differs"),
        "{text}"
    );
    let err = load_err("services:\n  app:\n    image: busybox\n    uts: private\n");
    assert!(err.contains("compose.yaml:4: services.app.uts:"), "{err}");
}

#[test]
fn label_file_below_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.labels"), "a=file\nb=file\nc=${b}-x\n").expect("write");
    let s = load_in(
        dir.path(),
        "services:\n  app:\n    image: busybox\n    label_file: app.labels\n    labels: {b: mine}\n",
        &[],
    )
    .expect("loads");
    let l = &s.containers[0].labels;
    assert_eq!(l.get("a").map(String::as_str), Some("file"));
    assert_eq!(l.get("b").map(String::as_str), Some("mine"));
    assert_eq!(l.get("c").map(String::as_str), Some("file-x"));
    let err = load_in(
        dir.path(),
        "services:\n  app:\n    image: busybox\n    label_file: [nope.labels]\n",
        &[],
    )
    .expect_err("missing file")
    .to_string();
    assert!(
        err.contains("compose.yaml:4: services.app.label_file[0]: label_file"),
        "{err}"
    );
}

#[test]
fn deploy_restart_reservations_and_swarm_keys() {
    let s = load_ok(
        r#"
services:
  ollama:
    image: busybox
    restart: always
    deploy:
      mode: replicated
      placement: {constraints: [node.role == manager]}
      update_config: {parallelism: 2}
      rollback_config: {parallelism: 1}
      endpoint_mode: vip
      restart_policy: {condition: on-failure, max_attempts: 3, delay: 5s}
      resources:
        limits: {memory: 512m}
        reservations:
          memory: 256m
          cpus: "0.5"
          devices:
            - driver: nvidia
              count: 1
              capabilities: [gpu]
            - capabilities: [gpu, utility]
              device_ids: ["0", "1"]
"#,
    );
    let c = &s.containers[0];
    assert_eq!(c.restart, RestartPolicy::OnFailure { max_retries: Some(3) });
    assert_eq!(c.memory, Some(512 << 20));
    assert_eq!(c.memory_reservation, Some(256 << 20));
    assert_eq!(
        c.device_requests,
        vec![
            DeviceRequest {
                driver: Some("nvidia".into()),
                count: Some(1),
                capabilities: vec![vec!["gpu".into()]],
                ..DeviceRequest::default()
            },
            DeviceRequest {
                device_ids: vec!["0".into(), "1".into()],
                capabilities: vec![vec!["gpu".into(), "utility".into()]],
                ..DeviceRequest::default()
            },
        ]
    );
    let warned: Vec<String> = s.warnings.iter().map(|w| w.path.to_string()).collect();
    for key in [
        "mode",
        "placement",
        "update_config",
        "rollback_config",
        "endpoint_mode",
    ] {
        assert!(
            warned.contains(&format!("services.ollama.deploy.{key}")),
            "{key}: {warned:?}"
        );
    }
    assert!(warned.contains(&"services.ollama.deploy.restart_policy.delay".to_string()));
    assert!(warned.contains(&"services.ollama.deploy.resources.reservations.cpus".to_string()));
}

#[test]
fn gpus_all_and_device_errors() {
    let s = load_ok("services:\n  a:\n    image: busybox\n    gpus: all\n");
    assert_eq!(s.containers[0].device_requests[0].count, Some(-1));
    assert_eq!(
        s.containers[0].device_requests[0].capabilities,
        vec![vec!["gpu".to_string()]]
    );
    let err = load_err(
        "services:\n  a:\n    image: busybox\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - count: 1\n              device_ids: [\"0\"]\n              capabilities: [gpu]\n            - count: lots\n              capabilities: [gpu]\n",
    );
    assert!(
        err.contains(
            "compose.yaml:8: services.a.deploy.resources.reservations.devices[0]: `count` and `device_ids`"
        ),
        "{err}"
    );
    assert!(err.contains("devices[1]: count `lots`"), "{err}");
    let err = load_err(
        "services:\n  a:\n    image: busybox\n    deploy:\n      restart_policy: {condition: sometimes}\n",
    );
    assert!(
        err.contains("services.a.deploy.restart_policy.condition"),
        "{err}"
    );
}

#[test]
fn replicas_and_scale_name_containers_by_number() {
    let s = load_ok("services:\n  w:\n    image: busybox\n    deploy: {replicas: 3}\n  one:\n    image: busybox\n    scale: 1\n  none:\n    image: busybox\n    scale: 0\n");
    let names: Vec<_> = s.containers.iter().map(|c| (c.name.as_str(), c.number)).collect();
    assert_eq!(
        names,
        vec![
            ("demo-w-1", 1),
            ("demo-w-2", 2),
            ("demo-w-3", 3),
            ("demo-one-1", 1)
        ]
    );
    let err =
        load_err("services:\n  w:\n    image: busybox\n    container_name: w\n    deploy: {replicas: 2}\n");
    assert!(
        err.contains("compose.yaml:4: services.w.container_name: `container_name: w` names one container"),
        "{err}"
    );
    let err = load_err("services:\n  w:\n    image: busybox\n    scale: 2\n    deploy: {replicas: 3}\n");
    assert!(
        err.contains("compose.yaml:4: services.w.scale: `scale` and `deploy.replicas` differ"),
        "{err}"
    );
}

#[test]
fn links_external_links_and_volumes_from() {
    let s = load_ok(
        r#"
services:
  db:
    image: busybox
    deploy: {replicas: 2}
  web:
    image: busybox
    links: [db, "db:database"]
    external_links: ["proxy_nginx_1:nginx", other]
    volumes_from: [db, "container:data-only:ro"]
"#,
    );
    let web = s.containers.iter().find(|c| c.service == "web").expect("web");
    assert_eq!(
        web.links,
        vec![
            "demo-db-1:db",
            "demo-db-1:db-1",
            "demo-db-1:demo-db-1",
            "demo-db-2:db",
            "demo-db-2:db-1",
            "demo-db-2:demo-db-1",
            "demo-db-1:database",
            "demo-db-1:db-1",
            "demo-db-1:demo-db-1",
            "demo-db-2:database",
            "demo-db-2:db-1",
            "demo-db-2:demo-db-1",
            "proxy_nginx_1:nginx",
            "other:other",
        ]
    );
    assert_eq!(web.volumes_from, vec!["demo-db-1", "data-only"]);
    assert_eq!(
        web.depends_on
            .iter()
            .map(|d| d.service.as_str())
            .collect::<Vec<_>>(),
        vec!["db"]
    );
    assert!(s
        .warnings
        .iter()
        .any(|w| w.path.to_string() == "services.web.volumes_from[1]"));
    let err =
        load_err("services:\n  web:\n    image: busybox\n    links: [nope]\n    volumes_from: [ghost]\n");
    assert!(
        err.contains("compose.yaml:4: services.web.links[0]: service `web` links to `nope`"),
        "{err}"
    );
    assert!(
        err.contains("compose.yaml:5: services.web.volumes_from[0]: `ghost` is not a service"),
        "{err}"
    );
}

#[test]
fn external_names_and_ipam_pools() {
    let s = load_ok(
        r#"
services:
  a:
    image: busybox
    networks: [proxy, lan]
    volumes: [media:/media]
networks:
  proxy:
    external: {name: traefik_proxy}
  lan:
    ipam:
      driver: default
      config:
        - subnet: 10.203.1.0/24
          gateway: 10.203.1.1
          aux_addresses: {router: 10.203.1.2}
        - subnet: 10.203.2.0/24
volumes:
  media:
    external: {name: shared_media}
"#,
    );
    assert!(s.external_networks.iter().any(|(n, _)| n == "traefik_proxy"));
    assert!(s.volumes.is_empty(), "an external volume is not created");
    let a = &s.containers[0];
    assert!(a.mounts.iter().any(
        |m| matches!(&m.kind, crate::desired::MountKind::Volume { name: Some(n), .. } if n == "shared_media")
    ));
    let ipam = s.networks[0].ipam.as_ref().expect("ipam");
    let pools = ipam.pools();
    assert_eq!(pools.len(), 2);
    assert_eq!(
        pools[0].aux_addresses.get("router").map(String::as_str),
        Some("10.203.1.2")
    );
    assert_eq!(pools[1].subnet.as_deref(), Some("10.203.2.0/24"));
    let w: Vec<String> = s.warnings.iter().map(|w| w.path.to_string()).collect();
    assert!(w.contains(&"networks.proxy.external.name".to_string()), "{w:?}");
    let err = load_err("services:\n  a:\n    image: busybox\n    networks: [p]\nnetworks:\n  p:\n    name: x\n    external: {name: y}\n");
    assert!(
        err.contains("compose.yaml:8: networks.p.external.name: `external.name: y` and `name: x` differ"),
        "{err}"
    );
}

#[test]
fn selinux_relabel_passes_through() {
    let s = load_ok("services:\n  a:\n    image: busybox\n    volumes:\n      - /srv/a:/a:z\n      - /srv/b:/b:ro,Z\n      - {type: bind, source: /srv/c, target: /c, bind: {selinux: z}}\n");
    let relabels: Vec<_> = s.containers[0]
        .mounts
        .iter()
        .map(|m| match &m.kind {
            crate::desired::MountKind::Bind { relabel, .. } => relabel.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        relabels,
        vec![Some("z".to_string()), Some("Z".into()), Some("z".into())]
    );
    let err = load_err("services:\n  a:\n    image: busybox\n    volumes:\n      - {type: bind, source: /srv/c, target: /c, bind: {selinux: x}}\n");
    assert!(
        err.contains("compose.yaml:5: services.a.volumes[0]: `bind.selinux`"),
        "{err}"
    );
    let body = crate::docker::container_config::create_body(&s.containers[0], &Default::default());
    let binds = body.host_config.expect("hc").binds.expect("binds");
    assert!(binds.contains(&"/srv/a:/a:rw,z".to_string()), "{binds:?}");
    assert!(binds.contains(&"/srv/b:/b:ro,Z".to_string()), "{binds:?}");
}

#[test]
fn tuning_keys_reach_the_spec() {
    let s = load_ok(
        r#"
services:
  app:
    image: busybox
    cpu_count: 2
    cpu_percent: 50
    cpu_period: 100000
    cpu_quota: "50000"
    cpu_rt_period: 1000000
    cpu_rt_runtime: 950000
    cpuset: 0-1
    mem_swappiness: 60
    oom_kill_disable: true
    oom_score_adj: -500
    userns_mode: host
    runtime: runc
    isolation: default
    cgroup: private
    attach: false
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sda, rate: 1mb}]
      device_write_iops: [{path: /dev/sda, rate: 30}]
"#,
    );
    let t = &s.containers[0].tuning;
    assert_eq!(
        (t.cpu_count, t.cpu_percent, t.cpu_period, t.cpu_quota),
        (Some(2), Some(50), Some(100_000), Some(50_000))
    );
    assert_eq!(
        (t.cpu_rt_period, t.cpu_rt_runtime),
        (Some(1_000_000), Some(950_000))
    );
    assert_eq!(t.cpuset.as_deref(), Some("0-1"));
    assert_eq!(
        (t.mem_swappiness, t.oom_kill_disable, t.oom_score_adj),
        (Some(60), Some(true), Some(-500))
    );
    assert_eq!(t.userns_mode.as_deref(), Some("host"));
    assert_eq!(t.runtime.as_deref(), Some("runc"));
    assert_eq!(t.isolation.as_deref(), Some("default"));
    assert_eq!(t.cgroupns.as_deref(), Some("private"));
    assert_eq!(t.blkio_weight, Some(300));
    assert_eq!(t.blkio_weight_device[0].rate, 400);
    assert_eq!(t.blkio_read_bps[0].rate, 1 << 20);
    assert_eq!(t.blkio_write_iops[0].path, "/dev/sda");
    assert!(t.blkio_read_iops.is_empty());
}

#[test]
fn tuning_keys_unset_keep_the_spec_hash_input() {
    let s = load_ok("services:\n  app:\n    image: busybox\n");
    let json = serde_json::to_string(&s.containers[0]).expect("json");
    assert!(!json.contains("tuning"), "{json}");
}

#[test]
fn bad_tuning_values_are_reported_at_their_key() {
    let text = load_err(
        "services:\n  a:\n    image: x\n    cgroup: shared\n    isolation: vm\n    oom_score_adj: 5000\n    blkio_config:\n      weight: 5\n",
    );
    for want in [
        "compose.yaml:4: services.a.cgroup",
        "compose.yaml:5: services.a.isolation",
        "compose.yaml:6: services.a.oom_score_adj",
        "compose.yaml:8: services.a.blkio_config.weight",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

#[test]
fn services_with_profiles_are_left_out_with_a_warning() {
    let s = load_ok(
        "services:\n  app:\n    image: busybox\n  debug:\n    image: busybox\n    profiles: [debug]\n",
    );
    let names: Vec<&str> = s.containers.iter().map(|c| c.service.as_str()).collect();
    assert_eq!(names, vec!["app"]);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.to_string().contains("service `debug` is left out")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn relabel_on_named_volumes_is_kept() {
    let s = load_ok(
        "services:\n  db:\n    image: x\n    volumes: [\"data:/var/lib/mysql:Z\"]\nvolumes:\n  data:\n",
    );
    assert!(matches!(
        &s.containers[0].mounts[0].kind,
        crate::desired::MountKind::Volume { name: Some(n), relabel: Some(r), .. } if n == "demo_data" && r == "Z"
    ));
}

#[test]
fn depending_on_a_left_out_service_is_an_error() {
    let text = load_err(
        "services:\n  app:\n    image: x\n    depends_on: [debug]\n  debug:\n    image: x\n    profiles: [debug]\n",
    );
    assert!(text.contains("services.app.depends_on"), "{text}");
    assert!(text.contains("debug"), "{text}");
}

#[test]
fn compose_profiles_activates_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = "services:\n  app:\n    image: x\n  debug:\n    image: x\n    profiles: [debug]\n  other:\n    image: x\n    profiles: [other]\n";
    let names = |vars: &[(&str, &str)]| -> Vec<String> {
        load_in(dir.path(), src, vars)
            .unwrap_or_else(|e| panic!("{e}"))
            .containers
            .into_iter()
            .map(|c| c.service)
            .collect()
    };
    assert_eq!(names(&[("COMPOSE_PROFILES", "debug")]), vec!["app", "debug"]);
    assert_eq!(names(&[("COMPOSE_PROFILES", "*")]), vec!["app", "debug", "other"]);
    fs::write(dir.path().join(".env"), "COMPOSE_PROFILES=other, debug\n").expect("write");
    assert_eq!(names(&[]), vec!["app", "debug", "other"]);
}

#[test]
fn use_api_socket_binds_the_engines_socket_as_v2_does() {
    let s = load_ok("services:\n  a:\n    image: busybox\n    use_api_socket: true\n");
    let body = crate::docker::container_config::create_body(&s.containers[0], &Default::default());
    let binds = body.host_config.expect("hc").binds.expect("binds");
    assert_eq!(
        binds,
        vec!["/var/run/docker.sock:/var/run/docker.sock:rw".to_string()]
    );
    let file = &s.containers[0].secret_files[0];
    assert_eq!(
        (file.target.as_str(), file.mode, file.value.expose_str()),
        (
            "/run/secrets/docker/config.json",
            0o444,
            Some("{\n\t\"auths\": {}\n}")
        )
    );
    assert_eq!(
        s.containers[0].env["DOCKER_CONFIG"].expose(),
        "/run/secrets/docker"
    );
    let ro = load_err("services:\n  a:\n    image: busybox\n    read_only: true\n    use_api_socket: true\n");
    assert!(ro.contains("services.a.use_api_socket"), "{ro}");
    assert!(ro.contains("read_only"), "{ro}");
    let none = load_ok("services:\n  a:\n    image: busybox\n    use_api_socket: false\n");
    assert!(none.containers[0].mounts.is_empty());
    let err = load_err("services:\n  a:\n    image: busybox\n    use_api_socket: true\n    volumes: [/var/run/docker.sock:/var/run/docker.sock]\n");
    assert!(
        err.contains(
            "compose.yaml:4: services.a.use_api_socket: `use_api_socket` binds `/var/run/docker.sock`"
        ),
        "{err}"
    );
}
