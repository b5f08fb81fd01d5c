//! `aegis apply` with a management path, end to end across two real engines: host `b` (the
//! second engine) is reached only through a forwarder Stack on `b` itself (socat, host
//! network, 127.0.0.1:PORT → b's socket), which is on b's `managementPath`. The pass applies
//! every other change first, then the forwarder, commit-confirmed; a forwarder that listens
//! on the wrong port is rolled back by the watchdog on `b`, and the pass fails.

#[path = "mgmt_support/mod.rs"]
mod mgmt_support;

use std::{path::Path, process::Command, time::Instant};

use mgmt_support::*;

fn aegis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(args)
        .output()
        .expect("run aegis")
}

fn aegisctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aegisctl"))
        .args(args)
        .output()
        .expect("run aegisctl")
}

struct Names {
    fwd: String,
    app_a: String,
    app_b: String,
}

/// The source: hosts a and b, the forwarder on b (critical: on b's path), an app on each.
fn write_source(dir: &Path, n: &Names, e2: &Engine2, b_endpoint: &str, fwd_args: &[String], app_cmd: &str) {
    let mut body = hosts_and_forwarder(e2, b_endpoint, &[&n.fwd], &n.fwd, fwd_args);
    body.push_str(&app(&n.app_a, "a", app_cmd));
    body.push_str(&app(&n.app_b, "b", app_cmd));
    std::fs::write(dir.join("aegis.yaml"), body).expect("write source");
}

fn listen(port: u16, extra: &[&str]) -> Vec<String> {
    socat_listen(port, TO_SOCKET, extra)
}

/// `docker inspect -f {{.Created}}`, as an instant (both engines share this machine's clock).
fn created(sock: Option<&str>, name: &str) -> std::time::SystemTime {
    let t = inspect(sock, name, "{{.Created}}");
    humantime::parse_rfc3339_weak(&t).unwrap_or_else(|e| panic!("created of {name}: {t:?}: {e}"))
}

#[test]
fn critical_forwarder_applied_last_confirmed_then_a_breaking_one_rolled_back() {
    let Some((e2, mut inst)) = two_engines() else {
        return;
    };
    let e2s = Some(e2.sock_url.as_str());
    let dir = tempfile::tempdir().unwrap();
    let n = Names {
        fwd: unique("fwd"),
        app_a: unique("appa"),
        app_b: unique("appb"),
    };
    // The agent image of this aegis: b must start without it (it is copied from a).
    let (tag, agent_id) = agent_image_only_on_a(&e2, &mut inst);
    let port = free_port();
    let run = |args: &[&str]| {
        let mut full = vec![args[0], "--source"];
        let d = dir.path().to_str().unwrap();
        full.push(d);
        full.extend(["--instance", &inst.name]);
        full.extend(&args[1..]);
        aegis(&full)
    };

    // 1. Bootstrap: b through its socket, as an operator would first deploy the forwarder.
    write_source(
        dir.path(),
        &n,
        &e2,
        &format!("unix://{}", e2.sock_path),
        &listen(port, &[]),
        "3600",
    );
    let o = run(&["apply"]);
    assert!(o.status.success(), "bootstrap apply failed:\n{}", text(&o));
    let fwd_c = format!("{}-socat-1", n.fwd);
    assert_eq!(inspect(e2s, &fwd_c, "{{.State.Running}}"), "true");
    assert_eq!(
        inspect(e2s, &fwd_c, r#"{{index .Config.Labels "aegis.dev/critical"}}"#),
        "true"
    );

    // 2. From now on b is reached only through the forwarder. One revision changes the apps
    //    on both hosts and the forwarder: the forwarder goes last, commit-confirmed.
    let b_ep = format!("tcp://127.0.0.1:{port}");
    write_source(dir.path(), &n, &e2, &b_ep, &listen(port, &["-d"]), "3601");
    let v = aegis(&["validate", "--source", dir.path().to_str().unwrap()]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(
        text(&v).contains("plain TCP without TLS; accepted because it is on loopback"),
        "{}",
        text(&v)
    );
    let d = aegisctl(&[
        "diff",
        "--source",
        dir.path().to_str().unwrap(),
        "--instance",
        &inst.name,
    ]);
    let diff = String::from_utf8_lossy(&d.stdout).to_string();
    assert_eq!(d.status.code(), Some(1), "{}", text(&d));
    let lines: Vec<&str> = diff.lines().filter(|l| l.starts_with(['~', '+', '-'])).collect();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains(&fwd_c) && l.contains("[critical 1:")),
        "{diff}"
    );
    assert!(
        lines.iter().filter(|l| l.contains("critical")).count() == 1,
        "{diff}"
    );
    eprintln!("aegisctl diff:\n{diff}");

    let old_fwd = inspect(e2s, &fwd_c, "{{.Id}}");
    let o = run(&["apply"]);
    let out = text(&o);
    assert!(o.status.success(), "apply failed:\n{out}");
    assert!(
        out.contains(&format!("critical: Stack/{} recreate {fwd_c}: confirmed", n.fwd)),
        "{out}"
    );
    assert_ne!(
        inspect(e2s, &fwd_c, "{{.Id}}"),
        old_fwd,
        "the forwarder was replaced"
    );
    assert_eq!(
        inspect(e2s, &tag, "{{.Id}}"),
        agent_id,
        "the agent image was put on b"
    );
    // Ordering: the forwarder's new container was created after both apps' new containers.
    let fwd_t = created(e2s, &fwd_c);
    for (sock, c) in [
        (None, format!("{}-main-1", n.app_a)),
        (e2s, format!("{}-main-1", n.app_b)),
    ] {
        assert!(
            created(sock, &c) < fwd_t,
            "{c} must be changed before the forwarder"
        );
    }
    // Nothing left: no watchdog, no parked or temporary container.
    let left = names_of(e2s, &inst.name);
    assert_eq!(left, {
        let mut v = vec![fwd_c.clone(), format!("{}-main-1", n.app_b)];
        v.sort();
        v
    });

    // 3. A forwarder on the wrong port cuts the path: b's watchdog rolls it back.
    let confirmed_fwd = inspect(e2s, &fwd_c, "{{.Id}}");
    write_source(dir.path(), &n, &e2, &b_ep, &listen(free_port(), &[]), "3601");
    let t = Instant::now();
    let o = run(&["apply"]);
    let took = t.elapsed();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "a rollback fails the pass:\n{out}");
    assert!(
        out.contains("rolled back by the watchdog at its deadline"),
        "{out}"
    );
    eprintln!("MEASURED aegis apply with a breaking forwarder: {took:?} (confirm timeout 10s)\n{out}");
    assert_eq!(
        inspect(e2s, &fwd_c, "{{.Id}} {{.State.Running}}"),
        format!("{confirmed_fwd} true")
    );
    // And b is reachable again through the forwarder: the next pass plans it (and would
    // retry the same broken spec: the one-shot apply keeps no memory; the controller will).
    let d = aegisctl(&[
        "diff",
        "--source",
        dir.path().to_str().unwrap(),
        "--instance",
        &inst.name,
    ]);
    assert_eq!(d.status.code(), Some(1), "{}", text(&d));
}
