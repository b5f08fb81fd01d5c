//! Planner decisions, without Docker.

use std::collections::BTreeMap;

use super::*;
use crate::{
    desired::{
        ContainerSpec, DependsCondition, DependsOn, DesiredHost, Endpoint, HostSpec, Kind, NetworkAttachment,
        NetworkMode, NetworkSpec, ResourceRef, StackSpec,
    },
    labels,
    observed::{ContainerState, ObservedContainer, ObservedHost, ObservedNetwork},
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
            aliases: vec![service.into()],
            ipv4_address: None,
            ipv6_address: None,
            mac_address: None,
        }],
        ..Default::default()
    }
}

fn desired(containers: Vec<ContainerSpec>) -> DesiredHost {
    DesiredHost {
        host: HostSpec {
            name: "local".into(),
            endpoint: Endpoint::Default,
            labels: BTreeMap::new(),
        },
        networks: vec![net("web")],
        stacks: vec![StackSpec {
            kind: Kind::Stack,
            name: "demo".into(),
            depends_on: vec![ResourceRef::new(Kind::Network, "web")],
            containers,
            networks: vec![],
            volumes: vec![],
            critical: false,
        }],
    }
}

fn empty() -> ObservedHost {
    ObservedHost {
        images: BTreeMap::from([("busybox:1.36".to_string(), IMG.to_string())]),
        ..Default::default()
    }
}

fn observe_network(o: &mut ObservedHost, spec: &NetworkSpec) {
    o.networks.push(ObservedNetwork {
        id: format!("id-{}", spec.name),
        name: spec.name.clone(),
        labels: BTreeMap::from([
            (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
            (labels::HOST.into(), "local".into()),
            (labels::INSTANCE.into(), "default".into()),
            (labels::RESOURCE.into(), spec.owner.to_string()),
            (labels::SPEC_HASH.into(), hash::network(spec)),
            (
                labels::SPEC.into(),
                serde_json::to_string(spec).unwrap_or_default(),
            ),
        ]),
    });
}

fn observe_container(o: &mut ObservedHost, spec: &ContainerSpec, state: ContainerState) {
    let (h, json) = hash::container(spec, IMG);
    o.containers.push(ObservedContainer {
        id: format!("id-{}", spec.name),
        name: spec.name.clone(),
        labels: BTreeMap::from([
            (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
            (labels::HOST.into(), "local".into()),
            (labels::INSTANCE.into(), "default".into()),
            (labels::RESOURCE.into(), format!("Stack/{}", spec.stack)),
            (labels::SPEC_HASH.into(), h),
            (labels::SPEC.into(), json),
        ]),
        state,
        health: None,
        exit_code: if state == ContainerState::Exited {
            Some(0)
        } else {
            None
        },
        image_id: IMG.into(),
        networks: spec.networks.iter().map(|n| n.network.clone()).collect(),
    });
}

/// Observed state equal to `d`, everything running.
fn converged(d: &DesiredHost) -> ObservedHost {
    let mut o = empty();
    for n in d.all_networks() {
        observe_network(&mut o, n);
    }
    for c in d.stacks.iter().flat_map(|s| &s.containers) {
        observe_container(&mut o, c, ContainerState::Running);
    }
    o
}

fn verbs(p: &HostPlan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| format!("{} {}", s.action.verb(), s.action.object()))
        .collect()
}

#[test]
fn converge_from_empty_creates_network_before_containers() {
    let d = desired(vec![ctr("demo", "web"), ctr("demo", "api")]);
    let p = plan_host(&d, &empty(), &PlanOptions::default());
    assert_eq!(
        verbs(&p),
        ["create web", "create demo-web-1", "create demo-api-1"]
    );
    // both containers wait for the network, not for each other
    assert_eq!(p.steps[1].after, vec![(0, Gate::Done)]);
    assert_eq!(p.steps[2].after, vec![(0, Gate::Done)]);
    assert_eq!(
        p.resources[&ResourceRef::new(Kind::Stack, "demo")].summary(),
        "created 2"
    );
}

#[test]
fn converged_host_is_a_noop() {
    let d = desired(vec![ctr("demo", "web"), ctr("demo", "api")]);
    let p = plan_host(&d, &converged(&d), &PlanOptions::default());
    assert!(p.is_noop(), "{:?}", verbs(&p));
    assert!(p.resources.values().all(ResourceCounts::is_noop));
}

#[test]
fn env_change_recreates_only_that_container_and_names_the_field() {
    let d = desired(vec![ctr("demo", "web"), ctr("demo", "api")]);
    let o = converged(&d);
    let mut d2 = d.clone();
    d2.stacks[0].containers[1]
        .env
        .insert("MODE".into(), "fast".into());
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(verbs(&p), ["recreate demo-api-1"]);
    let Action::ReplaceContainer { changes, old_id, .. } = &p.steps[0].action else {
        panic!("not a replace")
    };
    assert_eq!(old_id, "id-demo-api-1");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "env.MODE");
}

#[test]
fn image_id_change_recreates() {
    let d = desired(vec![ctr("demo", "web")]);
    let mut o = converged(&d);
    o.images.insert("busybox:1.36".into(), "sha256:new".into());
    let p = plan_host(&d, &o, &PlanOptions::default());
    assert_eq!(verbs(&p), ["recreate demo-web-1"]);
}

#[test]
fn removed_service_is_pruned_first() {
    let d = desired(vec![ctr("demo", "web"), ctr("demo", "api")]);
    let o = converged(&d);
    let mut d2 = desired(vec![ctr("demo", "web"), ctr("demo", "new")]);
    d2.stacks[0].containers[0].env.insert("X".into(), "1".into());
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(
        verbs(&p),
        ["recreate demo-web-1", "create demo-new-1", "prune demo-api-1"]
    );
    assert!(
        p.steps[0].after.contains(&(2, Gate::Done)),
        "prune runs before creates"
    );
}

#[test]
fn stopped_container_is_started_but_finished_job_is_left_alone() {
    let d = desired(vec![ctr("demo", "web")]);
    let mut o = empty();
    observe_network(&mut o, &net("web"));
    observe_container(&mut o, &d.stacks[0].containers[0], ContainerState::Created);
    assert_eq!(
        verbs(&plan_host(&d, &o, &PlanOptions::default())),
        ["start demo-web-1"]
    );
    o.containers[0].state = ContainerState::Exited;
    o.containers[0].exit_code = Some(0); // with restart: no, a finished job
    assert!(plan_host(&d, &o, &PlanOptions::default()).is_noop());
    o.containers[0].exit_code = Some(1);
    assert_eq!(
        verbs(&plan_host(&d, &o, &PlanOptions::default())),
        ["start demo-web-1"]
    );
    o.containers[0].exit_code = Some(0);
    assert!(plan_host(&d, &o, &PlanOptions::default()).is_noop());
}

#[test]
fn finished_job_with_restart_no_written_out_is_left_alone() {
    let mut c = ctr("demo", "web");
    c.restart = crate::desired::RestartPolicy::ExplicitNo;
    let d = desired(vec![c]);
    let mut o = empty();
    observe_network(&mut o, &net("web"));
    observe_container(&mut o, &d.stacks[0].containers[0], ContainerState::Exited);
    o.containers[0].exit_code = Some(0);
    assert!(plan_host(&d, &o, &PlanOptions::default()).is_noop());
}

#[test]
fn drifted_network_is_recreated_and_unchanged_containers_reconnected() {
    let d = desired(vec![ctr("demo", "web")]);
    let o = converged(&d);
    let mut d2 = d.clone();
    d2.networks[0].internal = true;
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(verbs(&p), ["recreate web"]);
    let Action::RecreateNetwork {
        reconnect, changes, ..
    } = &p.steps[0].action
    else {
        panic!("not a recreate")
    };
    assert_eq!(reconnect.len(), 1);
    assert_eq!(reconnect[0].container, "demo-web-1");
    assert_eq!(changes[0].field, "internal");
}

#[test]
fn depends_on_conditions_become_gates() {
    let mut worker = ctr("demo", "worker");
    worker.depends_on = vec![DependsOn {
        service: "web".into(),
        condition: DependsCondition::Healthy,
        required: true,
    }];
    let mut sidecar = ctr("demo", "sidecar");
    sidecar.network_mode = NetworkMode::Service("web".into());
    sidecar.networks.clear();
    let d = desired(vec![ctr("demo", "web"), worker, sidecar]);
    let p = plan_host(&d, &empty(), &PlanOptions::default());
    assert_eq!(
        verbs(&p),
        [
            "create web",
            "create demo-web-1",
            "create demo-worker-1",
            "create demo-sidecar-1"
        ]
    );
    assert_eq!(p.steps[2].after, vec![(0, Gate::Done), (1, Gate::Healthy)]);
    // the stack's dependsOn (Network/web) applies to the sidecar too
    assert_eq!(p.steps[3].after, vec![(0, Gate::Done), (1, Gate::Started)]);
}

#[test]
fn recreating_a_namespace_owner_recreates_its_sharers() {
    let mut sidecar = ctr("demo", "sidecar");
    sidecar.network_mode = NetworkMode::Service("web".into());
    sidecar.networks.clear();
    let d = desired(vec![ctr("demo", "web"), sidecar]);
    let o = converged(&d);
    let mut d2 = d.clone();
    d2.stacks[0].containers[0].env.insert("A".into(), "1".into());
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(verbs(&p), ["recreate demo-web-1", "recreate demo-sidecar-1"]);
}

#[test]
fn stack_depends_on_another_stack_waits_for_readiness() {
    let mut d = desired(vec![ctr("demo", "web")]);
    d.stacks.push(StackSpec {
        kind: Kind::Stack,
        name: "late".into(),
        depends_on: vec![ResourceRef::new(Kind::Stack, "demo")],
        containers: vec![ctr("late", "app")],
        networks: vec![],
        volumes: vec![],
        critical: false,
    });
    let p = plan_host(&d, &empty(), &PlanOptions::default());
    assert_eq!(
        verbs(&p),
        ["create web", "create demo-web-1", "create late-app-1"]
    );
    assert_eq!(p.steps[2].after, vec![(0, Gate::Done), (1, Gate::Ready)]);
}

#[test]
fn external_and_foreign_networks_are_errors_of_their_resource_only() {
    let mut d = desired(vec![ctr("demo", "web")]);
    d.networks[0].external = true;
    let errs = plan_host(&d, &empty(), &PlanOptions::default()).error_messages();
    assert!(
        errs[0].contains("Network/web: host `local`: external network `web` does not exist"),
        "{}",
        errs[0]
    );

    let d = desired(vec![ctr("demo", "web")]);
    let mut o = empty();
    o.networks.push(ObservedNetwork {
        id: "x".into(),
        name: "web".into(),
        labels: BTreeMap::new(),
    });
    let p = plan_host(&d, &o, &PlanOptions::default());
    let errs = p.error_messages();
    assert!(errs[0].contains("not managed by aegis"), "{}", errs[0]);
    // the network's problem does not stop the stack
    assert_eq!(verbs(&p), ["create demo-web-1"]);
}

#[test]
fn a_missing_image_stops_only_its_stack() {
    let mut d = desired(vec![ctr("demo", "web")]);
    let mut other = d.stacks[0].clone();
    other.name = "other".into();
    other.containers = vec![ctr("other", "app")];
    other.containers[0].image = "nope:1".into();
    d.stacks.push(other);
    let p = plan_host(&d, &empty(), &PlanOptions::default());
    assert_eq!(verbs(&p), ["create web", "create demo-web-1"]);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].0, ResourceRef::new(Kind::Stack, "other"));
}

#[test]
fn removed_network_is_pruned_after_containers() {
    let d = desired(vec![ctr("demo", "web")]);
    let o = converged(&d);
    let mut d2 = d.clone();
    d2.networks.clear();
    d2.stacks[0].containers.clear();
    let p = plan_host(&d2, &o, &PlanOptions::default());
    assert_eq!(verbs(&p), ["prune web", "prune demo-web-1"]);
    assert_eq!(p.steps[0].after, vec![(1, Gate::Done)]);
}

#[test]
fn volumes_are_kept_unless_pruning_is_asked_for() {
    let d = desired(vec![ctr("demo", "web")]);
    let mut o = converged(&d);
    o.volumes.push(crate::observed::ObservedVolume {
        name: "demo_data".into(),
        labels: BTreeMap::from([
            (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
            (labels::HOST.into(), "local".into()),
            (labels::INSTANCE.into(), "default".into()),
            (labels::RESOURCE.into(), "Stack/demo".into()),
        ]),
    });
    let p = plan_host(&d, &o, &PlanOptions::default());
    assert!(p.is_noop());
    assert!(p.warnings[0].contains("--prune-volumes"), "{:?}", p.warnings);
    let p = plan_host(
        &d,
        &o,
        &PlanOptions {
            prune_volumes: true,
            ..Default::default()
        },
    );
    assert_eq!(verbs(&p), ["prune demo_data"]);
}

#[test]
fn another_instances_objects_are_never_pruned_and_are_conflicts_when_wanted() {
    let d = desired(vec![ctr("demo", "web")]);
    let mut o = converged(&d);
    for c in &mut o.containers {
        c.labels.insert(labels::INSTANCE.into(), "other".into());
    }
    for n in &mut o.networks {
        n.labels.insert(labels::INSTANCE.into(), "other".into());
    }
    // Wanted names held by another instance: conflicts, named.
    let text = plan_host(&d, &o, &PlanOptions::default()).error_messages();
    assert!(
        text.iter()
            .any(|t| t.contains("container `demo-web-1` belongs to aegis instance `other`")),
        "{text:?}"
    );
    // Not wanted: left alone, not pruned.
    let empty_desired = DesiredHost {
        networks: vec![],
        stacks: vec![],
        ..d.clone()
    };
    let p = plan_host(&empty_desired, &o, &PlanOptions::default());
    assert!(p.is_noop(), "{:?}", verbs(&p));
}

#[test]
fn a_plan_restricted_to_one_resource_keeps_its_internal_order() {
    let mut worker = ctr("demo", "worker");
    worker.depends_on = vec![DependsOn {
        service: "web".into(),
        condition: DependsCondition::Healthy,
        required: true,
    }];
    let d = desired(vec![ctr("demo", "web"), worker]);
    let p = plan_host(&d, &empty(), &PlanOptions::default());
    let only = p.only(&ResourceRef::new(Kind::Stack, "demo"));
    assert_eq!(verbs(&only), ["create demo-web-1", "create demo-worker-1"]);
    // the edge to the network step (another resource) is gone; the one inside the stack stays
    assert_eq!(only.steps[0].after, vec![]);
    assert_eq!(only.steps[1].after, vec![(0, Gate::Healthy)]);
    assert_eq!(only.resources.len(), 1);
    assert_eq!(
        verbs(&p.only(&ResourceRef::new(Kind::Network, "web"))),
        ["create web"]
    );
}

#[test]
fn a_container_detached_from_its_network_is_recreated() {
    let d = desired(vec![ctr("demo", "web")]);
    let mut o = converged(&d);
    o.containers[0].networks.clear();
    let p = plan_host(&d, &o, &PlanOptions::default());
    assert_eq!(verbs(&p), ["recreate demo-web-1"]);
    let Action::ReplaceContainer { changes, .. } = &p.steps[0].action else {
        panic!("not a replace")
    };
    assert_eq!(changes[0].to_string(), "networks: detached from web -> attached");
}

/// Compose v2.40's `up` runs `pre_stop` when it scales a service down, but not for an orphan
/// (a service no longer in the file).
#[test]
fn a_scale_down_names_the_service_whose_pre_stop_runs_and_an_orphan_none() {
    let hooked = |mut c: ContainerSpec| {
        c.pre_stop.push(crate::desired::Hook {
            command: vec!["true".into()],
            ..Default::default()
        });
        c
    };
    let mut web2 = hooked(ctr("demo", "web"));
    web2.name = "demo-web-2".into();
    let d = desired(vec![hooked(ctr("demo", "web")), web2, hooked(ctr("demo", "api"))]);
    let mut o = converged(&d);
    for c in &mut o.containers {
        let service = if c.name.contains("-web-") { "web" } else { "api" };
        c.labels.insert(labels::COMPOSE_PROJECT.into(), "demo".into());
        c.labels.insert(labels::COMPOSE_SERVICE.into(), service.into());
    }
    let d2 = desired(vec![hooked(ctr("demo", "web"))]);
    let p = plan_host(&d2, &o, &PlanOptions::default());
    let removed: BTreeMap<String, Option<String>> = p
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::RemoveContainer {
                name, pre_stop_of, ..
            } => Some((name.clone(), pre_stop_of.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        BTreeMap::from([
            ("demo-web-2".to_string(), Some("demo-web-1".to_string())),
            ("demo-api-1".to_string(), None),
        ])
    );
}
