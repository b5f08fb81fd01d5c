//! Removing a critical resource from the source, through the real controller, across two
//! real engines: host `a` is the first engine, host `b` the second (`scripts/engine2.sh`),
//! reached only through a relay on `a` (socat, host network) and a forwarder on `b`.
//!
//! - A `critical: true` Stack on `a` that leaves the source is removed commit-confirmed
//!   (Confirming → Confirmed), with no watchdog left.
//! - The relay leaving the source (and b's `managementPath` with it) would cut the path to
//!   `b`: its removal is checked against every host that answered before it, fails for `b`,
//!   and is rolled back by the controller itself (it still reaches `a`); the relay runs
//!   again, `b` answers, the Stack is `Stalled`/`RolledBack`, and the removal is not retried.

#[path = "support/controller.rs"]
mod controller;
#[path = "mgmt_support/mod.rs"]
mod mgmt_support;
mod support;

use std::time::{Duration, Instant};

use aegis::status::{ConditionStatus, ConditionType};
use controller::ControllerProc;
use mgmt_support::{
    free_port, hosts_and_forwarder, inspect, names_of, reachable, socat_listen, text, two_engines, unique,
    watchdogs, Engine2, BUSYBOX, TO_SOCKET,
};

const LONG: Duration = Duration::from_secs(240);

struct Fleet {
    fwd: String,
    relay: String,
    gone: String,
    fwd_port: u16,
    relay_port: u16,
}

/// The source; `relay` and `gone` only when declared.
fn write(src: &support::Source, e2: &Engine2, f: &Fleet, b_endpoint: &str, relay: bool, gone: bool) {
    let path: &[&str] = if relay { &[&f.fwd, &f.relay] } else { &[&f.fwd] };
    let fwd_args = socat_listen(f.fwd_port, TO_SOCKET, &[]);
    let mut body = hosts_and_forwarder(e2, b_endpoint, path, &f.fwd, &fwd_args);
    if relay {
        let to_fwd = format!("TCP:127.0.0.1:{}", f.fwd_port);
        body.push_str(&mgmt_support::relay(
            &f.relay,
            &socat_listen(f.relay_port, &to_fwd, &[]),
        ));
    }
    if gone {
        body.push_str(&format!(
            r#"---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {gone}}}
spec:
  host: a
  critical: true
  confirmTimeout: 10s
  services:
    main: {{image: "{BUSYBOX}", command: ["sleep", "3600"], stop_grace_period: 1s}}
"#,
            gone = f.gone
        ));
    }
    src.write("aegis.yaml", &body);
}

#[test]
fn removing_critical_resources_is_commit_confirmed_and_a_breaking_removal_is_rolled_back() {
    let Some((e2, inst)) = two_engines() else { return };
    let e2s = Some(e2.sock_url.as_str());
    let mut src = support::Source::new();
    src.instance = inst.name.clone();
    let f = Fleet {
        fwd: unique("mfwd"),
        relay: unique("mrelay"),
        gone: unique("mgone"),
        fwd_port: free_port(),
        relay_port: free_port(),
    };
    write(&src, &e2, &f, &format!("unix://{}", e2.sock_path), true, true);
    let o = support::aegis(&src.args("apply"));
    assert!(o.status.success(), "bootstrap apply failed:\n{}", text(&o));
    let b_ep = format!("tcp://127.0.0.1:{}", f.relay_port);
    write(&src, &e2, &f, &b_ep, true, true);
    assert!(reachable(f.relay_port), "b through relay and forwarder");
    let ctl = ControllerProc::start(&src);
    for s in [&f.fwd, &f.relay, &f.gone] {
        ctl.wait_ready_status("stacks", s, None, LONG);
    }

    // A critical Stack leaves the source: its removal is confirmed.
    let gone_c = format!("{}-main-1", f.gone);
    let t = Instant::now();
    write(&src, &e2, &f, &b_ep, true, false);
    ctl.wait_for(LONG, "the critical container removed", || {
        (!names_of(None, &inst.name).contains(&gone_c)).then_some(())
    });
    eprintln!(
        "MEASURED controller, removal of a critical Stack on a: removed {:.1}s after the source change",
        t.elapsed().as_secs_f64()
    );
    // The container goes at the commit, just before the confirm is recorded.
    let events = ctl.wait_for(Duration::from_secs(30), "the removal's Confirmed event", || {
        let events = ctl.aegisctl_ok(&["events"]);
        let reasons: Vec<String> = events
            .lines()
            .filter(|l| l.contains(&f.gone))
            .filter_map(|l| {
                l.split_whitespace()
                    .find(|w| ["Confirming", "Confirmed", "RolledBack"].contains(w))
                    .map(String::from)
            })
            .collect();
        (reasons == ["Confirming", "Confirmed"]).then_some(events)
    });
    eprintln!("aegisctl events after the removal:\n{events}");
    ctl.wait_for(Duration::from_secs(30), "no watchdog left on a", || {
        watchdogs(None, &inst.name).is_empty().then_some(())
    });

    // The relay leaves the source and b's path: removing it would cut b.
    let relay_c = format!("{}-socat-1", f.relay);
    let relay_id = inspect(None, &relay_c, "{{.Id}}");
    let t = Instant::now();
    write(&src, &e2, &f, &b_ep, false, false);
    let relay = ctl.wait_for(LONG, "the relay's removal rolled back", || {
        ctl.status("stacks", &f.relay).filter(|s| {
            s.condition(ConditionType::Stalled)
                .is_some_and(|c| c.status == ConditionStatus::True && c.reason == "RolledBack")
        })
    });
    eprintln!(
        "MEASURED controller, breaking removal of the relay on a: RolledBack {:.1}s after the source change",
        t.elapsed().as_secs_f64()
    );
    assert!(
        relay.message().contains("rolled back by the controller"),
        "{}",
        relay.message()
    );
    assert_eq!(
        inspect(None, &relay_c, "{{.Id}} {{.State.Running}}"),
        format!("{relay_id} true"),
        "the relay runs again"
    );
    assert!(reachable(f.relay_port), "b answers through the relay again");
    ctl.wait_for(Duration::from_secs(30), "no watchdog left on a", || {
        watchdogs(None, &inst.name).is_empty().then_some(())
    });
    // Not retried.
    let attempts = relay
        .events
        .iter()
        .filter(|e| e.reason.to_string() == "Confirming")
        .count();
    let _ = ctl.aegisctl(&["reconcile", "stack", &f.relay, "--timeout", "30s"]);
    let again = ctl.status("stacks", &f.relay).expect("relay status");
    assert_eq!(
        again
            .events
            .iter()
            .filter(|e| e.reason.to_string() == "Confirming")
            .count(),
        attempts,
        "the rolled-back removal was retried"
    );
    assert_eq!(inspect(None, &relay_c, "{{.Id}}"), relay_id);
    assert!(watchdogs(e2s, &inst.name).is_empty(), "no watchdog on b");
}
