//! End to end: `depends_on: service_healthy` really waits for the healthcheck, and a no-op pass
//! costs O(1) Docker API calls whatever the number of containers.

mod support;

use support::*;

#[test]
fn service_healthy_dependency_waits_for_the_healthcheck() {
    ensure_image();
    let stack = unique("e2eord");
    let mut cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    cleanup.volumes.push(format!("{stack}_shared"));
    let src = Source::new();
    // `db` becomes healthy 3 s after it starts, by creating /shared/ready; `app` records at
    // start whether that file already exists.
    src.write(
        "stack.yaml",
        &format!(
            r#"{MANIFEST_HEAD}
kind: Stack
metadata: {{name: {stack}}}
spec:
  volumes:
    shared: {{}}
  services:
    db:
      image: busybox:1.36
      command: ["sh", "-c", "sleep 3; touch /shared/ready; sleep 3600"]
      volumes: ["shared:/shared"]
      healthcheck:
        test: ["CMD", "test", "-f", "/shared/ready"]
        interval: 1s
        timeout: 1s
        retries: 30
    app:
      image: busybox:1.36
      command: ["sh", "-c", "if test -f /shared/ready; then echo READY-AT-START; else echo NOT-READY; fi; sleep 3600"]
      volumes: ["shared:/shared"]
      depends_on:
        db: {{condition: service_healthy}}
"#
        ),
    );
    let started = std::time::Instant::now();
    let out = apply(&src);
    assert!(
        started.elapsed().as_secs_f64() >= 3.0,
        "apply returned before db could be healthy: {out}"
    );
    // The container may not have printed yet when apply returns (it only has to be started).
    let mut logs = String::new();
    for _ in 0..100 {
        logs = docker(&["logs", &format!("{stack}-app-1")]);
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(logs, "READY-AT-START", "app started before db was healthy");
    assert_eq!(
        inspect(&format!("{stack}-db-1"), "{{.State.Health.Status}}"),
        "healthy"
    );
}

#[test]
fn noop_pass_makes_constant_api_calls_for_20_services() {
    ensure_image();
    let stack = unique("e2ecalls");
    let _cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    let src = Source::new();
    let mut services = String::new();
    for i in 0..20 {
        services.push_str(&format!(
            "    s{i}:\n      image: busybox:1.36\n      command: [sleep, \"3600\"]\n"
        ));
    }
    src.write(
        "stack.yaml",
        &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  services:\n{services}"),
    );
    apply(&src);
    let out = apply(&src);
    // 20 containers plus the stack's default network.
    assert!(out.contains("unchanged 21") && !out.contains("created"), "{out}");
    let calls: u64 = out
        .split('(')
        .filter_map(|p| {
            p.strip_suffix(" Docker API calls)\n")
                .or_else(|| p.split(" Docker API calls)").next())
        })
        .filter_map(|n| n.trim().parse().ok())
        .next()
        .expect("the summary reports the API call count");
    println!("no-op pass over 20 services: {calls} Docker API calls");
    assert!(
        calls <= 6,
        "a no-op pass must not inspect each container: {calls} calls\n{out}"
    );
}
