//! `create_body` against what docker-compose 1.29.2 sent for the same service (checked with
//! `docker inspect` on engine 20.10 / API 1.41).

use std::collections::BTreeMap;

use bollard::models::{MountType, RestartPolicyNameEnum};

use super::*;
use crate::desired::{Device, Healthcheck, Logging, PortBinding, RepoFile, RestartPolicy, Ulimit};

fn attach(net: &str, aliases: &[&str], ip: Option<&str>) -> NetworkAttachment {
    NetworkAttachment {
        network: net.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        ipv4_address: ip.map(String::from),
        ipv6_address: None,
        mac_address: None,
    }
}

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn spec() -> ContainerSpec {
    ContainerSpec {
        name: "demo-web-1".into(),
        stack: "demo".into(),
        service: "web".into(),
        image: "busybox:1.36".into(),
        labels: map(&[("my.label", "v")]),
        env: map(&[("B", "two"), ("A", "1")])
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
        command: Some(vec!["sleep".into(), "300".into()]),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        user: Some("1000:1000".into()),
        working_dir: Some("/tmp".into()),
        hostname: Some("h1".into()),
        domainname: Some("example.org".into()),
        restart: RestartPolicy::OnFailure { max_retries: Some(3) },
        networks: vec![
            attach("demo_front", &["web-alias"], Some("172.30.99.10")),
            attach("demo_back", &[], None),
        ],
        mounts: vec![
            Mount {
                target: "/etc/a.txt".into(),
                read_only: true,
                kind: MountKind::Bind {
                    source: BindSource::Repo(RepoFile {
                        local: "/checkout/demo/a.txt".into(),
                        content_hash: "abc".into(),
                        is_dir: false,
                        tree: Vec::new(),
                    }),
                    propagation: None,
                    create_host_path: true,
                    relabel: None,
                },
            },
            Mount {
                target: "/conf".into(),
                read_only: false,
                kind: MountKind::Bind {
                    source: BindSource::Host("/srv/conf".into()),
                    propagation: None,
                    create_host_path: true,
                    relabel: None,
                },
            },
            Mount {
                target: "/data".into(),
                read_only: false,
                kind: MountKind::Volume {
                    name: Some("demo_data".into()),
                    nocopy: false,
                    relabel: None,
                },
            },
            Mount {
                target: "/conf2".into(),
                read_only: true,
                kind: MountKind::Bind {
                    source: BindSource::Host("/srv/conf".into()),
                    propagation: Some("rslave".into()),
                    create_host_path: false,
                    relabel: None,
                },
            },
            Mount {
                target: "/data2".into(),
                read_only: false,
                kind: MountKind::Volume {
                    name: Some("demo_data".into()),
                    nocopy: true,
                    relabel: None,
                },
            },
            Mount {
                target: "/scratch".into(),
                read_only: false,
                kind: MountKind::Tmpfs {
                    size: Some(1_000_000),
                    mode: None,
                },
            },
            Mount {
                target: "/anon".into(),
                read_only: false,
                kind: MountKind::Volume {
                    name: None,
                    nocopy: false,
                    relabel: None,
                },
            },
        ],
        tmpfs: map(&[("/run", "size=64m"), ("/tmp2", "")]),
        ports: vec![
            PortBinding {
                host_ip: None,
                host_port: Some("18080".into()),
                container_port: 80,
                protocol: "tcp".into(),
            },
            PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("18081".into()),
                container_port: 81,
                protocol: "udp".into(),
            },
            PortBinding {
                host_ip: None,
                host_port: None,
                container_port: 82,
                protocol: "tcp".into(),
            },
        ],
        expose: vec!["90/tcp".into()],
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["MKNOD".into()],
        devices: vec![Device {
            host: "/dev/null".into(),
            container: "/dev/xnull".into(),
            permissions: "rwm".into(),
        }],
        dns: vec!["1.1.1.1".into()],
        dns_search: vec!["example.com".into()],
        dns_opt: vec!["ndots:2".into()],
        extra_hosts: vec!["foo:10.0.0.1".into()],
        healthcheck: Some(Healthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: Some(5_000_000_000),
            timeout: Some(2_000_000_000),
            retries: Some(3),
            start_period: Some(1_000_000_000),
            start_interval: None,
        }),
        init: Some(true),
        tty: true,
        stdin_open: true,
        security_opt: vec!["no-new-privileges:true".into()],
        sysctls: map(&[("net.core.somaxconn", "1024")]),
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }],
        logging: Some(Logging {
            driver: Some("json-file".into()),
            options: map(&[("max-size", "1m")]),
        }),
        stop_signal: Some("SIGTERM".into()),
        stop_timeout: Some(15),
        memory: Some(64 << 20),
        memory_reservation: Some(32 << 20),
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(512),
        pids_limit: Some(100),
        shm_size: Some(32 << 20),
        group_add: vec!["100".into()],
        ..Default::default()
    }
}

fn ctx() -> CreateContext {
    CreateContext::with_labels(map(&[
        ("aegis.dev/managed-by", "aegis"),
        ("my.label", "overridden-by-aegis"),
    ]))
}

#[test]
fn config_fields_match_compose() {
    let b = create_body(&spec(), &ctx());
    assert_eq!(b.image.as_deref(), Some("busybox:1.36"));
    assert_eq!(b.env, Some(vec!["A=1".to_string(), "B=two".to_string()]));
    assert_eq!(b.cmd, Some(vec!["sleep".to_string(), "300".to_string()]));
    assert_eq!(b.entrypoint, Some(vec!["/bin/sh".to_string(), "-c".to_string()]));
    assert_eq!(b.user.as_deref(), Some("1000:1000"));
    assert_eq!(b.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(b.hostname.as_deref(), Some("h1"));
    assert_eq!(b.domainname.as_deref(), Some("example.org"));
    assert_eq!(
        (b.tty, b.open_stdin, b.attach_stdin),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(b.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(b.stop_timeout, Some(15));
    let hc = b.healthcheck.unwrap();
    assert_eq!(hc.test, Some(vec!["CMD-SHELL".to_string(), "true".to_string()]));
    assert_eq!(
        (hc.interval, hc.timeout, hc.retries),
        (Some(5_000_000_000), Some(2_000_000_000), Some(3))
    );
    assert_eq!(hc.start_period, Some(1_000_000_000));
    assert_eq!(
        b.exposed_ports,
        Some(vec![
            "80/tcp".into(),
            "81/udp".into(),
            "82/tcp".into(),
            "90/tcp".into()
        ])
    );
    // Compose v2 lists only anonymous volumes in Config.Volumes; binds and named volumes go
    // through HostConfig alone.
    assert_eq!(b.volumes.unwrap(), vec!["/anon"]);
}

#[test]
fn labels_add_compose_and_ownership_labels() {
    let l = create_body(&spec(), &ctx()).labels.unwrap();
    assert_eq!(l["com.docker.compose.project"], "demo");
    assert_eq!(l["com.docker.compose.service"], "web");
    assert_eq!(l["com.docker.compose.container-number"], "1");
    assert_eq!(l["com.docker.compose.oneoff"], "False");
    assert_eq!(l["aegis.dev/managed-by"], "aegis");
    assert_eq!(l["my.label"], "overridden-by-aegis");
}

#[test]
fn host_config_matches_compose() {
    let h = create_body(&spec(), &ctx()).host_config.unwrap();
    let rp = h.restart_policy.unwrap();
    assert_eq!(
        (rp.name, rp.maximum_retry_count),
        (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3))
    );
    assert_eq!(h.cap_add, Some(vec!["CAP_NET_ADMIN".to_string()]));
    assert_eq!(h.cap_drop, Some(vec!["CAP_MKNOD".to_string()]));
    let d = &h.devices.unwrap()[0];
    assert_eq!(d.path_on_host.as_deref(), Some("/dev/null"));
    assert_eq!(d.path_in_container.as_deref(), Some("/dev/xnull"));
    assert_eq!(d.cgroup_permissions.as_deref(), Some("rwm"));
    assert_eq!(h.dns, Some(vec!["1.1.1.1".to_string()]));
    assert_eq!(h.dns_search, Some(vec!["example.com".to_string()]));
    assert_eq!(h.dns_options, Some(vec!["ndots:2".to_string()]));
    assert_eq!(h.extra_hosts, Some(vec!["foo:10.0.0.1".to_string()]));
    let u = &h.ulimits.unwrap()[0];
    assert_eq!(
        (u.name.as_deref(), u.soft, u.hard),
        (Some("nofile"), Some(1024), Some(2048))
    );
    assert_eq!(h.sysctls.unwrap()["net.core.somaxconn"], "1024");
    let t = h.tmpfs.unwrap();
    assert_eq!((t["/run"].as_str(), t["/tmp2"].as_str()), ("size=64m", ""));
    let log = h.log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(log.config.unwrap()["max-size"], "1m");
    assert_eq!((h.memory, h.memory_reservation), (Some(64 << 20), Some(32 << 20)));
    assert_eq!(
        (h.nano_cpus, h.cpu_shares, h.pids_limit),
        (Some(500_000_000), Some(512), Some(100))
    );
    assert_eq!(h.shm_size, Some(32 << 20));
    assert_eq!(h.init, Some(true));
    assert_eq!(h.security_opt, Some(vec!["no-new-privileges:true".to_string()]));
    assert_eq!(h.group_add, Some(vec!["100".to_string()]));
    assert_eq!((h.privileged, h.readonly_rootfs), (None, None));
}

#[test]
fn short_syntax_goes_to_binds_long_syntax_to_mounts() {
    let h = create_body(&spec(), &ctx()).host_config.unwrap();
    assert_eq!(
        h.binds.unwrap(),
        vec![
            "/var/lib/aegis/files/demo/abc/a.txt:/etc/a.txt:ro",
            "/srv/conf:/conf:rw",
            "demo_data:/data:rw",
        ]
    );
    let m = h.mounts.unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].typ, Some(MountType::BIND));
    assert_eq!(
        (m[0].source.as_deref(), m[0].target.as_deref()),
        (Some("/srv/conf"), Some("/conf2"))
    );
    assert_eq!(m[0].read_only, Some(true));
    assert_eq!(
        m[0].bind_options.as_ref().unwrap().propagation,
        Some(MountBindOptionsPropagationEnum::RSLAVE)
    );
    assert_eq!(m[1].typ, Some(MountType::VOLUME));
    assert_eq!(m[1].source.as_deref(), Some("demo_data"));
    assert_eq!(m[1].volume_options.as_ref().unwrap().no_copy, Some(true));
    assert_eq!(m[1].read_only, None);
    assert_eq!(m[2].typ, Some(MountType::TMPFS));
    assert_eq!(m[2].tmpfs_options.as_ref().unwrap().size_bytes, Some(1_000_000));
}

/// Compose v2's choice between `Binds` and the Mount API for a bind: a propagation always
/// takes the Mount API (so the engine creates no missing source), a relabel always `Binds`.
#[test]
fn binds_with_a_propagation_go_to_mounts_relabels_to_binds() {
    let bind = |target: &str, propagation: Option<&str>, relabel: Option<&str>| Mount {
        target: target.into(),
        read_only: false,
        kind: MountKind::Bind {
            source: BindSource::Host("/var/lib/aegis/stacks/demo/data".into()),
            propagation: propagation.map(String::from),
            create_host_path: true,
            relabel: relabel.map(String::from),
        },
    };
    let mut s = spec();
    s.mounts = vec![
        bind("/a", None, None),
        bind("/b", Some("rslave"), None),
        bind("/c", Some("rslave"), Some("z")),
    ];
    let h = create_body(&s, &ctx()).host_config.unwrap();
    assert_eq!(
        h.binds.unwrap(),
        vec![
            "/var/lib/aegis/stacks/demo/data:/a:rw",
            "/var/lib/aegis/stacks/demo/data:/c:rw,rslave,z",
        ]
    );
    let m = h.mounts.unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].target.as_deref(), Some("/b"));
}

#[test]
fn repo_path_comes_from_the_context_when_given() {
    let mut c = ctx();
    c.repo_paths
        .insert("/etc/a.txt".into(), "/elsewhere/a.txt".into());
    let binds = create_body(&spec(), &c).host_config.unwrap().binds.unwrap();
    assert_eq!(binds[0], "/elsewhere/a.txt:/etc/a.txt:ro");
}

#[test]
fn ports_bind_and_expose() {
    let pb = create_body(&spec(), &ctx())
        .host_config
        .unwrap()
        .port_bindings
        .unwrap();
    let one = |k: &str| {
        let v = pb[k].as_ref().unwrap();
        assert_eq!(v.len(), 1);
        (v[0].host_ip.clone().unwrap(), v[0].host_port.clone().unwrap())
    };
    assert_eq!(one("80/tcp"), (String::new(), "18080".into()));
    assert_eq!(one("81/udp"), ("127.0.0.1".into(), "18081".into()));
    assert_eq!(one("82/tcp"), (String::new(), String::new()));
    assert!(!pb.contains_key("90/tcp"));
}

#[test]
fn one_network_at_create_with_service_alias_the_rest_later() {
    let b = create_body(&spec(), &ctx());
    let h = b.host_config.unwrap();
    assert_eq!(h.network_mode.as_deref(), Some("demo_front"));
    let eps = b.networking_config.unwrap().endpoints_config.unwrap();
    assert_eq!(eps.len(), 1);
    let ep = &eps["demo_front"];
    assert_eq!(
        ep.aliases,
        Some(vec![
            "demo-web-1".to_string(),
            "web".to_string(),
            "web-alias".to_string()
        ])
    );
    assert_eq!(
        ep.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
        Some("172.30.99.10")
    );
    let extra = extra_networks(&spec(), &ctx());
    assert_eq!(extra, vec![attach("demo_back", &["demo-web-1", "web"], None)]);

    let mut c = ctx();
    c.create_network = Some("demo_back".into());
    let b = create_body(&spec(), &c);
    assert_eq!(b.host_config.unwrap().network_mode.as_deref(), Some("demo_back"));
    assert_eq!(extra_networks(&spec(), &c)[0].network, "demo_front");
}

#[test]
fn network_modes() {
    let mut s = spec();
    s.network_mode = NetworkMode::Service("db".into());
    let b = create_body(&s, &ctx());
    assert_eq!(
        b.host_config.unwrap().network_mode.as_deref(),
        Some("container:demo-db-1")
    );
    assert!(b.networking_config.is_none());
    assert!(extra_networks(&s, &ctx()).is_empty());
    let mut c = ctx();
    c.service_container = Some("my-db".into());
    assert_eq!(
        create_body(&s, &c).host_config.unwrap().network_mode.as_deref(),
        Some("container:my-db")
    );
    s.network_mode = NetworkMode::Host;
    assert_eq!(
        create_body(&s, &c).host_config.unwrap().network_mode.as_deref(),
        Some("host")
    );
    s.network_mode = NetworkMode::None;
    assert_eq!(
        create_body(&s, &c).host_config.unwrap().network_mode.as_deref(),
        Some("none")
    );
    s.network_mode = NetworkMode::Container("x".into());
    assert_eq!(
        create_body(&s, &c).host_config.unwrap().network_mode.as_deref(),
        Some("container:x")
    );
}

#[test]
fn minimal_spec_sends_what_compose_sends() {
    let s = ContainerSpec {
        name: "m".into(),
        image: "busybox:1.36".into(),
        ..Default::default()
    };
    let b = create_body(&s, &CreateContext::default());
    let h = b.host_config.unwrap();
    // compose 1.29 sends no restart policy (inspect: Name ""), empty Binds and PortBindings.
    assert!(h.restart_policy.is_none());
    assert_eq!(h.binds, Some(vec![]));
    assert!(h.port_bindings.unwrap().is_empty());
    assert!(h.mounts.is_none() && h.init.is_none() && h.log_config.is_none());
    assert!(b.env.is_none() && b.exposed_ports.is_none() && b.volumes.is_none());
    assert!(b.networking_config.is_none());
}

#[test]
fn restart_policies() {
    let name = |r| restart_policy(&r).and_then(|p| p.name);
    assert_eq!(name(RestartPolicy::Always), Some(RestartPolicyNameEnum::ALWAYS));
    assert_eq!(
        name(RestartPolicy::UnlessStopped),
        Some(RestartPolicyNameEnum::UNLESS_STOPPED)
    );
    assert_eq!(name(RestartPolicy::No), None);
    assert_eq!(name(RestartPolicy::ExplicitNo), Some(RestartPolicyNameEnum::NO));
}
