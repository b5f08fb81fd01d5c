//! `aegisctl logs`, `events` and `restart` against a real controller and engine: logs are
//! split back into stdout and stderr, `logs -f` sees a line written after it started, a
//! restart restarts the container and is an event that `events` and `events -w` show, and a
//! critical Stack's restart goes through commit-confirmed (`e2e_mgmt_restart` shows it across
//! two engines, and its rollback).

#[path = "support/controller.rs"]
mod controller;
mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use controller::ControllerProc;
use support::{docker, ensure_image, inspect, text, unique, Source, IMAGE};

const WAIT: Duration = Duration::from_secs(60);

/// `web` prints a line to each stream, then one more line each time /tmp/go appears. (The
/// pause keeps `out-2` the last line: the engine orders the two pipes' lines by arrival.)
fn stack(name: &str, web: &str, side: &str, critical: bool) -> String {
    format!(
        r#"apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {name}}}
spec:
  critical: {critical}
  services:
    web:
      image: {IMAGE}
      container_name: {web}
      init: true
      command: ["sh", "-c", "echo out-1; echo err-1 >&2; sleep 0.3; echo out-2; while true; do if [ -f /tmp/go ]; then rm /tmp/go; echo fresh-line; fi; sleep 0.1; done"]
    side:
      image: {IMAGE}
      container_name: {side}
      init: true
      command: ["sh", "-c", "echo side-1; sleep 3600"]
"#
    )
}

/// Runs `aegisctl ARGS` in the background; its stdout lines arrive on the receiver.
fn spawn_lines(ctl: &ControllerProc, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aegisctl"))
        .arg("--server")
        .arg(ctl.server())
        .arg("--token-file")
        .arg(&ctl.token_file)
        .args(args)
        .env("AEGIS_CONFIG", ctl.scratch.path().join("no-such-config.yaml"))
        .env_remove("AEGIS_TOKEN")
        .env_remove("AEGIS_SERVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn aegisctl");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_line(rx: &mpsc::Receiver<String>, want: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(want);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with `{want}` within {WAIT:?}; got {seen:#?}");
}

#[test]
fn logs_events_and_restart_through_the_controller() {
    ensure_image();
    let src = Source::new();
    let name = unique("ops");
    let (web, side) = (format!("{name}-web"), format!("{name}-side"));
    src.write("stack.yaml", &stack(&name, &web, &side, false));
    let crit = unique("opscrit");
    src.write(
        "crit.yaml",
        &stack(&crit, &format!("{crit}-web"), &format!("{crit}-side"), true),
    );
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &name, None, WAIT);
    ctl.wait_ready_status("stacks", &crit, None, WAIT);
    let target = format!("stack/{name}");

    // One service: its stdout on stdout, its stderr on stderr, unprefixed.
    let o = ctl.wait_for(WAIT, "web's first lines", || {
        let o = ctl.aegisctl(&["logs", &target, "web"]);
        String::from_utf8_lossy(&o.stdout).contains("out-2").then_some(o)
    });
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out-1\nout-2\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err-1\n");
    // --tail; the whole stack, prefixed by service.
    let out = ctl.aegisctl_ok(&["logs", &target, "web", "--tail", "1"]);
    assert_eq!(out, "out-2\n");
    let all = ctl.wait_for(WAIT, "both services' lines", || {
        let out = ctl.aegisctl_ok(&["logs", &target, "--since", "1h"]);
        out.contains("side-1").then_some(out)
    });
    assert!(
        all.contains("web | out-1") && all.contains("side | side-1"),
        "{all}"
    );
    // An unknown service is a 404 that names the services (exit 5: the controller refused).
    let o = ctl.aegisctl(&["logs", &target, "nope"]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(
        text(&o).contains("has no service `nope` (services: web, side)"),
        "{}",
        text(&o)
    );

    // -f sees a line written after it started.
    let (mut follow, lines) = spawn_lines(&ctl, &["logs", &target, "web", "-f"]);
    wait_line(&lines, "out-2");
    docker(&["exec", &web, "touch", "/tmp/go"]);
    wait_line(&lines, "fresh-line");
    let _ = follow.kill();
    let _ = follow.wait();

    // restart: recorded as an event, seen by events -w as it happens.
    let (mut watch, events_rx) = spawn_lines(&ctl, &["events", "-w", "--for", &target]);
    wait_line(&events_rx, "LAST SEEN");
    let started = inspect(&web, "{{.State.StartedAt}}");
    let out = ctl.aegisctl_ok(&["restart", &target, "web"]);
    assert!(
        out.contains(&format!("Stack/{name} on local: restarted {web}")),
        "{out}"
    );
    assert_ne!(
        inspect(&web, "{{.State.StartedAt}}"),
        started,
        "web was restarted"
    );
    let seen = wait_line(&events_rx, "Restarted");
    let row = seen.last().expect("a row");
    assert!(
        row.contains(&format!("Stack/{name}")) && row.contains(&format!("restarted container {web}")),
        "{row}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    let table = ctl.aegisctl_ok(&["events"]);
    assert!(table.starts_with("LAST SEEN"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("Normal") && l.contains("Restarted") && l.contains(&format!("Stack/{name}"))),
        "{table}"
    );

    // A critical Stack's restart is commit-confirmed: Confirming, then Restarted and Confirmed.
    let crit_web = format!("{crit}-web");
    let started = inspect(&crit_web, "{{.State.StartedAt}}");
    let o = ctl.aegisctl(&["restart", &format!("stack/{crit}"), "web"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_ne!(inspect(&crit_web, "{{.State.StartedAt}}"), started);
    let crit_status = ctl.status("stacks", &crit).expect("crit status");
    let reasons = controller::event_reasons(&crit_status);
    let confirming = reasons.iter().position(|r| r == "Confirming");
    let confirmed = reasons.iter().rposition(|r| r == "Confirmed");
    assert!(
        matches!((confirming, confirmed), (Some(a), Some(b)) if a < b),
        "{reasons:?}"
    );
}
