//! Container actions against the real engine (API 1.41: one network at create, the rest
//! connected before start).

mod common;

use std::{collections::BTreeMap, time::Duration};

use aegis::{
    desired::{ContainerSpec, Healthcheck, Kind, NetworkAttachment, NetworkSpec, ResourceRef},
    docker::{
        container_config::extra_networks, containers, create_body, networks, wait, CreateContext,
        DockerError, DockerHost,
    },
    observed::{ContainerState, Health},
};
use common::*;

fn sleeper(name: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        stack: "t".into(),
        service: "app".into(),
        image: IMAGE.into(),
        command: Some(vec!["sleep".into(), "300".into()]),
        stop_timeout: Some(1),
        ..Default::default()
    }
}

fn network_spec(name: &str, subnet: Option<String>) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        owner: ResourceRef::new(Kind::Network, name),
        external: false,
        driver: "bridge".into(),
        internal: false,
        attachable: false,
        enable_ipv6: false,
        ipam: subnet.map(|s| aegis::desired::Ipam {
            driver: None,
            subnet: Some(s),
            gateway: None,
            ip_range: None,
            ..Default::default()
        }),
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    }
}

/// Creates a network with a random /24 (retrying if the subnet is taken).
async fn network_with_subnet(host: &DockerHost, name: &str) -> String {
    for i in 0..20u32 {
        let n = (std::process::id() + i * 37) % 250;
        let m = (n * 7 + i) % 250;
        let subnet = format!("10.{}.{}.0/24", 200 + n % 50, m);
        let spec = network_spec(name, Some(subnet.clone()));
        if networks::create_network(host, &spec, &owner_labels(host))
            .await
            .is_ok()
        {
            return subnet;
        }
    }
    panic!("no free subnet found for the test network");
}

async fn create(host: &DockerHost, spec: &ContainerSpec) -> String {
    let ctx = CreateContext::with_labels(owner_labels(host));
    containers::create_container(
        host,
        &spec.name,
        create_body(spec, &ctx),
        &extra_networks(spec, &ctx),
        &[],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn create_joins_two_networks_with_aliases_and_static_ip() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let (front, back, name) = (
        unique("aegis-t-front"),
        unique("aegis-t-back"),
        unique("aegis-t-web"),
    );
    cleanup.container(&name).network(&front).network(&back);
    networks::create_network(&host, &network_spec(&front, None), &owner_labels(&host))
        .await
        .unwrap();
    let subnet = network_with_subnet(&host, &back).await;
    let ip = subnet.replace(".0/24", ".10");

    let mut spec = sleeper(&name);
    spec.networks = vec![
        NetworkAttachment {
            network: front.clone(),
            aliases: vec!["web-front".into()],
            ipv4_address: None,
            ipv6_address: None,
            mac_address: None,
        },
        NetworkAttachment {
            network: back.clone(),
            aliases: vec!["web-back".into()],
            ipv4_address: Some(ip.clone()),
            ipv6_address: None,
            mac_address: None,
        },
    ];
    let id = create(&host, &spec).await;
    containers::start(&host, &id).await.unwrap();

    let nets = inspect(
        &name,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.Aliases}};{{end}}",
    );
    // The container name first, then the service name and the file's aliases, as Compose v2.
    assert!(nets.contains(&format!("{front}=[{name} app web-front")), "{nets}");
    assert!(nets.contains(&format!("{back}=[{name} app web-back")), "{nets}");
    let got_ip = inspect(
        &name,
        &format!("{{{{(index .NetworkSettings.Networks \"{back}\").IPAddress}}}}"),
    );
    assert_eq!(got_ip, ip);
    assert_eq!(inspect(&name, "{{.HostConfig.NetworkMode}}"), front);
    assert_eq!(
        inspect(&front, "{{index .Labels \"aegis.dev/managed-by\"}}"),
        "aegis"
    );
}

#[tokio::test]
async fn replace_keeps_the_name_and_changes_the_id() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let name = unique("aegis-t-replace");
    cleanup.container(&name).container(format!("{name}_aegis_new"));
    let mut spec = sleeper(&name);
    let old = create(&host, &spec).await;
    containers::start(&host, &old).await.unwrap();

    spec.env.insert("VERSION".into(), "2".into());
    let ctx = CreateContext::with_labels(owner_labels(&host));
    let new = containers::replace_container(&host, &old, &name, None, create_body(&spec, &ctx), &[], &[])
        .await
        .unwrap();
    assert_ne!(new, old);
    let st = containers::inspect_state(&host, &name).await.unwrap();
    assert_eq!(
        (st.name.as_str(), st.state),
        (name.as_str(), ContainerState::Running)
    );
    assert_eq!(inspect(&name, "{{.Id}}"), new);
    assert!(inspect(&name, "{{.Config.Env}}").contains("VERSION=2"));
    assert!(containers::inspect_state(&host, &old)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_with_a_helpful_message() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let name = unique("aegis-t-taken");
    cleanup.container(&name);
    docker_ok(&["create", "--name", &name, IMAGE, "sleep", "1"]);

    let err = containers::create_container(
        &host,
        &name,
        create_body(&sleeper(&name), &Default::default()),
        &[],
        &[],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DockerError::Conflict { .. }), "{err:?}");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        msg.contains(&format!(
            "container `{name}` already exists on host `{}`",
            host.host()
        )),
        "{msg}"
    );
    assert!(msg.contains("not managed by aegis"), "{msg}");
    assert!(msg.contains("container_name"), "{msg}");
}

#[tokio::test]
async fn wait_healthy_waits_for_the_healthcheck() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let name = unique("aegis-t-health");
    cleanup.container(&name);
    let mut spec = sleeper(&name);
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "sleep 2; touch /tmp/ok; sleep 300".into(),
    ]);
    spec.healthcheck = Some(Healthcheck {
        test: vec!["CMD-SHELL".into(), "test -f /tmp/ok".into()],
        interval: Some(500_000_000),
        timeout: Some(1_000_000_000),
        retries: Some(20),
        start_period: None,
        start_interval: None,
    });
    let id = create(&host, &spec).await;
    containers::start(&host, &id).await.unwrap();

    let st = containers::inspect_state(&host, &id).await.unwrap();
    assert_eq!(st.health, Some(Health::Starting));
    let started = std::time::Instant::now();
    wait::wait_healthy(&host, &id, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "became healthy too early"
    );
    let obs = aegis::docker::observe(&host).await.unwrap();
    assert_eq!(obs.containers[0].health, Some(Health::Healthy));
}

#[tokio::test]
async fn wait_healthy_times_out_with_the_last_health_output() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let name = unique("aegis-t-sick");
    cleanup.container(&name);
    let mut spec = sleeper(&name);
    spec.healthcheck = Some(Healthcheck {
        test: vec!["CMD-SHELL".into(), "echo not-yet; false".into()],
        interval: Some(300_000_000),
        timeout: Some(1_000_000_000),
        retries: Some(100),
        start_period: None,
        start_interval: None,
    });
    let id = create(&host, &spec).await;
    containers::start(&host, &id).await.unwrap();
    let err = wait::wait_healthy(&host, &id, Duration::from_secs(2))
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, DockerError::WaitTimeout { .. }), "{msg}");
    assert!(msg.contains(&name) && msg.contains("not-yet"), "{msg}");
}

#[tokio::test]
async fn wait_exited_ok_reports_the_exit_code() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let (ok, bad) = (unique("aegis-t-ok"), unique("aegis-t-bad"));
    cleanup.container(&ok).container(&bad);
    let mut spec = sleeper(&ok);
    spec.command = Some(vec!["true".into()]);
    let id = create(&host, &spec).await;
    containers::start(&host, &id).await.unwrap();
    wait::wait_exited_ok(&host, &id, Duration::from_secs(10))
        .await
        .unwrap();

    let mut spec = sleeper(&bad);
    spec.command = Some(vec!["sh".into(), "-c".into(), "exit 3".into()]);
    let id = create(&host, &spec).await;
    containers::start(&host, &id).await.unwrap();
    let msg = wait::wait_exited_ok(&host, &id, Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("exited with code 3") && msg.contains(&bad), "{msg}");
}

#[tokio::test]
async fn replace_works_with_a_fixed_published_port() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let name = unique("aegis-t-port");
    cleanup.container(&name).container(format!("{name}_aegis_new"));
    // A free port: bind to 0, read it back, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut spec = sleeper(&name);
    spec.ports = vec![aegis::desired::PortBinding {
        host_ip: Some("127.0.0.1".into()),
        host_port: Some(port.to_string()),
        container_port: 80,
        protocol: "tcp".into(),
    }];
    let old = create(&host, &spec).await;
    containers::start(&host, &old).await.unwrap();
    // The new container can only start once the old one has released the port.
    let ctx = CreateContext::with_labels(owner_labels(&host));
    let new = containers::replace_container(&host, &old, &name, None, create_body(&spec, &ctx), &[], &[])
        .await
        .unwrap();
    assert_eq!(
        containers::inspect_state(&host, &new).await.unwrap().state,
        ContainerState::Running
    );
    let bound = inspect(
        &name,
        "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
    );
    assert_eq!(bound, port.to_string());
}

#[tokio::test]
async fn removing_a_network_in_use_names_the_containers_still_attached() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let (net, name) = (unique("aegis-t-inuse"), unique("aegis-t-attached"));
    cleanup.container(&name).network(&net);
    networks::create_network(&host, &network_spec(&net, None), &owner_labels(&host))
        .await
        .unwrap();
    let mut spec = sleeper(&name);
    spec.networks = vec![NetworkAttachment {
        network: net.clone(),
        aliases: vec![],
        ipv4_address: None,
        ipv6_address: None,
        mac_address: None,
    }];
    let id = create(&host, &spec).await;
    containers::start(&host, &id).await.unwrap();

    let err = networks::remove_network(&host, &net)
        .await
        .expect_err("a network with a running container cannot be removed");
    let text = err.to_string();
    assert!(text.contains(&format!("network `{net}`")), "{text}");
    assert!(text.contains("has active endpoints"), "{text}");
    assert!(text.contains(&format!("still attached: {name}")), "{text}");
    assert!(text.contains("docker network disconnect"), "{text}");
}
