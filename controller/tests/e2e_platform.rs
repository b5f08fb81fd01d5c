//! End to end: compose `platform:` (issue 11). A service for the engine's own platform is
//! created with the `platform` parameter and runs; one for another platform (of an image the
//! host holds only for its own) fails with the engine's clear message, the same one Compose
//! v2 gives on the same file.

#[path = "support/compose_v2.rs"]
mod compose_v2;
mod support;

use support::*;

fn compose(platform: &str) -> String {
    format!("services:\n  app:\n    image: busybox:1.36\n    platform: {platform}\n    command: [sleep, \"3600\"]\n")
}

fn stack_manifest(stack: &str) -> String {
    format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  compose: compose.yaml\n")
}

#[test]
fn the_engines_own_platform_runs() {
    ensure_image();
    let platform = engine_platform();
    let stack = unique("e2eplat");
    let _cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    let src = Source::new();
    src.write("compose.yaml", &compose(&platform))
        .write("stack.yaml", &stack_manifest(&stack));
    apply(&src);
    let name = format!("{stack}-app-1");
    assert_eq!(inspect(&name, "{{.State.Running}}"), "true");
    let os = platform.split('/').next().unwrap_or_default();
    assert_eq!(inspect(&name, "{{.Platform}}"), os);
    // The spec (and so its hash) holds the platform.
    let spec = inspect(&name, "{{index .Config.Labels \"aegis.dev/spec\"}}");
    assert!(spec.contains(&format!("\"platform\":\"{platform}\"")), "{spec}");
}

#[test]
fn another_platform_fails_clearly_like_compose_v2() {
    ensure_image();
    let other = if engine_platform() == "linux/s390x" {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    let stack = unique("e2eplatx");
    let _cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    let src = Source::new();
    src.write("compose.yaml", &compose(other))
        .write("stack.yaml", &stack_manifest(&stack));
    let o = aegis(&src.args("apply"));
    let aegis_says = text(&o);
    assert!(!o.status.success(), "apply must fail:\n{aegis_says}");
    let engine_says = format!("does not match the specified platform: wanted {other}");
    assert!(aegis_says.contains(&engine_says), "{aegis_says}");
    assert!(
        aegis_says.contains(&format!("{stack}-app-1")),
        "names the container: {aegis_says}"
    );
    assert!(
        !docker_ok(&["inspect", &format!("{stack}-app-1")]),
        "no container is left behind"
    );

    // Compose v2 on the same file (the image is local, so no pull either).
    if !compose_v2::available("another_platform_fails_clearly_like_compose_v2") {
        return;
    }
    let project = unique("e2eplatv2");
    let v2 = compose_v2::run(
        src.path(),
        &project,
        "compose.yaml",
        &[],
        &["create", "--pull", "never"],
    );
    let v2_says = text(&v2);
    let down = compose_v2::run(src.path(), &project, "compose.yaml", &[], &["down", "-v"]);
    assert!(down.status.success(), "compose down: {}", text(&down));
    assert!(!v2.status.success(), "v2 must fail too:\n{v2_says}");
    assert!(v2_says.contains(&engine_says), "v2 says: {v2_says}");
}
