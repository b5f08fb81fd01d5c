//! End to end with a remote host: a second real Docker engine (`scripts/engine2.sh`) reached
//! over TLS on loopback. aegis converges it, names it when its certificates are wrong, and a
//! host that is down fails alone: the other hosts of the pass are still applied.
//!
//! Skipped, with a printed notice, only where a second dockerd cannot run (not root, no
//! dockerd); see `support/engine2.rs`.

mod support;

#[path = "support/engine2.rs"]
mod engine2;

use support::*;

/// A Stack on `host` with one long-running service `web` whose environment is `env`.
fn stack_manifest(name: &str, host: &str, env: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  host: {host}\n  services:\n    web:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n      environment: {{{env}}}\n"
    )
}

fn local_host_manifest(name: &str) -> String {
    format!("{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: {name}}}\nspec:\n  endpoint: unix:///var/run/docker.sock\n")
}

#[test]
fn tls_host_converges_then_second_apply_is_a_noop() {
    let Some(e2) = engine2::acquire() else { return };
    ensure_image();
    let src = Source::new();
    let _cleanup = e2.cleanup(&src.instance);
    let stack = unique("tls");
    let web = format!("{stack}-web-1");
    src.write("host.yaml", &e2.host_manifest("e2"));
    src.write("stack.yaml", &stack_manifest(&stack, "e2", "A: \"1\""));

    let out = apply(&src);
    assert!(out.contains("host e2 (Docker API 1."), "{out}");
    // The stack's default network and its one container.
    assert!(
        out.contains(&format!("Stack/{stack}")) && out.contains("created 2"),
        "{out}"
    );
    assert_eq!(e2.inspect(&web, "{{.State.Running}}"), "true");
    assert_eq!(
        e2.inspect(&web, "{{index .Config.Labels \"aegis.dev/host\"}}"),
        "e2"
    );
    assert_eq!(
        e2.inspect(&web, "{{index .Config.Labels \"aegis.dev/instance\"}}"),
        src.instance
    );
    assert!(e2.inspect(&web, "{{.Config.Env}}").contains("A=1"));
    assert!(
        !docker_ok(&["inspect", &web]),
        "the container is on engine 2, not on the first engine"
    );
    let id = e2.inspect(&web, "{{.Id}}");

    let out = apply(&src);
    assert!(out.contains("unchanged 2"), "{out}");
    assert!(!out.contains("created") && !out.contains("recreated"), "{out}");
    assert_eq!(e2.inspect(&web, "{{.Id}}"), id, "no container was touched");
}

#[test]
fn wrong_certificates_fail_naming_the_host_and_the_side() {
    let Some(e2) = engine2::acquire() else { return };
    ensure_image();
    let src = Source::new();
    let _cleanup = e2.cleanup(&src.instance);
    let stack = unique("tlsbad");
    src.write("stack.yaml", &stack_manifest(&stack, "e2", "A: \"1\""));

    // We do not trust the engine: its certificate is not signed by the CA we were given.
    src.write(
        "host.yaml",
        &e2.host_manifest_with("e2", &e2.wrong_ca, &e2.cert, &e2.key),
    );
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a host that cannot be reached exits 4: {t}"
    );
    assert!(t.contains("host `e2`"), "{t}");
    assert!(t.contains("server certificate could not be verified"), "{t}");
    assert!(
        t.contains(&e2.wrong_ca.display().to_string()),
        "names tls.ca: {t}"
    );

    // The engine does not trust us: the client certificate is signed by another CA.
    src.write(
        "host.yaml",
        &e2.host_manifest_with("e2", &e2.ca, &e2.wrong_cert, &e2.wrong_key),
    );
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a host that cannot be reached exits 4: {t}"
    );
    assert!(t.contains("host `e2`"), "{t}");
    assert!(t.contains("rejected the client certificate"), "{t}");
    assert!(
        t.contains(&e2.wrong_cert.display().to_string()),
        "names tls.cert: {t}"
    );

    // A client key that does not exist is named as such, not as a handshake failure.
    let missing = src.path().join("no-such-key.pem");
    src.write(
        "host.yaml",
        &e2.host_manifest_with("e2", &e2.ca, &e2.cert, &missing),
    );
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a host that cannot be reached exits 4: {t}"
    );
    assert!(
        t.contains("host `e2`") && t.contains("tls.key") && t.contains("cannot be read"),
        "{t}"
    );

    assert!(
        e2.containers_of(&src.instance).is_empty(),
        "nothing was created on engine 2"
    );
}

#[test]
fn a_host_that_is_down_fails_alone() {
    let Some(e2) = engine2::acquire() else { return };
    ensure_image();
    let src = Source::new();
    let _cleanup = e2.cleanup(&src.instance);
    let local_stack = unique("loc");
    let e2_stack = unique("rem");
    let local_web = format!("{local_stack}-web-1");
    let e2_web = format!("{e2_stack}-web-1");
    src.write(
        "hosts.yaml",
        &format!("{}---\n{}", local_host_manifest("local"), e2.host_manifest("e2")),
    );
    src.write("local.yaml", &stack_manifest(&local_stack, "local", "A: \"1\""));
    src.write("e2.yaml", &stack_manifest(&e2_stack, "e2", "A: \"1\""));

    // 1. Both hosts converge in one pass.
    let out = apply(&src);
    assert!(out.contains("host local (") && out.contains("host e2 ("), "{out}");
    assert_eq!(inspect(&local_web, "{{.State.Running}}"), "true");
    assert_eq!(e2.inspect(&e2_web, "{{.State.Running}}"), "true");
    assert!(
        !docker_ok(&["inspect", &e2_web]),
        "e2's stack is not on the first engine"
    );
    assert!(
        !e2.docker_output(&["inspect", &local_web]).status.success(),
        "local's stack is not on engine 2"
    );

    // 2. Engine 2 goes down; a change to the local stack is still applied, and the pass
    //    fails naming e2.
    e2.stop();
    src.write("local.yaml", &stack_manifest(&local_stack, "local", "A: \"2\""));
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a host that cannot be reached exits 4: {t}"
    );
    assert!(
        t.contains("host `e2`") && t.contains("cannot reach Docker"),
        "{t}"
    );
    assert!(t.contains("partly applied"), "{t}");
    assert!(
        t.contains("host local (") && t.contains("recreated 1"),
        "local was applied: {t}"
    );
    assert!(!t.contains("host `local`"), "local did not fail: {t}");
    assert!(inspect(&local_web, "{{.Config.Env}}").contains("A=2"));
    assert_eq!(inspect(&local_web, "{{.State.Running}}"), "true");

    // 3. Engine 2 is back: the next pass converges everything again.
    e2.start();
    let out = apply(&src);
    assert!(out.contains("host e2 ("), "{out}");
    assert_eq!(e2.inspect(&e2_web, "{{.State.Running}}"), "true");
    assert!(e2.inspect(&e2_web, "{{.Config.Env}}").contains("A=1"));
    let out = apply(&src);
    assert!(
        !out.contains("created") && !out.contains("recreated") && !out.contains("started"),
        "converged: {out}"
    );
}
