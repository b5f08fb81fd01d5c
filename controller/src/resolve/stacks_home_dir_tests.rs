//! `~` in a Stack's bind sources and its Host's `spec.homeDir`, through the whole resolve.

use std::fs;

use super::test_support::{bind_source, first_container};
use crate::{
    desired::{BindSource, ContainerSpec},
    plan::hash,
};

const STACK: &str =
    "apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: mc}\nspec:\n  compose: compose.yaml\n";
const COMPOSE: &str = "services:\n  app:\n    image: busybox:1.36\n    volumes:\n      - ~/minecraft_data:/data\n      - {type: bind, source: ~/logs, target: /logs}\n";

/// A source with a Host (`spec` as given, or none), the Stack and `compose`.
fn load(host_spec: Option<&str>, compose: &str) -> Result<ContainerSpec, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut manifests = STACK.to_string();
    if let Some(spec) = host_spec {
        manifests.push_str(&format!(
            "---\napiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {{name: box}}\nspec: {spec}\n"
        ));
    }
    fs::write(dir.path().join("stack.yaml"), manifests).expect("write");
    fs::write(dir.path().join("compose.yaml"), compose).expect("write");
    first_container(dir.path())
}

#[test]
fn tilde_is_roots_home_by_default_and_the_hosts_home_dir_when_set() {
    let c = load(None, COMPOSE).expect("loads");
    assert_eq!(
        bind_source(&c, "/data"),
        BindSource::Host("/root/minecraft_data".into())
    );
    assert_eq!(bind_source(&c, "/logs"), BindSource::Host("/root/logs".into()));
    let c = load(Some("{homeDir: /home/deploy}"), COMPOSE).expect("loads");
    assert_eq!(
        bind_source(&c, "/data"),
        BindSource::Host("/home/deploy/minecraft_data".into())
    );
    assert_eq!(
        bind_source(&c, "/logs"),
        BindSource::Host("/home/deploy/logs".into())
    );
}

#[test]
fn the_spec_hash_changes_with_the_home_dir() {
    let h = |spec: Option<&str>| hash::container(&load(spec, COMPOSE).expect("loads"), "sha256:i").0;
    assert_eq!(h(None), h(Some("{homeDir: /root}")));
    assert_ne!(h(None), h(Some("{homeDir: /home/deploy}")));
}

#[test]
fn a_bad_home_dir_is_an_error_with_file_line_and_field() {
    let e = load(Some("{homeDir: home/deploy}"), COMPOSE).expect_err("relative");
    assert!(e.contains("stack.yaml:"), "{e}");
    assert!(e.contains("spec.homeDir"), "{e}");
    assert!(e.contains("is not an absolute path"), "{e}");
}

#[test]
fn another_users_home_is_an_error_with_a_hint() {
    let e = load(
        None,
        "services:\n  app:\n    image: busybox:1.36\n    volumes: [\"~bob/x:/x\"]\n",
    )
    .expect_err("~user");
    assert!(e.contains("compose.yaml:"), "{e}");
    assert!(e.contains("services.app.volumes[0]"), "{e}");
    assert!(e.contains("`~bob` (another user's home) is not supported"), "{e}");
}

/// Fields that name repository files never expand `~`: they stay inside the repository.
#[test]
fn repository_files_do_not_expand_tilde() {
    for (compose, field) in [
        (
            "services:\n  app:\n    image: busybox:1.36\n    env_file: ~/app.env\n",
            "env_file",
        ),
        (
            "services:\n  app:\n    image: busybox:1.36\n    secrets: [s]\nsecrets:\n  s: {file: ~/s.txt}\n",
            "secrets.s.file",
        ),
        (
            "services:\n  app:\n    image: busybox:1.36\n    configs: [c]\nconfigs:\n  c: {file: ~/c.conf}\n",
            "configs.c.file",
        ),
        ("services:\n  app:\n    build: ~/app\n", "build"),
    ] {
        let e = load(None, compose).expect_err(field);
        assert!(e.contains(field), "{field}: {e}");
        assert!(!e.contains("/root"), "{field}: {e}");
        println!("{field}: {e}");
    }
}
