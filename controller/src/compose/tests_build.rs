//! compose `build:`: what the spec says is built, how it is tagged, and the errors.

use std::{fs, path::Path};

use super::tests::load_in;
use crate::desired::ContainerSpec;

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("app")).expect("mkdir");
    fs::write(
        dir.path().join("app/Dockerfile"),
        "FROM busybox:1.36\nCOPY hello.txt /hello.txt\n",
    )
    .expect("write");
    fs::write(dir.path().join("app/hello.txt"), "hello\n").expect("write");
    dir
}

fn one(dir: &Path, src: &str, vars: &[(&str, &str)]) -> ContainerSpec {
    let s = load_in(dir, src, vars).unwrap_or_else(|e| panic!("{e}"));
    s.containers.into_iter().next().expect("a container")
}

fn err(dir: &Path, src: &str) -> String {
    load_in(dir, src, &[]).expect_err("must fail").to_string()
}

const SHORT: &str = "services:\n  app:\n    build: ./app\n";

#[test]
fn short_form_builds_the_directory_and_tags_it_by_content() {
    let dir = app_dir();
    let c = one(dir.path(), SHORT, &[]);
    let b = c.build.as_deref().expect("a build");
    assert_eq!(c.image, b.tag);
    assert!(c.image.starts_with("aegis-build/demo-app:"), "{}", c.image);
    assert_eq!(c.image.len(), "aegis-build/demo-app:".len() + 12);
    assert_eq!(b.dockerfile, "Dockerfile");
    assert_eq!(b.dockerfile_extra, None);
    assert!(!b.pull && !b.no_cache, "no registry: no pull by default");
    let names: Vec<String> = b
        .context
        .tree
        .iter()
        .map(|e| e.name.display().to_string())
        .collect();
    assert_eq!(names, ["", "Dockerfile", "hello.txt"]);

    assert_eq!(one(dir.path(), SHORT, &[]).image, c.image, "unchanged: same tag");
    fs::write(dir.path().join("app/hello.txt"), "changed\n").expect("write");
    assert_ne!(
        one(dir.path(), SHORT, &[]).image,
        c.image,
        "a changed file: a new tag"
    );
}

#[test]
fn long_form_keys_reach_the_build_and_image_names_it() {
    let dir = app_dir();
    fs::write(dir.path().join("Dockerfile.prod"), "FROM busybox:1.36\n").expect("write");
    let c = one(
        dir.path(),
        r#"
services:
  app:
    image: example/app:${TAG}
    build:
      context: app
      dockerfile: ../Dockerfile.prod
      args:
        - VERSION=${TAG}
        - FROM_VARS
        - UNSET
      target: prod
      labels: {com.example.built: "yes"}
      network: host
      extra_hosts: ["db.test:10.213.0.2"]
      shm_size: 64m
      no_cache: true
      pull: "false"
"#,
        &[("TAG", "1.2"), ("FROM_VARS", "v")],
    );
    assert_eq!(
        c.image, "example/app:1.2",
        "with `image:`, compose tags the build so"
    );
    let b = c.build.as_deref().expect("a build");
    assert!(b.tag.starts_with("aegis-build/demo-app:"));
    assert_eq!(
        b.dockerfile,
        super::build::EXTRA_DOCKERFILE,
        "outside the context: added"
    );
    assert_eq!(b.dockerfile_extra.as_deref(), Some(&b"FROM busybox:1.36\n"[..]));
    let args: Vec<(&str, &str)> = b.args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        args,
        [("FROM_VARS", "v"), ("VERSION", "1.2")],
        "UNSET is left out"
    );
    assert_eq!(b.target.as_deref(), Some("prod"));
    assert_eq!(b.labels.get("com.example.built").map(String::as_str), Some("yes"));
    assert_eq!(b.network.as_deref(), Some("host"));
    assert_eq!(b.extra_hosts, ["db.test:10.213.0.2"]);
    assert_eq!(b.shm_size, Some(64 << 20));
    assert!(b.no_cache && !b.pull);
}

#[test]
fn inline_dockerfile_and_dockerignore() {
    let dir = app_dir();
    fs::write(dir.path().join("app/.dockerignore"), "*.log\nDockerfile\n").expect("write");
    fs::write(dir.path().join("app/debug.log"), "1\n").expect("write");
    let src = "services:\n  app:\n    build:\n      context: ./app\n      dockerfile_inline: |\n        FROM busybox:1.36\n";
    let c = one(dir.path(), src, &[]);
    let b = c.build.as_deref().expect("a build");
    assert_eq!(b.dockerfile_extra.as_deref(), Some(&b"FROM busybox:1.36\n"[..]));
    let names: Vec<String> = b
        .context
        .tree
        .iter()
        .map(|e| e.name.display().to_string())
        .collect();
    assert_eq!(
        names,
        ["", ".dockerignore", "hello.txt"],
        "ignored files are not sent"
    );
    fs::write(dir.path().join("app/debug.log"), "2\n").expect("write");
    assert_eq!(
        one(dir.path(), src, &[]).image,
        c.image,
        "an ignored file does not rebuild"
    );
    // The Dockerfile is always sent, even when .dockerignore names it.
    let c = one(dir.path(), SHORT, &[]);
    let names: Vec<String> = c
        .build
        .expect("build")
        .context
        .tree
        .iter()
        .map(|e| e.name.display().to_string())
        .collect();
    assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
}

#[test]
fn what_cannot_be_built_is_an_error_with_a_hint() {
    let dir = app_dir();
    let remote = err(
        dir.path(),
        "services:\n  app:\n    build: https://github.com/x/y.git#main\n",
    );
    assert!(
        remote.contains("compose.yaml:3: services.app.build.context: remote build context"),
        "{remote}"
    );
    assert!(remote.contains("directory of the repository"), "{remote}");

    let keys = err(
        dir.path(),
        "services:\n  app:\n    build:\n      context: app\n      secrets: [token]\n      platforms: [linux/arm64]\n",
    );
    assert!(
        keys.contains("compose.yaml:5: services.app.build.secrets: `build.secrets` is not supported"),
        "{keys}"
    );
    assert!(keys.contains("classic builder"), "{keys}");
    assert!(keys.contains("services.app.build.platforms"), "{keys}");
    assert!(
        !keys.contains("has no `image`"),
        "one error for the build, not two: {keys}"
    );

    let missing = err(dir.path(), "services:\n  app:\n    build: ./nope\n");
    assert!(
        missing.contains("services.app.build.context:") && missing.contains("nope"),
        "{missing}"
    );
    let no_file = err(
        dir.path(),
        "services:\n  app:\n    build: {context: app, dockerfile: Nope}\n",
    );
    assert!(
        no_file.contains("services.app.build.dockerfile:") && no_file.contains("Nope"),
        "{no_file}"
    );
    let both = err(
        dir.path(),
        "services:\n  app:\n    build: {context: app, dockerfile: D, dockerfile_inline: x}\n",
    );
    assert!(both.contains("cannot be combined"), "{both}");
    let neither = err(dir.path(), "services:\n  app:\n    restart: always\n");
    assert!(neither.contains("set `image:`, or `build:`"), "{neither}");
}

#[test]
fn a_context_never_leaves_the_repository() {
    let outer = tempfile::tempdir().expect("tempdir");
    let repo = outer.path().join("repo");
    fs::create_dir_all(repo.join("app")).expect("mkdir");
    fs::write(repo.join("app/Dockerfile"), "FROM busybox:1.36\n").expect("write");
    fs::write(outer.path().join("secret.txt"), "s\n").expect("write");
    std::os::unix::fs::symlink("../../secret.txt", repo.join("app/leak.txt")).expect("symlink");
    let e = err(&repo, SHORT);
    assert!(
        e.contains("services.app.build.context:") && e.contains("leak.txt"),
        "{e}"
    );
    let up = err(&repo, "services:\n  app:\n    build: ../\n");
    assert!(up.contains("outside the repository"), "{up}");
}
