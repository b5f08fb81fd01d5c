//! `create_body` for the compose keys of issue 11, as Compose v2's `getCreateConfigs` and
//! `getDeployResources` set them.

use super::*;
use crate::desired::DeviceRequest as SpecDeviceRequest;

fn spec() -> ContainerSpec {
    ContainerSpec {
        name: "demo-web-2".into(),
        stack: "demo".into(),
        service: "web".into(),
        image: "busybox:1.36".into(),
        number: 2,
        networks: vec![NetworkAttachment {
            network: "demo_default".into(),
            aliases: vec!["web".into()],
            ipv4_address: None,
            ipv6_address: None,
            mac_address: Some("02:42:ac:11:00:02".into()),
        }],
        memory_swap: Some(-1),
        uts: Some("host".into()),
        cgroup_parent: Some("/aegis.slice".into()),
        device_cgroup_rules: vec!["c 1:3 mr".into()],
        storage_opt: [("size".to_string(), "20G".to_string())].into(),
        annotations: [("a".to_string(), "1".to_string())].into(),
        device_requests: vec![SpecDeviceRequest {
            driver: Some("nvidia".into()),
            count: Some(-1),
            capabilities: vec![vec!["gpu".into()]],
            ..SpecDeviceRequest::default()
        }],
        links: vec!["demo-db-1:db".into()],
        volumes_from: vec!["demo-db-1".into()],
        ..ContainerSpec::default()
    }
}

#[test]
fn host_config_carries_the_new_keys() {
    let body = create_body(&spec(), &CreateContext::default());
    let hc = body.host_config.expect("host config");
    assert_eq!(hc.memory_swap, Some(-1));
    assert_eq!(hc.uts_mode.as_deref(), Some("host"));
    assert_eq!(hc.cgroup_parent.as_deref(), Some("/aegis.slice"));
    assert_eq!(hc.device_cgroup_rules, Some(vec!["c 1:3 mr".to_string()]));
    assert_eq!(hc.storage_opt.expect("storage")["size"], "20G");
    assert_eq!(hc.annotations.expect("annotations")["a"], "1");
    let req = &hc.device_requests.expect("requests")[0];
    assert_eq!(req.driver.as_deref(), Some("nvidia"));
    assert_eq!(req.count, Some(-1));
    assert_eq!(req.capabilities, Some(vec![vec!["gpu".to_string()]]));
    assert_eq!(hc.links, Some(vec!["demo-db-1:db".to_string()]));
    assert_eq!(hc.volumes_from, Some(vec!["demo-db-1".to_string()]));
    let ep = &body
        .networking_config
        .expect("net")
        .endpoints_config
        .expect("eps")["demo_default"];
    assert_eq!(ep.mac_address.as_deref(), Some("02:42:ac:11:00:02"));
    assert_eq!(ep.links, Some(vec!["demo-db-1:db".to_string()]));
    let labels = body.labels.expect("labels");
    assert_eq!(labels[crate::labels::COMPOSE_CONTAINER_NUMBER], "2");
}

#[test]
fn unset_keys_send_nothing_and_keep_the_old_hash() {
    let plain = ContainerSpec {
        name: "demo-web-1".into(),
        image: "busybox:1.36".into(),
        ..ContainerSpec::default()
    };
    let hc = create_body(&plain, &CreateContext::default())
        .host_config
        .expect("hc");
    assert!(hc.memory_swap.is_none() && hc.device_requests.is_none() && hc.links.is_none());
    // Specs hashed before these keys existed serialize exactly as they did.
    let json = serde_json::to_string(&plain).expect("json");
    for key in [
        "memory_swap",
        "uts",
        "device_requests",
        "links",
        "volumes_from",
        "number",
        "annotations",
    ] {
        assert!(!json.contains(&format!("\"{key}\"")), "{key} in {json}");
    }
}

#[test]
fn relabelled_named_volumes_go_to_binds_as_compose_v2_sends_them() {
    let mut s = spec();
    s.mounts = vec![
        crate::desired::Mount {
            target: "/var/lib/mysql".into(),
            read_only: false,
            kind: MountKind::Volume {
                name: Some("demo_db".into()),
                nocopy: false,
                relabel: Some("Z".into()),
            },
        },
        crate::desired::Mount {
            target: "/cache".into(),
            read_only: true,
            kind: MountKind::Volume {
                name: Some("demo_cache".into()),
                nocopy: true,
                relabel: Some("z".into()),
            },
        },
    ];
    let hc = create_body(&s, &CreateContext::default())
        .host_config
        .expect("host config");
    assert_eq!(
        hc.binds,
        Some(vec![
            "demo_db:/var/lib/mysql:rw,Z".to_string(),
            "demo_cache:/cache:ro,nocopy,z".to_string()
        ])
    );
    assert_eq!(hc.mounts, None);
}

#[test]
fn tuning_reaches_the_host_config() {
    let mut s = spec();
    s.tuning.cpuset = Some("0".into());
    s.tuning.cgroupns = Some("host".into());
    let hc = create_body(&s, &CreateContext::default())
        .host_config
        .expect("host config");
    assert_eq!(hc.cpuset_cpus.as_deref(), Some("0"));
    assert_eq!(
        hc.cgroupns_mode,
        Some(bollard::models::HostConfigCgroupnsModeEnum::HOST)
    );
}
