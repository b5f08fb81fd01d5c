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
    let fwd_cmd: Vec<String> = fwd_args.iter().map(|a| format!("\"{a}\"")).collect();
    let body = format!(
        r#"apiVersion: aegis.dev/v1alpha1
kind: Host
metadata: {{name: a}}
spec: {{endpoint: "unix:///var/run/docker.sock"}}
---
apiVersion: aegis.dev/v1alpha1
kind: Host
metadata: {{name: b}}
spec:
  endpoint: "{b_endpoint}"
  agentSocket: {sock}
  managementPath: [Stack/{fwd}]
---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {fwd}}}
spec:
  host: b
  confirmTimeout: 10s
  services:
    socat:
      image: {SOCAT}
      network_mode: host
      volumes: ["{sock}:/var/run/docker.sock"]
      command: [{cmd}]
---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {app_a}}}
spec:
  host: a
  services:
    main: {{image: "{BUSYBOX}", command: ["sleep", "{app_cmd}"], stop_grace_period: 1s}}
---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {app_b}}}
spec:
  host: b
  services:
    main: {{image: "{BUSYBOX}", command: ["sleep", "{app_cmd}"], stop_grace_period: 1s}}
"#,
        sock = e2.sock_path,
        fwd = n.fwd,
        app_a = n.app_a,
        app_b = n.app_b,
        cmd = fwd_cmd.join(", "),
    );
    std::fs::write(dir.join("aegis.yaml"), body).expect("write source");
}

fn listen(port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    v.push(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"));
    v.push("UNIX-CONNECT:/var/run/docker.sock".into());
    v
}

/// `docker inspect -f {{.Created}}`, as an instant (both engines share this machine's clock).
fn created(sock: Option<&str>, name: &str) -> std::time::SystemTime {
    let t = inspect(sock, name, "{{.Created}}");
    humantime::parse_rfc3339_weak(&t).unwrap_or_else(|e| panic!("created of {name}: {t:?}: {e}"))
}

#[test]
fn critical_forwarder_applied_last_confirmed_then_a_breaking_one_rolled_back() {
    let Some(e2) = engine2() else { return };
    ensure_socat(Some(&e2));
    let e2s = Some(e2.sock_url.as_str());
    let mut inst = Instance::new(Some(&e2));
    let dir = tempfile::tempdir().unwrap();
    let n = Names {
        fwd: unique("fwd"),
        app_a: unique("appa"),
        app_b: unique("appb"),
    };
    // The agent image of this aegis: b must start without it (it is copied from a).
    let printed = String::from_utf8_lossy(&aegis(&["agent", "image"]).stdout).to_string();
    let mut words = printed.split_whitespace();
    let (tag, agent_id) = (
        words
            .next()
            .expect("aegis agent image prints the tag")
            .to_string(),
        words.next().expect("and the ID").to_string(),
    );
    let _ = docker_at(e2s, &["rmi", &tag]);
    // Removed again at the end (both engines), whatever happens. The alias
    // `aegis-agent:<version>` aegis also sets is left: it is shared by every user of the
    // default DnsGuard image.
    inst.tags.push(tag.clone());
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
