//! What makes the controller run a resource, end to end against the real engine and a real
//! `aegis controller`: a new revision that changes a failing resource runs it at once (its
//! error backoff does not hold the fix back), and `aegisctl reconcile` waits for the run it
//! asked for, not for one that was already in flight.

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    os::unix::net::UnixStream,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use aegis::status::ConditionStatus;
use controller::ControllerProc;
use support::*;

/// An inline Stack with one `sleep` service running `image`.
fn stack(name: &str, image: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  services:\n    web:\n      image: {image}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n"
    )
}

/// The revision `aegis validate` computes for the source (the one the controller reports).
fn revision_of(src: &Source) -> String {
    let o = validate(src.path());
    let t = text(&o);
    assert!(o.status.success(), "aegis validate failed:\n{t}");
    t.split("revision ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap_or_else(|| panic!("no revision in: {t}"))
        .to_string()
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

/// A Docker endpoint on loopback that the test switches: at first it accepts connections and
/// never answers (a blackholed host: a reconcile hangs in its connect), then, after
/// [`release`](Self::release), it drops those connections and forwards every new one to the
/// local engine's socket, so reconciles succeed.
struct SwitchedEngine {
    port: u16,
    forward: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl SwitchedEngine {
    fn start() -> Self {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the switched engine");
        let forward = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (fwd, hold) = (forward.clone(), held.clone());
        // Lives until the test process ends; the controller's connections end with it.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if fwd.load(Ordering::SeqCst) {
                    std::thread::spawn(move || splice(conn));
                } else {
                    hold.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
                }
            }
        });
        Self { port, forward, held }
    }

    fn host_manifest(&self, name: &str) -> String {
        format!(
            "{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: {name}}}\nspec:\n  endpoint: tcp://127.0.0.1:{}\n",
            self.port
        )
    }

    /// From now on the engine answers; connections held so far are closed (their requests fail).
    fn release(&self) {
        self.forward.store(true, Ordering::SeqCst);
        for c in self.held.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Copies bytes both ways between `tcp` and the local engine's socket until either side ends.
fn splice(tcp: TcpStream) {
    let Ok(unix) = UnixStream::connect("/var/run/docker.sock") else {
        return;
    };
    let (Ok(mut tcp_r), Ok(mut unix_w)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(Shutdown::Write);
    });
    let (mut unix_r, mut tcp_w) = (unix, tcp);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match unix_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tcp_w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = tcp_w.shutdown(Shutdown::Both);
    let _ = up.join();
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

/// Waits until the controller's log has a line with every one of `parts`.
fn wait_log(ctl: &ControllerProc, what: &str, parts: &[&str]) {
    ctl.wait_for(Duration::from_secs(60), what, || {
        ctl.log_text()
            .lines()
            .any(|l| parts.iter().all(|p| l.contains(p)))
            .then_some(())
    });
}

/// "`aegisctl reconcile` reports the run it asked for, not an older run already in flight."
/// The stack's first run hangs on a blackholed engine; `aegisctl reconcile` is asked while it
/// runs; then the engine is released: the run in flight fails (its connection is cut), and the
/// run that was asked for succeeds. The answer must be that second run.
#[test]
fn reconcile_answers_with_the_run_it_asked_for_not_the_one_in_flight() {
    ensure_image();
    let engine = SwitchedEngine::start();
    let src = Source::new();
    let name = unique("own");
    src.write("host.yaml", &engine.host_manifest("h"));
    src.write(
        "stack.yaml",
        &stack(&name, IMAGE).replace("spec:\n", "spec:\n  host: h\n"),
    );
    let ctl = ControllerProc::start(&src);
    let key = format!("key=Stack/{name} on h");
    wait_log(
        &ctl,
        "the stack's first run to start",
        &["reconcile started", &key],
    );

    let child = spawn_aegisctl(&ctl, &["reconcile", "stack", &name]);
    wait_log(
        &ctl,
        "the API to take the request",
        &["reconcile requested", &key],
    );
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
    let engine = SwitchedEngine::start();
    let src = Source::new();
    let name = unique("queued");
    src.write("host.yaml", &engine.host_manifest("h"));
    src.write(
        "stack.yaml",
        &stack(&name, IMAGE).replace("spec:\n", "spec:\n  host: h\n"),
    );
    let ctl = ControllerProc::start(&src);
    let key = format!("key=Stack/{name} on h");
    wait_log(
        &ctl,
        "the stack's first run to start",
        &["reconcile started", &key],
    );

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
