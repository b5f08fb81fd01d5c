//! `aegis controller` with management paths, across two real engines: host `a` is the first
//! engine (reached directly), host `b` the second (`scripts/engine2.sh`), reached **only**
//! through a relay on `a` (socat, host network) and then a forwarder on `b` (socat, host
//! network, → b's socket). Both are on b's `managementPath`, so both are critical: the
//! controller changes them after every other change of the revision, one at a time,
//! commit-confirmed; a forwarder that cuts the path is rolled back by b's watchdog, a relay
//! that cuts it by the controller itself; a rolled-back spec is not retried.

#[path = "support/controller.rs"]
mod controller;
#[path = "mgmt_support/mod.rs"]
mod mgmt_support;
mod support;

use std::time::{Duration, Instant};

use aegis::status::{ConditionStatus, ConditionType, EventReason, ResourceStatus};
use controller::ControllerProc;
use mgmt_support::{
    agent_image_only_on_a, app, free_port, hosts_and_forwarder, inspect, names_of, reachable, relay,
    socat_listen as listen, text, two_engines, unique, watchdogs, Engine2, Instance, TO_SOCKET,
};

const LONG: Duration = Duration::from_secs(180);

/// The tests of this file run one at a time: each removes b's agent image to show the copy,
/// which must not happen under another one's attempt.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The stacks of the fleet.
struct Names {
    fwd: String,
    relay: String,
    app_a: String,
    app_b: String,
}

impl Names {
    fn new() -> Self {
        Self {
            fwd: unique("fwd"),
            relay: unique("relay"),
            app_a: unique("appa"),
            app_b: unique("appb"),
        }
    }
}

/// One revision of the source.
struct Rev<'a> {
    /// b's endpoint.
    b_endpoint: &'a str,
    /// The forwarder's socat arguments.
    fwd: Vec<String>,
    /// The relay's socat arguments; `None`: no relay (b's path is the forwarder only).
    relay: Option<Vec<String>>,
    /// The apps' `sleep` argument.
    app: &'a str,
}

fn write(src: &support::Source, n: &Names, e2: &Engine2, r: &Rev) {
    let path: &[&str] = match r.relay {
        Some(_) => &[&n.fwd, &n.relay],
        None => &[&n.fwd],
    };
    let mut body = hosts_and_forwarder(e2, r.b_endpoint, path, &n.fwd, &r.fwd);
    body.push_str(&app(&n.app_a, "a", r.app));
    body.push_str(&app(&n.app_b, "b", r.app));
    if let Some(args) = &r.relay {
        body.push_str(&relay(&n.relay, args));
    }
    src.write("aegis.yaml", &body);
}

/// The controller's `/metrics` text (open without a token by default).
fn metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    c.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut out = String::new();
    c.read_to_string(&mut out).expect("read /metrics");
    out
}

fn count(s: &ResourceStatus, reason: EventReason) -> usize {
    s.events.iter().filter(|e| e.reason == reason).count()
}

fn stalled_reason(s: &ResourceStatus) -> Option<String> {
    s.condition(ConditionType::Stalled)
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| c.reason.clone())
}

/// Bootstraps the fleet with a one-shot `aegis apply` (b through its socket, as an operator
/// deploys the forwarder first), with b's agent image removed so that the controller must
/// copy it there.
fn bootstrap(src: &support::Source, n: &Names, e2: &Engine2, inst: &mut Instance, r: &Rev) {
    agent_image_only_on_a(e2, inst);
    let direct = format!("unix://{}", e2.sock_path);
    write(
        src,
        n,
        e2,
        &Rev {
            b_endpoint: &direct,
            fwd: r.fwd.clone(),
            relay: r.relay.clone(),
            app: r.app,
        },
    );
    let o = support::aegis(&src.args("apply"));
    assert!(o.status.success(), "bootstrap apply failed:\n{}", text(&o));
}

#[test]
fn controller_changes_critical_last_one_at_a_time_rolls_back_and_never_retries_a_rolled_back_spec() {
    let _serial = serial();
    let Some((e2, mut inst)) = two_engines() else {
        return;
    };
    let e2s = Some(e2.sock_url.as_str());
    let mut src = support::Source::new();
    src.instance = inst.name.clone();
    let n = Names::new();
    let (fwd_port, relay_port) = (free_port(), free_port());
    let to_fwd = format!("TCP:127.0.0.1:{fwd_port}");
    let b_ep = format!("tcp://127.0.0.1:{relay_port}");
    let rev = |fwd: Vec<String>, relay: Vec<String>, app: &'static str| Rev {
        b_endpoint: "",
        fwd,
        relay: Some(relay),
        app,
    };
    let r0 = rev(
        listen(fwd_port, TO_SOCKET, &[]),
        listen(relay_port, &to_fwd, &[]),
        "3600",
    );
    bootstrap(&src, &n, &e2, &mut inst, &r0);
    let fwd_c = format!("{}-socat-1", n.fwd);
    let relay_c = format!("{}-socat-1", n.relay);
    assert!(reachable(relay_port), "b through relay and forwarder");

    // R1: the apps on both hosts and both critical stacks change. The controller applies the
    // apps, then the forwarder and the relay, one at a time, each confirmed.
    let r1 = Rev {
        b_endpoint: &b_ep,
        ..rev(
            listen(fwd_port, TO_SOCKET, &["-d"]),
            listen(relay_port, &to_fwd, &["-d"]),
            "3601",
        )
    };
    write(&src, &n, &e2, &r1);
    let (old_fwd, old_relay) = (
        inspect(e2s, &fwd_c, "{{.Id}}"),
        inspect(None, &relay_c, "{{.Id}}"),
    );
    let ctl = ControllerProc::start(&src);
    let confirmed = |name: &str| {
        let name = name.to_string();
        ctl.wait_for(LONG, &format!("{name} confirmed"), || {
            ctl.status("stacks", &name)
                .filter(|s| count(s, EventReason::Confirmed) >= 1 && s.ready() == ConditionStatus::True)
        })
    };
    confirmed(&n.fwd);
    confirmed(&n.relay);
    assert_ne!(
        inspect(e2s, &fwd_c, "{{.Id}}"),
        old_fwd,
        "the forwarder was replaced"
    );
    assert_ne!(
        inspect(None, &relay_c, "{{.Id}}"),
        old_relay,
        "the relay was replaced"
    );
    assert!(
        inspect(e2s, &fwd_c, "{{json .Config.Cmd}}").contains("\"-d\""),
        "the new forwarder runs"
    );
    // No watchdog and no parked container left, on either host.
    ctl.wait_for(Duration::from_secs(30), "the watchdogs removed", || {
        (watchdogs(e2s, &inst.name).is_empty() && watchdogs(None, &inst.name).is_empty()).then_some(())
    });
    let mut want_b = vec![fwd_c.clone(), format!("{}-main-1", n.app_b)];
    want_b.sort();
    assert_eq!(names_of(e2s, &inst.name), want_b);
    let mut want_a = vec![relay_c.clone(), format!("{}-main-1", n.app_a)];
    want_a.sort();
    assert_eq!(names_of(None, &inst.name), want_a);
    // The agent image reached b (copied: b cannot pull it).
    assert!(
        !inspect(e2s, &inst.tags[0], "{{.Id}}").is_empty(),
        "the agent image is on b"
    );

    // Ordering, from the recorded events: every app change before the first critical one;
    // each critical attempt ends before the next begins.
    let events = ctl.aegisctl_ok(&["events"]);
    eprintln!("aegisctl events after R1:\n{events}");
    let rows: Vec<&str> = events.lines().skip(1).collect();
    let pos = |pred: &dyn Fn(&str) -> bool| rows.iter().position(|l| pred(l));
    let first_critical = pos(&|l| l.contains("Confirming")).expect("a Confirming event");
    for app in [&n.app_a, &n.app_b] {
        let last_app = rows
            .iter()
            .rposition(|l| l.contains(app.as_str()) && l.contains("Recreated"))
            .unwrap_or_else(|| panic!("{app} was recreated:\n{events}"));
        assert!(
            last_app < first_critical,
            "{app} must change before the critical ones:\n{events}"
        );
    }
    let critical: Vec<&str> = rows
        .iter()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| *w == "Confirming" || *w == "Confirmed")
        })
        .collect();
    assert_eq!(
        critical,
        ["Confirming", "Confirmed", "Confirming", "Confirmed"],
        "one critical change at a time:\n{events}"
    );

    // R2: the forwarder listens on the wrong port and cuts the path. b's watchdog restores
    // the old one at the deadline; the controller reconnects and stalls the Stack.
    let confirmed_fwd = inspect(e2s, &fwd_c, "{{.Id}}");
    let wrong = free_port();
    let r2 = Rev {
        b_endpoint: &b_ep,
        ..rev(
            listen(wrong, TO_SOCKET, &[]),
            listen(relay_port, &to_fwd, &["-d"]),
            "3601",
        )
    };
    let t = Instant::now();
    write(&src, &n, &e2, &r2);
    ctl.wait_for(LONG, "the path cut by the breaking forwarder", || {
        (!reachable(relay_port)).then_some(())
    });
    let cut = t.elapsed();
    ctl.wait_for(LONG, "the path restored", || reachable(relay_port).then_some(()));
    let restored = t.elapsed();
    let fwd = ctl.wait_for(LONG, "forwarder Stalled/RolledBack", || {
        ctl.status("stacks", &n.fwd)
            .filter(|s| stalled_reason(s).as_deref() == Some("RolledBack"))
    });
    eprintln!(
        "MEASURED controller, breaking forwarder (confirmTimeout 10s): path cut {:.1}s after the \
         source change, restored {:.1}s after it: {:.1}s without a path; status RolledBack after {:.1}s",
        cut.as_secs_f64(),
        restored.as_secs_f64(),
        (restored - cut).as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        inspect(e2s, &fwd_c, "{{.Id}} {{.State.Running}}"),
        format!("{confirmed_fwd} true"),
        "the confirmed forwarder runs again"
    );
    assert_eq!(fwd.rolled_back.len(), 1, "{:?}", fwd.rolled_back);
    let failed_hash = fwd.rolled_back[0].spec_hash.clone();
    let get = ctl.aegisctl_ok(&["get", "stacks"]);
    assert!(
        get.lines()
            .any(|l| l.contains(&n.fwd) && l.contains("RolledBack")),
        "{get}"
    );
    let describe = ctl.aegisctl_ok(&["describe", "stack", &n.fwd]);
    assert!(describe.contains("RolledBack"), "{describe}");
    assert!(describe.contains("rolled back by the watchdog"), "{describe}");
    // A rollback is a failed apply in the metrics too.
    let m = metrics(ctl.port);
    assert!(
        m.lines()
            .any(|l| l.starts_with("aegis_rollbacks_total{host=\"b\"} 1")),
        "{}",
        m.lines()
            .filter(|l| l.contains("rollbacks"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // b answers the controller again.
    ctl.wait_for(LONG, "host b Ready again", || {
        ctl.status("stacks", &n.app_b)
            .filter(|s| s.ready() == ConditionStatus::True)
    });
    // Not retried: an operator's reconcile (which skips the backoff) leaves it alone.
    let attempts = count(&fwd, EventReason::Confirming);
    let _ = ctl.aegisctl(&["reconcile", "stack", &n.fwd, "--timeout", "60s"]);
    let _ = ctl.aegisctl(&["reconcile", "stack", &n.fwd, "--timeout", "60s"]);
    let fwd = ctl.status("stacks", &n.fwd).expect("fwd status");
    assert_eq!(
        count(&fwd, EventReason::Confirming),
        attempts,
        "the failed spec was retried"
    );
    assert_eq!(stalled_reason(&fwd).as_deref(), Some("RolledBack"));
    assert_eq!(fwd.rolled_back[0].spec_hash, failed_hash);
    assert!(watchdogs(e2s, &inst.name).is_empty(), "no new attempt");
    assert_eq!(inspect(e2s, &fwd_c, "{{.Id}}"), confirmed_fwd);

    // R3: a good forwarder applies (the stall clears); a relay on a that cuts b's path is
    // rolled back by the controller itself, which still reaches a, without the deadline.
    let r3 = Rev {
        b_endpoint: &b_ep,
        ..rev(
            listen(fwd_port, TO_SOCKET, &["-d", "-d"]),
            listen(relay_port, &format!("TCP:127.0.0.1:{}", free_port()), &["-d"]),
            "3601",
        )
    };
    let confirmed_relay = inspect(None, &relay_c, "{{.Id}}");
    let t = Instant::now();
    write(&src, &n, &e2, &r3);
    let relay = ctl.wait_for(LONG, "relay Stalled/RolledBack", || {
        ctl.status("stacks", &n.relay)
            .filter(|s| stalled_reason(s).as_deref() == Some("RolledBack"))
    });
    let took = t.elapsed();
    let msg = relay.message().to_string();
    assert!(msg.contains("rolled back by the controller"), "{msg}");
    eprintln!(
        "MEASURED controller, breaking relay on a: RolledBack {:.1}s after the source change",
        took.as_secs_f64()
    );
    assert_eq!(
        inspect(None, &relay_c, "{{.Id}} {{.State.Running}}"),
        format!("{confirmed_relay} true")
    );
    ctl.wait_for(LONG, "the good forwarder confirmed", || {
        ctl.status("stacks", &n.fwd).filter(|s| {
            s.ready() == ConditionStatus::True && stalled_reason(s).is_none() && s.rolled_back.is_empty()
        })
    });
    assert!(
        inspect(e2s, &fwd_c, "{{json .Config.Cmd}}").contains("\"-d\",\"-d\""),
        "the new good forwarder runs"
    );
    assert!(reachable(relay_port));
    ctl.wait_for(Duration::from_secs(30), "the watchdogs removed", || {
        (watchdogs(e2s, &inst.name).is_empty() && watchdogs(None, &inst.name).is_empty()).then_some(())
    });
}

#[test]
fn a_controller_killed_mid_attempt_ends_it_after_restart_never_with_both_containers_gone() {
    let _serial = serial();
    let Some((e2, mut inst)) = two_engines() else {
        return;
    };
    let e2s = Some(e2.sock_url.as_str());
    let mut src = support::Source::new();
    src.instance = inst.name.clone();
    let n = Names::new();
    let port = free_port();
    let r0 = Rev {
        b_endpoint: "",
        fwd: listen(port, TO_SOCKET, &[]),
        relay: None,
        app: "3600",
    };
    bootstrap(&src, &n, &e2, &mut inst, &r0);
    let b_ep = format!("tcp://127.0.0.1:{port}");
    let fwd_c = format!("{}-socat-1", n.fwd);
    let mut ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &n.fwd, None, LONG);
    // A benign change; the controller is killed as soon as its watchdog is on b.
    write(
        &src,
        &n,
        &e2,
        &Rev {
            b_endpoint: &b_ep,
            fwd: listen(port, TO_SOCKET, &["-d"]),
            relay: None,
            app: "3600",
        },
    );
    let watchdog = ctl.wait_for(LONG, "a watchdog on b", || watchdogs(e2s, &inst.name).pop());
    ctl.sigkill();
    eprintln!("controller SIGKILLed while {watchdog} guards the change");
    ctl.restart();
    let fwd = ctl.wait_for(LONG, "the attempt ended", || {
        ctl.status("stacks", &n.fwd).filter(|s| {
            watchdogs(e2s, &inst.name).is_empty()
                && (s.ready() == ConditionStatus::True || stalled_reason(s).as_deref() == Some("RolledBack"))
        })
    });
    eprintln!(
        "after restart: {} ({:?})",
        fwd.status_word(),
        fwd.events.iter().map(|e| e.message.as_str()).collect::<Vec<_>>()
    );
    // Exactly one forwarder, running; nothing parked; b reachable.
    let names = names_of(e2s, &inst.name);
    assert!(
        names.iter().all(|c| !c.contains("_aegis_")),
        "a parked or temporary container is left: {names:?}"
    );
    assert_eq!(inspect(e2s, &fwd_c, "{{.State.Running}}"), "true", "{names:?}");
    assert!(reachable(port));
}
