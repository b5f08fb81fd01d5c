//! Critical-resource planning, without Docker.

use std::collections::BTreeMap;

use super::*;
use crate::{
    desired::{
        ContainerSpec, DependsCondition, DependsOn, DesiredHost, Endpoint, HostSpec, Kind, NetworkAttachment,
        NetworkSpec, StackSpec,
    },
    observed::{
        rollback::{NewContainer, RollbackAttempt},
        ContainerState,
    },
    plan::{hash, plan_host, Gate, PlanOptions},
};

const IMG: &str = "sha256:img";

fn net(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        owner: ResourceRef::new(Kind::Network, name),
        external: false,
        driver: "bridge".into(),
        internal: false,
        attachable: false,
        enable_ipv6: false,
        ipam: None,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    }
}

fn ctr(stack: &str, service: &str) -> ContainerSpec {
    ContainerSpec {
        name: format!("{stack}-{service}-1"),
        stack: stack.into(),
        service: service.into(),
        image: "busybox:1.36".into(),
        networks: vec![NetworkAttachment {
            network: "web".into(),
            aliases: vec![],
            ipv4_address: None,
            ipv6_address: None,
            mac_address: None,
        }],
        ..Default::default()
    }
}

fn stack(name: &str, critical: bool, containers: Vec<ContainerSpec>) -> StackSpec {
    StackSpec {
        kind: Kind::Stack,
        name: name.into(),
        depends_on: vec![],
        containers,
        networks: vec![],
        volumes: vec![],
        critical,
    }
}

fn host(name: &str, stacks: Vec<StackSpec>) -> DesiredHost {
    DesiredHost {
        host: HostSpec {
            name: name.into(),
            endpoint: Endpoint::Default,
            labels: BTreeMap::new(),
        },
        networks: vec![net("web")],
        stacks,
    }
}

/// Observed state equal to `d`: the network and every container, running.
fn converged(d: &DesiredHost) -> ObservedHost {
    let mut o = ObservedHost {
        images: BTreeMap::from([("busybox:1.36".to_string(), IMG.to_string())]),
        ..Default::default()
    };
    for n in d.all_networks() {
        o.networks.push(crate::observed::ObservedNetwork {
            id: format!("id-{}", n.name),
            name: n.name.clone(),
            labels: BTreeMap::from([
                (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
                (labels::HOST.into(), d.host.name.clone()),
                (labels::INSTANCE.into(), "default".into()),
                (labels::RESOURCE.into(), n.owner.to_string()),
                (labels::SPEC_HASH.into(), hash::network(n)),
                (labels::SPEC.into(), serde_json::to_string(n).unwrap_or_default()),
            ]),
        });
    }
    for c in d.stacks.iter().flat_map(|s| &s.containers) {
        o.containers.push(observed_container(&d.host.name, c));
    }
    o
}

fn observed_container(host: &str, c: &ContainerSpec) -> ObservedContainer {
    let (h, json) = hash::container(c, IMG);
    ObservedContainer {
        id: format!("id-{}", c.name),
        name: c.name.clone(),
        labels: BTreeMap::from([
            (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
            (labels::HOST.into(), host.into()),
            (labels::INSTANCE.into(), "default".into()),
            (labels::RESOURCE.into(), format!("Stack/{}", c.stack)),
            (labels::SPEC_HASH.into(), h),
            (labels::SPEC.into(), json),
        ]),
        state: ContainerState::Running,
        health: None,
        exit_code: None,
        image_id: IMG.into(),
        networks: c.networks.iter().map(|n| n.network.clone()).collect(),
    }
}

fn lines(p: &HostPlan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| {
            format!(
                "{} {}{}",
                s.action.verb(),
                s.action.object(),
                if s.critical { " [critical]" } else { "" }
            )
        })
        .collect()
}

fn changed(c: &ContainerSpec) -> ContainerSpec {
    let mut c = c.clone();
    c.command = Some(vec!["changed".into()]);
    c
}

#[test]
fn replacing_a_critical_container_is_a_critical_step_creating_or_starting_is_not() {
    let d = host(
        "b",
        vec![
            stack("app", false, vec![ctr("app", "web")]),
            stack("fwd", true, vec![ctr("fwd", "socat"), ctr("fwd", "extra")]),
        ],
    );
    let mut o = converged(&d);
    // fwd-extra-1 is missing (created), fwd-socat-1 stopped and then changed.
    o.containers.retain(|c| c.name != "fwd-extra-1");
    let mut d2 = d.clone();
    d2.stacks[0].containers[0] = changed(&d.stacks[0].containers[0]);
    d2.stacks[1].containers[0] = changed(&d.stacks[1].containers[0]);
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(
        lines(&p),
        [
            "recreate app-web-1",
            "recreate fwd-socat-1 [critical]",
            "create fwd-extra-1"
        ]
    );
    let normal = p.without_critical();
    assert_eq!(lines(&normal), ["recreate app-web-1", "create fwd-extra-1"]);
    assert_eq!(p.critical_steps().len(), 1);

    // A stopped critical container is started in the normal pass: the path is down already.
    let mut o2 = converged(&d);
    o2.containers[1].state = ContainerState::Exited;
    o2.containers[1].exit_code = Some(1);
    assert_eq!(
        lines(&plan_host(&d, &o2, &PlanOptions::default())),
        ["start fwd-socat-1"]
    );
}

#[test]
fn a_network_recreate_that_would_disconnect_a_critical_container_is_held() {
    let d = host("b", vec![stack("fwd", true, vec![ctr("fwd", "socat")])]);
    let o = converged(&d);
    let mut d2 = d.clone();
    d2.networks[0].internal = true;
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert!(p.steps.is_empty(), "{:?}", lines(&p));
    assert_eq!(p.held.len(), 1);
    let text = p.held[0].to_string();
    assert!(
        text.starts_with("recreate web held back: it would disconnect critical container(s) fwd-socat-1"),
        "{text}"
    );
    assert_eq!(p.resources[&ResourceRef::new(Kind::Network, "web")].recreated, 0);

    // The same change with only a non-critical container attached goes ahead.
    let d = host("b", vec![stack("app", false, vec![ctr("app", "web")])]);
    let o = converged(&d);
    let mut d2 = d.clone();
    d2.networks[0].internal = true;
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(lines(&p), ["recreate web"]);
}

#[test]
fn removing_a_critical_resource_from_the_source_is_a_critical_step() {
    let d = host("b", vec![stack("fwd", true, vec![ctr("fwd", "socat")])]);
    let mut o = converged(&d);
    o.containers[0]
        .labels
        .insert(labels::CRITICAL.into(), "true".into());
    // The stack left the source: nothing declares it any more.
    let gone = host("b", vec![]);
    let p = plan_host(&gone, &o, &PlanOptions::default());
    assert_eq!(lines(&p), ["prune fwd-socat-1 [critical]"]);
    // Its network is pruned by the normal pass only once the container is gone: held now.
    let mut gone_net = gone.clone();
    gone_net.networks.clear();
    let p = plan_host(&gone_net, &o, &PlanOptions::default());
    assert_eq!(lines(&p), ["prune fwd-socat-1 [critical]"]);
    assert!(
        p.held[0].to_string().starts_with("prune web held back"),
        "{:?}",
        p.held
    );
}

#[test]
fn an_attempt_in_flight_holds_its_resource_and_its_two_containers() {
    let d = host(
        "b",
        vec![
            stack("app", false, vec![ctr("app", "web")]),
            stack("fwd", true, vec![ctr("fwd", "socat")]),
        ],
    );
    let mut o = converged(&d);
    // Mid-attempt: the old container is parked, the new one runs under the name.
    let spec = &d.stacks[1].containers[0];
    let mut old = observed_container("b", spec);
    old.id = "old-id".into();
    old.name = "fwd-socat-1_aegis_old".into();
    old.state = ContainerState::Exited;
    o.containers.push(old);
    let mut new = o
        .containers
        .iter()
        .find(|c| c.name == "fwd-socat-1")
        .cloned()
        .unwrap();
    new.id = "new-id".into();
    o.containers.retain(|c| c.name != "fwd-socat-1");
    let mut newer = changed(spec);
    newer.name = "fwd-socat-1".into();
    let (h, json) = hash::container(&newer, IMG);
    new.labels.insert(labels::SPEC_HASH.into(), h);
    new.labels.insert(labels::SPEC.into(), json);
    o.containers.push(new);
    let attempt = RollbackAttempt {
        id: "a1".into(),
        resource: ResourceRef::new(Kind::Stack, "fwd"),
        host: "b".into(),
        instance: "default".into(),
        container: "fwd-socat-1".into(),
        old_id: "old-id".into(),
        old_parked: "fwd-socat-1_aegis_old".into(),
        old_image_id: IMG.into(),
        new: Some(NewContainer {
            id: "new-id".into(),
            temp_name: "fwd-socat-1_aegis_next".into(),
            spec_hash: "x".into(),
        }),
        timeout: std::time::Duration::from_secs(120),
        token_sha256: "t".into(),
    };
    o.containers.push(ObservedContainer {
        id: "wd".into(),
        name: attempt.watchdog_name(),
        labels: attempt.to_labels(),
        state: ContainerState::Running,
        health: None,
        exit_code: None,
        image_id: "sha256:agent".into(),
        networks: vec![],
    });
    let mut d2 = d.clone();
    d2.stacks[0].containers[0] = changed(&d.stacks[0].containers[0]);
    let p = plan_host(&d2, &o, &PlanOptions::default());
    // The watchdog is never pruned, the parked old container is not pruned, and the running
    // new one is not "replaced back": only the unrelated stack changes.
    assert_eq!(lines(&p), ["recreate app-web-1"]);
    let held: Vec<String> = p.held.iter().map(ToString::to_string).collect();
    assert!(
        held.iter().any(|h| h.starts_with("prune fwd-socat-1_aegis_old held back: a commit-confirmed change of Stack/fwd is in flight (rollback watchdog aegis-rollback-a1)")),
        "{held:?}"
    );
    assert!(
        held.iter()
            .any(|h| h.starts_with("recreate fwd-socat-1 held back")),
        "{held:?}"
    );

    // Once the watchdog is gone, a parked container is a leftover for the recovery.
    let mut o2 = o.clone();
    o2.containers.retain(|c| c.id != "wd");
    for c in &mut o2.containers {
        if c.id == "old-id" {
            c.name = crate::observed::rollback::parked_name("fwd-socat-1", "a1");
        }
    }
    let p = plan_host(&d, &o2, &PlanOptions::default());
    let held: Vec<String> = p.held.iter().map(ToString::to_string).collect();
    assert!(
        held.iter().any(|h| h.starts_with("prune fwd-socat-1_aegis_old_a1 held back: it is left over from the interrupted commit-confirmed attempt a1")),
        "{held:?}"
    );
}

#[test]
fn critical_steps_run_in_dependency_order_then_fleet_depth_order() {
    let mut first = ctr("fwd", "a");
    let mut second = ctr("fwd", "b");
    second.depends_on = vec![DependsOn {
        service: "a".into(),
        condition: DependsCondition::Started,
        required: true,
    }];
    // Declared in reverse: the dependency, not the declaration, decides.
    let d = host("b", vec![stack("fwd", true, vec![second.clone(), first.clone()])]);
    let o = converged(&d);
    first.command = Some(vec!["x".into()]);
    second.command = Some(vec!["y".into()]);
    let d2 = host("b", vec![stack("fwd", true, vec![second, first])]);
    let p_b = plan_host(&d2, &o, &PlanOptions::default());
    let order: Vec<&str> = p_b.critical_steps().iter().map(|s| s.action.object()).collect();
    assert_eq!(order, ["fwd-a-1", "fwd-b-1"]);
    assert!(p_b
        .steps
        .iter()
        .any(|s| s.after.iter().any(|(_, g)| *g == Gate::Started)));

    let da = host("a", vec![stack("relay", true, vec![ctr("relay", "socat")])]);
    let oa = converged(&da);
    let mut da2 = da.clone();
    da2.stacks[0].containers[0] = changed(&da.stacks[0].containers[0]);
    let p_a = plan_host(&da2, &oa, &PlanOptions::default());
    let plans = vec![p_a, p_b];
    let depth = BTreeMap::from([("a".to_string(), 0), ("b".to_string(), 1)]);
    let seq: Vec<String> = fleet_sequence(&plans, &depth)
        .iter()
        .map(|(p, s)| format!("{}/{}", p.host, s.action.object()))
        .collect();
    // b sits behind a: its own path containers change first, while the path through a works.
    assert_eq!(seq, ["b/fwd-a-1", "b/fwd-b-1", "a/relay-socat-1"]);
}
