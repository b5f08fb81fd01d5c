//! The controller against the real engine, where keys of one host share it: a revision that
//! recreates a network and changes the stacks on it converges without a single transient
//! failure (no key's step, planned before the network was recreated, runs into it).

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::time::Duration;

use aegis::status::{ConditionStatus, ResourceStatus};
use controller::{runs_started, ControllerProc};
use support::*;

const CONVERGE: Duration = Duration::from_secs(120);

/// A Network on the local engine, in this helper's subnet range, labelled `v`.
fn network(name: &str, v: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {name}}}\nspec:\n  driver: bridge\n  ipam: {{subnet: 10.201.7.0/24}}\n  labels: {{v: \"{v}\"}}\n"
    )
}

/// A Stack of three `sleep` services on network `net` (a `Network` resource it depends on).
fn stack(name: &str, net: &str, v: &str) -> String {
    let svc = |s: &str| {
        format!(
            "    {s}:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n      environment: {{V: \"{v}\"}}\n      networks: [net]\n"
        )
    };
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  dependsOn: [Network/{net}]\n  networks:\n    net: {{external: true, name: {net}}}\n  services:\n{}{}{}",
        svc("a"),
        svc("b"),
        svc("c")
    )
}

/// Every failure a status has recorded: `Failed` events, and a failed `Ready`.
fn failures(s: &ResourceStatus) -> Vec<String> {
    let mut out: Vec<String> = s
        .events
        .iter()
        .filter(|e| e.reason.to_string() == "Failed")
        .map(|e| format!("{}/{}: event {}", s.kind, s.name, e.message))
        .collect();
    if let Some(err) = &s.last_error {
        out.push(format!("{}/{}: last error {err}", s.kind, s.name));
    }
    out
}

/// "Users see no transient `Failed` condition when a revision changes a network and the
/// stacks on it." The network's spec changes (it is recreated) and so do both stacks on it, in
/// one revision. Every status is watched while the revision converges, and afterwards their
/// event histories and the controller's log are read: no failure anywhere.
#[test]
fn a_revision_that_recreates_a_network_and_its_stacks_never_fails_a_step() {
    ensure_image();
    let src = Source::new();
    let net = unique("hvnet");
    let stacks = [unique("hva"), unique("hvb")];
    src.write("net.yaml", &network(&net, "1"));
    for s in &stacks {
        src.write(&format!("{s}.yaml"), &stack(s, &net, "1"));
    }
    // The network, like the containers, carries the instance label: `Source` removes it.
    let ctl = ControllerProc::start(&src);
    for s in &stacks {
        ctl.wait_ready_status("stacks", s, None, CONVERGE);
    }
    let before = inspect_net_id(&net);

    for round in 2..=4 {
        let v = round.to_string();
        src.write("net.yaml", &network(&net, &v));
        for s in &stacks {
            src.write(&format!("{s}.yaml"), &stack(s, &net, &v));
        }
        let rev = revision_of(&src);
        let mut seen = Vec::new();
        ctl.wait_for(CONVERGE, &format!("round {round} to converge at {rev}"), || {
            let all: Vec<ResourceStatus> = ctl
                .list("stacks")
                .into_iter()
                .chain(ctl.list("networks"))
                .filter(|s| s.name == net || stacks.contains(&s.name))
                .collect();
            for s in &all {
                for f in failures(s) {
                    if !seen.contains(&f) {
                        seen.push(f);
                    }
                }
            }
            let done = all.len() == 3
                && all.iter().all(|s| {
                    s.ready() == ConditionStatus::True && s.observed_revision.as_deref() == Some(rev.as_str())
                });
            done.then_some(())
        });
        assert!(
            seen.is_empty(),
            "round {round}: transient failures while the revision converged:\n{}\n{}",
            seen.join("\n"),
            ctl.log_tail(80)
        );
        for s in &stacks {
            for svc in ["a", "b", "c"] {
                let c = format!("{s}-{svc}-1");
                assert!(
                    inspect(&c, "{{range .Config.Env}}{{println .}}{{end}}")
                        .lines()
                        .any(|l| l == format!("V={v}")),
                    "{c} runs the new spec"
                );
                let nets = inspect(&c, "{{range $k, $_ := .NetworkSettings.Networks}}{{$k}} {{end}}");
                assert_eq!(nets.trim(), net, "{c} is on the recreated network only");
            }
        }
    }
    assert_ne!(inspect_net_id(&net), before, "the network was recreated");
    let log = ctl.log_text();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("reconcile failed")).collect();
    assert!(
        failed.is_empty(),
        "the log has failed reconciles:\n{}",
        failed.join("\n")
    );
}

fn inspect_net_id(name: &str) -> String {
    docker(&["network", "inspect", "-f", "{{.Id}}", name])
}

// ---------------------------------------------------------------------------------------
// Fixes found in review (issue 7, part 3)

use std::{
    net::{Shutdown, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::Instant,
};

use support::loopback_engine::{tcp_host_manifest, LoopbackEngine};

fn local_host(name: &str) -> String {
    format!("{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: {name}}}\nspec:\n  endpoint: unix:///var/run/docker.sock\n")
}

/// One `sleep` service, on `host`, with image `image` and environment `V=v`.
fn small_stack(name: &str, host: &str, image: &str, v: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  host: {host}\n  services:\n    web:\n      image: {image}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n      environment: {{V: \"{v}\"}}\n"
    )
}

fn accepted(ctl: &ControllerProc, rev: &str) {
    ctl.wait_log(
        "the revision to be accepted",
        &["accepted revision", &format!("revision={rev}")],
    );
}

/// "A host that was down when the controller started relists as soon as it connects, and its
/// keys run at once." The host's endpoint refuses connections at start, so the stack fails and
/// backs off for ten minutes; then the endpoint comes up. The stack must converge long before
/// its backoff ends.
#[test]
fn a_host_down_at_start_converges_as_soon_as_it_is_up() {
    ensure_image();
    let port = free_port();
    let src = Source::new();
    let name = unique("hvdown");
    src.write("host.yaml", &tcp_host_manifest("h", port));
    src.write("stack.yaml", &small_stack(&name, "h", IMAGE, "1"));
    let ctl = ControllerProc::start_with(&src, &["--backoff-min", "10m", "--backoff-max", "10m"]);
    ctl.wait_for(
        Duration::from_secs(60),
        "the stack to fail on the down host",
        || ctl.status("stacks", &name).filter(|s| s.last_error.is_some()),
    );
    let _relay = LoopbackEngine::start_on(port, false);
    let t = Instant::now();
    // Far below the ten-minute backoff: only a hang-catching bound.
    ctl.wait_ready_status("stacks", &name, None, Duration::from_secs(90));
    println!(
        "host up after start: stack Ready in {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

/// "A host removed from the source and later added back gets drift repair again." The host
/// leaves the source (its watcher ends when its stream breaks), comes back, and a container
/// removed by hand is then recreated by drift repair, not by the five-minute resync.
#[test]
fn a_host_removed_and_added_back_gets_drift_repair_again() {
    ensure_image();
    let relay = LoopbackEngine::start_on(free_port(), false);
    let src = Source::new();
    let (name, keep) = (unique("hvback"), unique("hvkeep"));
    src.write("local.yaml", &local_host("local"));
    src.write("keep.yaml", &small_stack(&keep, "local", IMAGE, "1"));
    src.write("host.yaml", &relay.host_manifest("h"));
    src.write("stack.yaml", &small_stack(&name, "h", IMAGE, "1"));
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &name, None, CONVERGE);

    src.remove("host.yaml");
    src.remove("stack.yaml");
    accepted(&ctl, &revision_of(&src));
    relay.cut();
    // Two more revisions accepted: time for a watcher that saw its stream break to end.
    src.write("note.txt", "1\n");
    accepted(&ctl, &revision_of(&src));
    src.write("note.txt", "2\n");
    accepted(&ctl, &revision_of(&src));

    src.write("host.yaml", &relay.host_manifest("h"));
    src.write("stack.yaml", &small_stack(&name, "h", IMAGE, "1"));
    let rev = revision_of(&src);
    ctl.wait_ready_status("stacks", &name, Some(&rev), CONVERGE);
    let c = format!("{name}-web-1");
    let old = container_id(&c);
    docker(&["rm", "-f", &c]);
    let t = Instant::now();
    ctl.wait_for(
        Duration::from_secs(60),
        "drift repair of the removed container",
        || {
            docker_ok(&["inspect", &c])
                .then(|| container_id(&c))
                .filter(|id| id != &old)
        },
    );
    println!(
        "drift repair after the host came back: {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

/// "A recreate's own die/destroy/rename events do not queue an extra pass." A revision
/// replaces the stack's container; afterwards a manual reconcile marks the end of the log:
/// the key ran for the revision and for the manual request, and never for a Docker event.
#[test]
fn a_replace_does_not_requeue_its_key_for_its_own_events() {
    ensure_image();
    let src = Source::new();
    let name = unique("hvdeb");
    src.write("local.yaml", &local_host("local"));
    src.write("stack.yaml", &small_stack(&name, "local", IMAGE, "1"));
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &name, None, CONVERGE);
    let key = format!("key=Stack/{name} on local");
    let before = runs_started(&ctl.log_text(), &key).len();

    src.write("stack.yaml", &small_stack(&name, "local", IMAGE, "2"));
    let rev = revision_of(&src);
    ctl.wait_ready_status("stacks", &name, Some(&rev), CONVERGE);
    let out = ctl.aegisctl_ok(&["reconcile", "stack", &name]);
    assert!(out.contains("reconciled"), "{out}");
    let runs = runs_started(&ctl.log_text(), &key);
    let after: Vec<&str> = runs[before..].iter().map(|(_, r)| r.as_str()).collect();
    assert!(
        !after.contains(&"docker-event"),
        "the replace's own events queued a pass: {after:?}\n{}",
        ctl.log_tail(60)
    );
    assert_eq!(after.last(), Some(&"manual"), "{after:?}");
}

/// "Image pulls do not hold one of the host's reconcile slots for minutes." With one slot per
/// host, a stack whose image comes from a registry that never answers is pulling while
/// another stack of the host is changed: that change converges meanwhile.
#[test]
fn a_hanging_pull_does_not_hold_the_hosts_slot() {
    ensure_image();
    let registry = TcpListener::bind(("127.0.0.1", free_port())).expect("bind the silent registry");
    let port = registry.local_addr().expect("addr").port();
    // Accept and never answer: the engine's pull hangs.
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let h = held.clone();
    std::thread::spawn(move || {
        for c in registry.incoming().flatten() {
            h.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        }
    });
    let src = Source::new();
    let (slow, fast) = (unique("hvpull"), unique("hvfast"));
    src.write("local.yaml", &local_host("local"));
    src.write(
        "slow.yaml",
        &small_stack(&slow, "local", &format!("127.0.0.1:{port}/aegis-hang:1"), "1"),
    );
    src.write("fast.yaml", &small_stack(&fast, "local", IMAGE, "1"));
    let ctl = ControllerProc::start_with(&src, &["--per-host", "1"]);
    ctl.wait_for(Duration::from_secs(60), "the slow stack to be pulling", || {
        (!held.lock().unwrap_or_else(|e| e.into_inner()).is_empty()).then_some(())
    });
    ctl.wait_ready_status("stacks", &fast, None, Duration::from_secs(60));
    src.write("fast.yaml", &small_stack(&fast, "local", IMAGE, "2"));
    let rev = revision_of(&src);
    let t = Instant::now();
    ctl.wait_ready_status("stacks", &fast, Some(&rev), Duration::from_secs(60));
    println!(
        "a change beside a hanging pull: Ready in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    // The pull is still going: the change did not wait for it to give up (the engine's own
    // registry timeouts end it eventually, and then the slow stack fails).
    let s = ctl.status("stacks", &slow).expect("the slow stack");
    assert_ne!(s.ready(), ConditionStatus::True);
    assert!(
        s.last_error.is_none(),
        "the pull ended before the other stack's change converged: it held the host's slot\n{}",
        ctl.log_tail(40)
    );
    let reconciling = s
        .condition(aegis::status::ConditionType::Reconciling)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(reconciling.contains("pulling image"), "{reconciling}");
    drop(ctl);
    for c in held.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = c.shutdown(Shutdown::Both);
    }
}

/// "Listing orphans for every host does not run inside the source poller." One host is
/// blackholed (accepts connections, never answers: a connect waits up to 120 s); a change to
/// a stack on the other host must still be accepted and converge promptly.
#[test]
fn a_blackholed_host_does_not_stall_the_source() {
    ensure_image();
    let relay = LoopbackEngine::start_on(free_port(), true);
    let src = Source::new();
    let (name, held) = (unique("hvsrc"), unique("hvheld"));
    src.write("local.yaml", &local_host("local"));
    src.write("stack.yaml", &small_stack(&name, "local", IMAGE, "1"));
    src.write("host.yaml", &relay.host_manifest("h"));
    src.write("held.yaml", &small_stack(&held, "h", IMAGE, "1"));
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &name, None, CONVERGE);
    for v in ["2", "3"] {
        src.write("stack.yaml", &small_stack(&name, "local", IMAGE, v));
        let rev = revision_of(&src);
        let t = Instant::now();
        // Far below the 120 s a blackholed connect takes: only a hang-catching bound.
        ctl.wait_ready_status("stacks", &name, Some(&rev), Duration::from_secs(60));
        println!(
            "a change beside a blackholed host: Ready in {:.2} s",
            t.elapsed().as_secs_f64()
        );
    }
    relay.release();
}

/// "Health waits do not hold one of the host's reconcile slots for minutes." With one slot per
/// host, a stack's `web` waits for its `db` to turn healthy (after about 40 s); meanwhile a
/// change to another stack of the host converges, while `web` is still not created.
#[test]
fn a_health_wait_does_not_hold_the_hosts_slot() {
    ensure_image();
    let src = Source::new();
    let (slow, fast) = (unique("hvhealth"), unique("hvquick"));
    let slow_stack = format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {slow}}}\nspec:\n  host: local\n  services:\n    db:\n      image: {IMAGE}\n      command: [sh, -c, \"sleep 40; touch /tmp/ready; exec sleep 3600\"]\n      stop_grace_period: 1s\n      healthcheck:\n        test: [CMD-SHELL, \"test -f /tmp/ready\"]\n        interval: 1s\n        timeout: 2s\n        retries: 120\n    web:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n      depends_on:\n        db: {{condition: service_healthy}}\n"
    );
    src.write("local.yaml", &local_host("local"));
    src.write("fast.yaml", &small_stack(&fast, "local", IMAGE, "1"));
    let ctl = ControllerProc::start_with(&src, &["--per-host", "1"]);
    ctl.wait_ready_status("stacks", &fast, None, CONVERGE);
    src.write("slow.yaml", &slow_stack);
    let db = format!("{slow}-db-1");
    ctl.wait_for(CONVERGE, "the db container to run", || {
        docker_ok(&["inspect", &db]).then_some(())
    });
    src.write("fast.yaml", &small_stack(&fast, "local", IMAGE, "2"));
    let rev = revision_of(&src);
    let t = Instant::now();
    ctl.wait_ready_status("stacks", &fast, Some(&rev), Duration::from_secs(60));
    println!(
        "a change beside a health wait: Ready in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let web = format!("{slow}-web-1");
    assert!(
        !docker_ok(&["inspect", &web]),
        "web exists: the change waited for db's health wait to end\n{}",
        ctl.log_tail(40)
    );
    // And the wait ends: web is created once db is healthy.
    ctl.wait_ready_status("stacks", &slow, None, CONVERGE);
}
