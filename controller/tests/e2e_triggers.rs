//! What makes the controller run a resource, end to end against the real engine and a real
//! `aegis controller`: a new revision that changes a failing resource runs it at once (its
//! error backoff does not hold the fix back), and `aegisctl reconcile` waits for the run it
//! asked for, not for one that was already in flight.

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aegis::status::ConditionStatus;
use controller::ControllerProc;
use support::{loopback_engine::LoopbackEngine, *};

/// An inline Stack with one `sleep` service running `image`.
fn stack(name: &str, image: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  services:\n    web:\n      image: {image}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n"
    )
}

/// "A fix commit is never held back by an earlier failure's backoff." The first revision
/// names an image that cannot be pulled (a registry on a closed loopback port: the pull
/// fails at once), so the stack fails and backs off for ten minutes. The fix commit must
/// converge long before that backoff ends.
#[test]
fn a_fix_commit_runs_at_once_despite_the_backoff_of_the_failure_before_it() {
    ensure_image();
    let src = Source::new();
    let name = unique("fix");
    src.write("stack.yaml", &stack(&name, "127.0.0.1:9/aegis-no-such-image:1"));
    let ctl = ControllerProc::start_with(&src, &["--backoff-min", "10m", "--backoff-max", "10m"]);
    ctl.wait_for(Duration::from_secs(60), "the broken stack to fail", || {
        ctl.status("stacks", &name)
            .filter(|s| s.last_error.is_some() && s.ready() == ConditionStatus::False)
    });

    src.write("stack.yaml", &stack(&name, IMAGE));
    let fixed = revision_of(&src);
    let t = Instant::now();
    // Far below the ten-minute backoff; only a hang-catching bound.
    ctl.wait_ready_status("stacks", &name, Some(&fixed), Duration::from_secs(60));
    println!(
        "fix-commit after a failure: Ready in {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

/// `aegisctl ARGS` against `ctl`, started in the background with its output captured.
fn spawn_aegisctl(ctl: &ControllerProc, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aegisctl"))
        .arg("--server")
        .arg(ctl.server())
        .arg("--token-file")
        .arg(&ctl.token_file)
        .args(args)
        .env("AEGIS_CONFIG", ctl.scratch.path().join("no-such-config.yaml"))
        .env_remove("AEGIS_TOKEN")
        .env_remove("AEGIS_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn aegisctl")
}

/// Waits (bounded) for `child` to exit; its exit code and output.
fn finish(ctl: &ControllerProc, mut child: Child, timeout: Duration) -> (Option<i32>, String) {
    let st = ctl.wait_for(timeout, "aegisctl to answer", || child.try_wait().ok().flatten());
    let o = child.wait_with_output().expect("aegisctl output");
    (st.code(), text(&o))
}

/// "`aegisctl reconcile` reports the run it asked for, not an older run already in flight."
/// The stack's first run hangs on a blackholed engine; `aegisctl reconcile` is asked while it
/// runs; then the engine is released: the run in flight fails (its connection is cut), and the
/// run that was asked for succeeds. The answer must be that second run.
#[test]
fn reconcile_answers_with_the_run_it_asked_for_not_the_one_in_flight() {
    ensure_image();
    let engine = LoopbackEngine::start_on(free_port(), true);
    let src = Source::new();
    let name = unique("own");
    src.write("host.yaml", &engine.host_manifest("h"));
    src.write(
        "stack.yaml",
        &stack(&name, IMAGE).replace("spec:\n", "spec:\n  host: h\n"),
    );
    let ctl = ControllerProc::start(&src);
    let key = format!("key=Stack/{name} on h");
    ctl.wait_log("the stack's first run to start", &["reconcile started", &key]);

    let child = spawn_aegisctl(&ctl, &["reconcile", "stack", &name]);
    ctl.wait_log("the API to take the request", &["reconcile requested", &key]);
    engine.release();
    let (code, out) = finish(&ctl, child, Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "aegisctl reconcile reported a run that failed (the one in flight?):\n{out}\n{}",
        ctl.log_tail(60)
    );
    assert!(out.contains("reconciled on h"), "{out}");
    ctl.wait_ready_status("stacks", &name, None, Duration::from_secs(30));
}

/// "A request still queued at the deadline answers 504 with 'still queued', not 500." The
/// stack's run hangs on a blackholed engine; a reconcile asked for with `--timeout 2s` is queued
/// behind it, and says so when its time is up (exit 5, HTTP 504).
#[test]
fn a_reconcile_still_queued_at_its_deadline_says_so() {
    let engine = LoopbackEngine::start_on(free_port(), true);
    let src = Source::new();
    let name = unique("queued");
    src.write("host.yaml", &engine.host_manifest("h"));
    src.write(
        "stack.yaml",
        &stack(&name, IMAGE).replace("spec:\n", "spec:\n  host: h\n"),
    );
    let ctl = ControllerProc::start(&src);
    let key = format!("key=Stack/{name} on h");
    ctl.wait_log("the stack's first run to start", &["reconcile started", &key]);

    let t = Instant::now();
    let o = ctl.aegisctl(&["reconcile", "stack", &name, "--timeout", "2s"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(
        out.contains(&format!("error: Stack/{name} on h is still queued")) && out.contains("(HTTP 504)"),
        "{out}"
    );
    // Only a hang-catching bound: the answer comes at the deadline, not after the 120 s the
    // blackholed connect would take.
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    engine.release();
}
