//! compose `post_start` / `pre_stop` end to end, with Compose v2's semantics (see
//! `controller/src/compose/hooks.rs`): `post_start` runs after aegis starts a container it
//! created or recreated; a changed hook recreates; a recreate runs no `pre_stop` (v2's `up`
//! does not either); `aegisctl restart` runs `pre_stop`, restarts, then runs `post_start`; a
//! failing hook fails the apply with an error that names where and what, and shows the hook's
//! last output lines but never its environment values.

#[path = "support/controller.rs"]
mod controller;
mod support;

use std::{process::Command, time::Duration};

use controller::ControllerProc;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

fn stack(name: &str, web: &str, greeting: &str, secret: &str) -> String {
    format!(
        r#"{MANIFEST_HEAD}
kind: Stack
metadata: {{name: {name}}}
spec:
  services:
    web:
      image: {IMAGE}
      container_name: {web}
      command: [sleep, "3600"]
      stop_signal: SIGKILL
      post_start:
        - command: ["sh", "-c", "echo {greeting} >> /tmp/started; echo -n \"$$TOKEN\" | wc -c > /tmp/token-len"]
          environment:
            TOKEN: {secret}
      pre_stop:
        - command: ["sh", "-c", "echo stopping >> /tmp/stopped"]
"#
    )
}

fn run_aegis(args: &[String]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(args)
        .output()
        .expect("runs");
    (o.status.success(), text(&o))
}

#[test]
fn post_start_runs_after_create_and_recreate_and_a_recreate_runs_no_pre_stop() {
    ensure_image();
    let src = Source::new();
    let name = unique("hooks");
    let web = format!("{name}-web");
    let secret = unique("tok-s3cr3t");
    src.write("stack.yaml", &stack(&name, &web, "one", &secret));

    // 1. Created and started, then the hook ran in it with its environment.
    let (ok, out) = run_aegis(&src.args("apply"));
    assert!(ok, "{out}");
    assert_eq!(docker(&["exec", &web, "cat", "/tmp/started"]), "one");
    assert_eq!(
        docker(&["exec", &web, "cat", "/tmp/token-len"]),
        secret.len().to_string()
    );
    let label = inspect(&web, "{{index .Config.Labels \"aegis.dev/spec\"}}");
    assert!(
        !out.contains(&secret) && !label.contains(&secret),
        "{out}\n{label}"
    );

    // 2. Nothing changed: no recreate, the hook does not run again.
    let id = container_id(&web);
    let (ok, out) = run_aegis(&src.args("apply"));
    assert!(ok, "{out}");
    assert_eq!(container_id(&web), id);
    assert_eq!(docker(&["exec", &web, "cat", "/tmp/started"]), "one");

    // 3. A changed hook is a changed config hash: recreated, the new hook ran in the new
    //    container, and (as with v2's `up`) no pre_stop ran in the old one before it went.
    src.write("stack.yaml", &stack(&name, &web, "two", &secret));
    let events_since = docker(&["system", "info", "--format", "{{.SystemTime}}"]);
    let (ok, out) = run_aegis(&src.args("apply"));
    assert!(ok, "{out}");
    assert!(out.contains("recreated 1"), "{out}");
    assert_ne!(container_id(&web), id);
    assert_eq!(docker(&["exec", &web, "cat", "/tmp/started"]), "two");
    let until = docker(&["system", "info", "--format", "{{.SystemTime}}"]);
    let execs_in = |container: &str| {
        docker(&[
            "events",
            "--since",
            &events_since,
            "--until",
            &until,
            "--filter",
            &format!("container={container}"),
            "--filter",
            "event=exec_start",
            "--format",
            "{{.Action}}",
        ])
    };
    let new_execs = execs_in(&container_id(&web));
    assert!(
        new_execs.contains("/tmp/started"),
        "the event check sees hooks: {new_execs}"
    );
    let old_execs = execs_in(&id);
    assert!(
        !old_execs.contains("/tmp/stopped"),
        "pre_stop ran on recreate: {old_execs}"
    );
}

#[test]
fn a_failing_post_start_fails_the_apply_with_its_output() {
    ensure_image();
    let src = Source::new();
    let name = unique("hooksfail");
    let web = format!("{name}-web");
    let secret = unique("envval-s3cr3t");
    src.write(
        "stack.yaml",
        &format!(
            r#"{MANIFEST_HEAD}
kind: Stack
metadata: {{name: {name}}}
spec:
  services:
    web:
      image: {IMAGE}
      container_name: {web}
      command: [sleep, "3600"]
      stop_signal: SIGKILL
      post_start:
        - command: ["sh", "-c", "echo progress; echo cannot reach the.example >&2; exit 3"]
          environment: {{SECRET: {secret}}}
"#
        ),
    );
    let (ok, out) = run_aegis(&src.args("apply"));
    assert!(!ok, "{out}");
    for want in [
        "post_start[0] hook `sh -c 'echo progress; echo cannot reach the.example >&2; exit 3'`",
        "of service `web`",
        &format!("stack `{name}`"),
        &format!("container `{web}`"),
        "on host `local`",
        "exited with status 3",
        "cannot reach the.example",
        "keeps running",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    // stderr is preferred over stdout, as in v2; env values never show.
    assert!(out.contains("last output:\ncannot reach"), "{out}");
    assert!(!out.contains(&secret), "{out}");
    // As with v2, the started container keeps running.
    assert_eq!(inspect(&web, "{{.State.Running}}"), "true");
}

#[test]
fn aegisctl_restart_runs_pre_stop_then_post_start() {
    ensure_image();
    let src = Source::new();
    let name = unique("hooksrs");
    let web = format!("{name}-web");
    src.write("stack.yaml", &stack(&name, &web, "up", "x"));
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &name, None, WAIT);
    ctl.wait_for(WAIT, "the first post_start", || {
        docker_ok(&["exec", &web, "test", "-f", "/tmp/started"]).then_some(())
    });
    assert_eq!(docker(&["exec", &web, "cat", "/tmp/started"]), "up");
    assert!(!docker_ok(&["exec", &web, "test", "-f", "/tmp/stopped"]));

    ctl.aegisctl_ok(&["restart", &format!("stack/{name}"), "web"]);
    // A restart keeps the container's filesystem: pre_stop's trace and post_start's second
    // line are both in it. (The controller may also see the container die mid-restart and
    // start it itself, which runs post_start too, as v2's `up` would: so at least twice.)
    assert_eq!(docker(&["exec", &web, "cat", "/tmp/stopped"]), "stopping");
    let started = docker(&["exec", &web, "cat", "/tmp/started"]);
    assert!(
        started.lines().count() >= 2 && started.lines().all(|l| l == "up"),
        "{started}"
    );
}

#[test]
fn a_scale_down_runs_pre_stop_in_the_container_that_goes() {
    ensure_image();
    let src = Source::new();
    let name = unique("hookssd");
    let manifest = |replicas: u32| {
        format!(
            r#"{MANIFEST_HEAD}
kind: Stack
metadata: {{name: {name}}}
spec:
  services:
    web:
      image: {IMAGE}
      command: [sleep, "3600"]
      stop_signal: SIGKILL
      deploy: {{replicas: {replicas}}}
      volumes: ["trace:/trace"]
      pre_stop:
        - command: ["sh", "-c", "hostname >> /trace/stopped"]
  volumes:
    trace: {{}}
"#
        )
    };
    src.write("stack.yaml", &manifest(2));
    let (ok, out) = run_aegis(&src.args("apply"));
    assert!(ok, "{out}");
    let (one, two) = (format!("{name}-web-1"), format!("{name}-web-2"));
    let two_host = inspect(&two, "{{.Config.Hostname}}");

    src.write("stack.yaml", &manifest(1));
    let (ok, out) = run_aegis(&src.args("apply"));
    assert!(ok, "{out}");
    assert!(!docker_ok(&["inspect", &two]), "web-2 is gone");
    assert_eq!(docker(&["exec", &one, "cat", "/trace/stopped"]), two_host);
}
