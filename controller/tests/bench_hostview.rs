//! The controller's Docker API calls and wall time, as figures (not assertions):
//!
//! - (a) a no-op pass over a converged host with 100 containers (20 stacks of 5 services):
//!   a new revision that changes nothing, so every key runs once and finds nothing to do;
//! - (b) a revision that changes 10 of those 20 stacks (50 containers replaced).
//!
//! Calls are counted by a proxy in front of the engine's socket (the Host's endpoint is the
//! proxy), so the count covers every call the controller makes, whatever its code: the same
//! bench measured the controller before and after the per-host view. The event watcher's
//! `/_ping` keep-alives (one per 5 s) and its one `/events` stream are printed apart.
//!
//! ```text
//! cargo test --test bench_hostview -- --ignored --nocapture
//! ```
//!
//! Everything it makes carries a unique instance label and name prefix (`hv…`), removed at the
//! end even when it fails.

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::Shutdown,
    os::unix::net::{UnixListener, UnixStream},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aegis::status::ConditionStatus;
use controller::ControllerProc;
use support::*;

const STACKS: usize = 20;
const SERVICES: usize = 5;
const CHANGED: usize = 10;
const CONVERGE: Duration = Duration::from_secs(600);

/// Requests seen by the proxy, by `METHOD /path` (API version and query stripped).
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<BTreeMap<String, u64>>>);

impl Calls {
    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn add(&self, what: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(what)
            .or_default() += 1;
    }
}

/// A counting proxy: a unix socket that forwards to `/var/run/docker.sock`.
struct Proxy {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    calls: Calls,
}

impl Proxy {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hv-bench-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let sock = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&sock).expect("bind the proxy socket");
        let calls = Calls::default();
        let c = calls.clone();
        // Lives until the test process ends.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let c = c.clone();
                std::thread::spawn(move || splice(conn, c));
            }
        });
        Self {
            _dir: dir,
            sock,
            calls,
        }
    }
}

/// Copies both ways between the controller's connection and the engine, counting request
/// lines (`GET /v1.47/containers/json?… HTTP/1.1`) in what the controller sends.
fn splice(client: UnixStream, calls: Calls) {
    let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
        return;
    };
    let (Ok(mut client_r), Ok(mut engine_w)) = (client.try_clone(), engine.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut line: Vec<u8> = Vec::new();
        loop {
            let n = match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b == b'\n' {
                    if let Some(what) = request_line(&line) {
                        calls.add(what);
                    }
                    line.clear();
                } else if line.len() < 4096 {
                    line.push(b);
                }
            }
            if engine_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = engine_w.shutdown(Shutdown::Write);
    });
    let (mut engine_r, mut client_w) = (engine, client);
    let _ = std::io::copy(&mut engine_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// `METHOD /path` of an HTTP request line, without the API version prefix and the query.
fn request_line(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let method = parts.next()?;
    if !["GET", "POST", "DELETE", "PUT", "HEAD"].contains(&method) {
        return None;
    }
    let target = parts.next()?;
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split('?').next()?;
    let path = match path.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    // Object names and IDs are not kinds of calls: `/containers/abc/start` → `/containers/*/start`.
    let mut segs: Vec<&str> = path.split('/').collect();
    if segs.len() > 3 || (segs.len() == 3 && !matches!(segs[2], "json" | "create" | "prune")) {
        segs[2] = "*";
    }
    Some(format!("{method} {}", segs.join("/")))
}

fn host_manifest(sock: &std::path::Path) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: bench}}\nspec:\n  endpoint: unix://{}\n",
        sock.display()
    )
}

fn stack_manifest(name: &str, v: &str) -> String {
    let services: String = (0..SERVICES)
        .map(|i| {
            format!(
                "    s{i}:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n      environment: {{V: \"{v}\"}}\n"
            )
        })
        .collect();
    format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  host: bench\n  services:\n{services}")
}

/// Waits until every stack is Ready at `rev`.
fn wait_all(ctl: &ControllerProc, names: &[String], rev: &str) {
    ctl.wait_for(CONVERGE, &format!("every stack Ready at {rev}"), || {
        let list = ctl.list("stacks");
        names
            .iter()
            .all(|n| {
                list.iter().any(|s| {
                    &s.name == n
                        && s.ready() == ConditionStatus::True
                        && s.observed_revision.as_deref() == Some(rev)
                })
            })
            .then_some(())
    });
}

/// Calls made between two snapshots, split into (work, pings, events streams), and printed.
fn report(label: &str, before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, took: Duration) {
    let mut work = 0;
    let mut pings = 0;
    let mut events = 0;
    let mut lines = Vec::new();
    for (k, n) in after {
        let d = n - before.get(k).copied().unwrap_or(0);
        if d == 0 {
            continue;
        }
        if k.ends_with("/_ping") {
            pings += d;
        } else if k.ends_with("/events") {
            events += d;
        } else {
            work += d;
            lines.push(format!("    {d:>5}  {k}"));
        }
    }
    println!(
        "{label}: {work} Docker API calls in {:.2} s (plus {pings} keep-alive pings, {events} events streams)",
        took.as_secs_f64()
    );
    for l in lines {
        println!("{l}");
    }
}

#[test]
#[ignore = "a benchmark: prints figures; run with --ignored --nocapture"]
fn bench_hostview() {
    ensure_image();
    let proxy = Proxy::start();
    let src = Source::new();
    let prefix = unique("hv");
    let names: Vec<String> = (0..STACKS).map(|i| format!("{prefix}-{i:02}")).collect();
    src.write("host.yaml", &host_manifest(&proxy.sock));
    for n in &names {
        src.write(&format!("{n}.yaml"), &stack_manifest(n, "1"));
    }
    let rev1 = revision_of(&src);
    let ctl = ControllerProc::start_with(&src, &["--resync", "1h"]);
    let t = Instant::now();
    wait_all(&ctl, &names, &rev1);
    println!(
        "setup: {} containers on one host converged in {:.2} s",
        STACKS * SERVICES,
        t.elapsed().as_secs_f64()
    );

    // (a) A revision that changes nothing: every key runs once, a no-op.
    src.write(
        "README.md",
        "a file that is no manifest: a new revision, the same desired state\n",
    );
    let rev2 = revision_of(&src);
    assert_ne!(rev1, rev2);
    let before = proxy.calls.snapshot();
    let t = Instant::now();
    wait_all(&ctl, &names, &rev2);
    let took = t.elapsed();
    report(
        &format!(
            "(a) no-op pass, {} containers in {STACKS} stacks",
            STACKS * SERVICES
        ),
        &before,
        &proxy.calls.snapshot(),
        took,
    );

    // (b) A revision that changes 10 of the 20 stacks.
    for n in names.iter().take(CHANGED) {
        src.write(&format!("{n}.yaml"), &stack_manifest(n, "2"));
    }
    let rev3 = revision_of(&src);
    let before = proxy.calls.snapshot();
    let t = Instant::now();
    wait_all(&ctl, &names, &rev3);
    let took = t.elapsed();
    report(
        &format!(
            "(b) {CHANGED} of {STACKS} stacks changed ({} containers replaced)",
            CHANGED * SERVICES
        ),
        &before,
        &proxy.calls.snapshot(),
        took,
    );
    let changed = names[0].clone();
    let s = ctl.status("stacks", &changed).expect("a changed stack");
    assert_eq!(s.ready(), ConditionStatus::True);
    drop(ctl);
}
