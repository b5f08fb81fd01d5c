//! End to end against the real Docker engine: compose `build:` builds on the host through the
//! Docker API, tagged by the context's content hash; an unchanged context builds nothing and
//! recreates nothing; a changed file rebuilds and recreates; a failing Dockerfile fails with
//! the host, stack, service and the builder's last lines. No registry: the base image
//! (busybox:1.36) is local and the build must not pull.

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::{process::Command, time::Duration};

use controller::ControllerProc;

use support::*;

/// Removes every image tagged in `repo` (the test's own `aegis-build/<stack>-<service>`).
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for repo in &self.0 {
            for tag in tags(repo) {
                let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
            }
        }
    }
}

/// `repo:tag` of every image in `repo`.
fn tags(repo: &str) -> Vec<String> {
    Command::new("docker")
        .args(["image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn write_stack(src: &Source, stack: &str, dockerfile: &str, hello: &str) {
    src.write(
        "stack.yaml",
        &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  compose: stacks/app/compose.yaml\n"),
    );
    src.write(
        "stacks/app/compose.yaml",
        "services:\n  web:\n    build: ./app\n    init: true\n",
    );
    src.write("stacks/app/app/Dockerfile", dockerfile);
    src.write("stacks/app/app/hello.txt", hello);
}

const DOCKERFILE: &str = "FROM busybox:1.36\nCOPY hello.txt /hello.txt\nCMD [\"sleep\", \"3600\"]\n";

#[test]
fn build_then_noop_then_rebuild_on_change_then_a_clear_failure() {
    ensure_image();
    let src = Source::new();
    let stack = unique("build");
    let repo = format!("aegis-build/{stack}-web");
    // Declared before the containers' cleanup, so dropped after it: an image a container
    // still uses would only be untagged.
    let _images = Images(vec![repo.clone()]);
    let _cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    let name = format!("{stack}-web-1");

    // 1. Built and run.
    write_stack(&src, &stack, DOCKERFILE, "hello one\n");
    let out = apply(&src);
    let built = tags(&repo);
    assert_eq!(built.len(), 1, "one image built: {built:?}\n{out}");
    assert_eq!(
        inspect(&name, "{{.Config.Image}}"),
        built[0],
        "the container runs the build"
    );
    assert_eq!(inspect(&name, "{{.State.Running}}"), "true");
    assert_eq!(docker(&["exec", &name, "cat", "/hello.txt"]), "hello one");
    let id = container_id(&name);
    let created = inspect(&built[0], "{{.Created}}");

    // 2. Nothing changed: nothing is built, nothing recreated.
    apply(&src);
    assert_eq!(tags(&repo), built, "no new image");
    assert_eq!(inspect(&built[0], "{{.Created}}"), created, "not rebuilt");
    assert_eq!(container_id(&name), id, "not recreated");

    // 3. A changed file: a new image under a new tag, and the container is recreated.
    write_stack(&src, &stack, DOCKERFILE, "hello two\n");
    apply(&src);
    let after = tags(&repo);
    assert_eq!(after.len(), 2, "a second build: {after:?}");
    let new_tag = inspect(&name, "{{.Config.Image}}");
    assert!(
        new_tag != built[0] && after.contains(&new_tag),
        "{new_tag} in {after:?}"
    );
    assert_ne!(container_id(&name), id, "recreated");
    assert_eq!(docker(&["exec", &name, "cat", "/hello.txt"]), "hello two");

    // 4. A failing Dockerfile: the apply fails and says where and why.
    write_stack(
        &src,
        &stack,
        "FROM busybox:1.36\nRUN echo aegis-build-step-output && false\n",
        "hello two\n",
    );
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "building the image of service `web` of stack `{stack}` on host"
        )),
        "{t}"
    );
    assert!(t.contains("returned a non-zero code"), "the engine's reason: {t}");
    assert!(
        t.contains("aegis-build-step-output"),
        "the builder's last lines: {t}"
    );
    assert_eq!(tags(&repo).len(), 2, "nothing tagged for a failed build");
    assert_eq!(
        docker(&["exec", &name, "cat", "/hello.txt"]),
        "hello two",
        "the old container stays"
    );
}

#[test]
fn with_image_the_build_is_tagged_so_and_rebuilt_only_on_change() {
    ensure_image();
    let src = Source::new();
    let stack = unique("buildimg");
    let image = format!("aegis-test-build/{stack}");
    let _images = Images(vec![format!("aegis-build/{stack}-web"), image.clone()]);
    let _cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    let name = format!("{stack}-web-1");
    src.write(
        "stack.yaml",
        &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  compose: stacks/app/compose.yaml\n"),
    );
    let compose = |arg: &str| {
        format!(
            "services:\n  web:\n    image: {image}:v1\n    build:\n      context: app\n      args: {{GREETING: {arg}}}\n    init: true\n"
        )
    };
    src.write("stacks/app/compose.yaml", &compose("one"));
    src.write(
        "stacks/app/app/Dockerfile",
        "FROM busybox:1.36\nARG GREETING\nRUN echo $GREETING > /greeting\nCMD [\"sleep\", \"3600\"]\n",
    );
    apply(&src);
    assert_eq!(inspect(&name, "{{.Config.Image}}"), format!("{image}:v1"));
    assert_eq!(docker(&["exec", &name, "cat", "/greeting"]), "one");
    let id = container_id(&name);
    apply(&src);
    assert_eq!(container_id(&name), id, "unchanged: not recreated");
    src.write("stacks/app/compose.yaml", &compose("two"));
    apply(&src);
    assert_ne!(container_id(&name), id, "a changed arg rebuilds and recreates");
    assert_eq!(docker(&["exec", &name, "cat", "/greeting"]), "two");
}

/// The controller builds where it pulls (in the background): a stack with `build:` becomes
/// Ready running its build, a changed file is rebuilt and recreated, and a failing build is
/// on the stack's status with the service and the builder's reason.
#[test]
fn the_controller_builds_too() {
    ensure_image();
    let src = Source::new();
    let stack = unique("buildctl");
    let repo = format!("aegis-build/{stack}-web");
    let _images = Images(vec![repo.clone()]);
    let _cleanup = Cleanup::new(&[format!("Stack/{stack}")]);
    let name = format!("{stack}-web-1");
    write_stack(&src, &stack, DOCKERFILE, "hello one\n");
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &stack, None, Duration::from_secs(90));
    assert_eq!(docker(&["exec", &name, "cat", "/hello.txt"]), "hello one");
    assert_eq!(tags(&repo).len(), 1);

    write_stack(&src, &stack, DOCKERFILE, "hello two\n");
    ctl.wait_for(Duration::from_secs(90), "the rebuilt container", || {
        let o = Command::new("docker")
            .args(["exec", &name, "cat", "/hello.txt"])
            .output()
            .ok()?;
        (String::from_utf8_lossy(&o.stdout).trim() == "hello two").then_some(())
    });
    assert_eq!(tags(&repo).len(), 2);

    write_stack(
        &src,
        &stack,
        "FROM busybox:1.36\nRUN echo aegis-ctl-build-output && false\n",
        "x\n",
    );
    let status = ctl.wait_for(Duration::from_secs(90), "the failed build on the status", || {
        let s = ctl.status("stacks", &stack)?;
        let text = serde_json::to_string(&s).ok()?;
        text.contains("building the image of service `web`")
            .then_some(text)
    });
    assert!(status.contains("aegis-ctl-build-output"), "{status}");
    assert_eq!(
        docker(&["exec", &name, "cat", "/hello.txt"]),
        "hello two",
        "the old container stays"
    );
}
