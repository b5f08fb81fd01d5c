//! `aegisctl restart` of critical resources through the real controller, across two real
//! engines: host `a` is the first engine (reached directly), host `b` the second
//! (`scripts/engine2.sh`), reached **only** through a forwarder on `b` (socat, host network →
//! b's socket) that is on b's `managementPath`.
//!
//! - Restarting the forwarder cuts the controller's only path to b for a moment: it is a
//!   commit-confirmed attempt (b's watchdog restarts it, the controller checks b over a fresh
//!   connection and confirms), recorded as Confirming → Restarted → Confirmed, exit 0, and no
//!   watchdog is left.
//! - A critical container on `a` that does not come back from its restart (it exits at once)
//!   is "rolled back": started again, which is all a rollback of a restart can do. The
//!   restart exits non-zero and records a warning `RolledBack`; the spec is not refused.

#[path = "support/controller.rs"]
mod controller;
#[path = "mgmt_support/mod.rs"]
mod mgmt_support;
mod support;

use std::time::{Duration, Instant};

use aegis::status::{ConditionStatus, EventReason, EventType};
use controller::ControllerProc;
use mgmt_support::{
    free_port, hosts_and_forwarder, inspect, reachable, socat_listen, text, two_engines, unique, watchdogs,
    Engine2, BUSYBOX, TO_SOCKET,
};

const LONG: Duration = Duration::from_secs(180);

/// The fleet's source; `b_endpoint` is how the controller reaches b.
fn write(src: &support::Source, e2: &Engine2, fwd: &str, once: &str, port: u16, b_endpoint: &str) {
    let mut body = hosts_and_forwarder(e2, b_endpoint, &[fwd], fwd, &socat_listen(port, TO_SOCKET, &[]));
    body.push_str(&format!(
        r#"---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {once}}}
spec:
  host: a
  critical: true
  confirmTimeout: 10s
  services:
    main:
      image: {BUSYBOX}
      stop_grace_period: 1s
      # Runs; restarted, it exits at once (and forgets that it did); started again, it runs.
      command: ["sh", "-c", "if [ -f /tmp/once ]; then rm /tmp/once; exit 1; fi; touch /tmp/once; exec sleep 3600"]
      healthcheck: {{test: ["CMD", "true"], interval: 1s, timeout: 1s, retries: 1}}
"#
    ));
    src.write("aegis.yaml", &body);
}

/// The reasons of `events` from index `from` on.
fn reasons_from(s: &aegis::status::ResourceStatus, from: usize) -> Vec<String> {
    s.events.iter().skip(from).map(|e| e.reason.to_string()).collect()
}

#[test]
fn restart_of_critical_resources_is_commit_confirmed_through_the_controller() {
    let Some((e2, inst)) = two_engines() else { return };
    let e2s = Some(e2.sock_url.as_str());
    let mut src = support::Source::new();
    src.instance = inst.name.clone();
    let (fwd, once) = (unique("rfwd"), unique("ronce"));
    let port = free_port();
    // Bootstrap with a one-shot apply, b through its socket (as an operator deploys the
    // forwarder first); then the controller reaches b only through the forwarder.
    write(&src, &e2, &fwd, &once, port, &format!("unix://{}", e2.sock_path));
    let o = support::aegis(&src.args("apply"));
    assert!(o.status.success(), "bootstrap apply failed:\n{}", text(&o));
    write(&src, &e2, &fwd, &once, port, &format!("tcp://127.0.0.1:{port}"));
    assert!(reachable(port), "b through the forwarder");
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &fwd, None, LONG);
    ctl.wait_ready_status("stacks", &once, None, LONG);

    // The forwarder: restarted by b's watchdog, confirmed over a fresh connection.
    let fwd_c = format!("{fwd}-socat-1");
    let (id, started) = (
        inspect(e2s, &fwd_c, "{{.Id}}"),
        inspect(e2s, &fwd_c, "{{.State.StartedAt}}"),
    );
    let before = ctl.status("stacks", &fwd).map_or(0, |s| s.events.len());
    let t = Instant::now();
    let o = ctl.aegisctl(&["restart", &format!("stack/{fwd}")]);
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Stack/{fwd} on b: restarted {fwd_c}")),
        "{}",
        text(&o)
    );
    eprintln!(
        "MEASURED controller, commit-confirmed restart of b's forwarder (confirmTimeout 10s): \
         `aegisctl restart` returned confirmed after {:.1}s",
        took.as_secs_f64()
    );
    assert_eq!(
        inspect(e2s, &fwd_c, "{{.Id}}"),
        id,
        "restarted in place, not replaced"
    );
    assert_ne!(
        inspect(e2s, &fwd_c, "{{.State.StartedAt}}"),
        started,
        "the forwarder was restarted"
    );
    assert_eq!(inspect(e2s, &fwd_c, "{{.State.Running}}"), "true");
    let s = ctl.status("stacks", &fwd).expect("fwd status");
    assert_eq!(
        reasons_from(&s, before),
        ["Confirming", "Restarted", "Confirmed"],
        "{:?}",
        s.events
    );
    assert!(watchdogs(e2s, &inst.name).is_empty(), "no watchdog is left on b");
    assert!(reachable(port));
    let events = ctl.aegisctl_ok(&["events", "--for", &format!("stack/{fwd}")]);
    assert!(
        events.contains("Confirming") && events.contains("Confirmed"),
        "{events}"
    );

    // Again, with the agent image already computed and on b: the restart's own cost.
    let started = inspect(e2s, &fwd_c, "{{.State.StartedAt}}");
    let t = Instant::now();
    let o = ctl.aegisctl(&["restart", &format!("stack/{fwd}")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    eprintln!(
        "MEASURED controller, second commit-confirmed restart of b's forwarder: confirmed after {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert_ne!(inspect(e2s, &fwd_c, "{{.State.StartedAt}}"), started);
    assert!(watchdogs(e2s, &inst.name).is_empty(), "no watchdog is left on b");

    // The container on a that does not come back: started again, the restart fails.
    let once_c = format!("{once}-main-1");
    let once_id = inspect(None, &once_c, "{{.Id}}");
    let before = ctl.status("stacks", &once).map_or(0, |s| s.events.len());
    let t = Instant::now();
    let o = ctl.aegisctl(&["restart", &format!("stack/{once}")]);
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(
        text(&o).contains("not confirmed") && text(&o).contains("rolled back by the controller"),
        "{}",
        text(&o)
    );
    eprintln!(
        "MEASURED controller, restart of a critical container that exits: rolled back (started \
         again) after {:.1}s",
        took.as_secs_f64()
    );
    assert_eq!(
        inspect(None, &once_c, "{{.Id}} {{.State.Running}}"),
        format!("{once_id} true"),
        "the container runs again"
    );
    let s = ctl.status("stacks", &once).expect("once status");
    assert_eq!(
        reasons_from(&s, before),
        ["Confirming", "RolledBack"],
        "{:?}",
        s.events
    );
    assert_eq!(s.events.back().map(|e| e.type_), Some(EventType::Warning));
    assert!(
        s.rolled_back.is_empty(),
        "a restart refuses no spec: {:?}",
        s.rolled_back
    );
    assert!(watchdogs(None, &inst.name).is_empty(), "no watchdog is left on a");
    ctl.wait_for(LONG, "the restarted Stack Ready", || {
        ctl.status("stacks", &once)
            .filter(|s| s.ready() == ConditionStatus::True)
    });
    // Nothing else of the fleet was touched.
    assert!(
        ctl.status("stacks", &fwd)
            .is_some_and(|s| !s.events.iter().any(|e| e.reason == EventReason::RolledBack)),
        "the forwarder was not rolled back"
    );
}
