//! Service `platform:`: the normalised value reaches the container spec (and so its hash)
//! and the build; a bad value is an error at file:line: field.

use std::fs;

use super::tests::{load_err, load_in, load_ok};
use crate::plan::hash;

#[test]
fn platform_reaches_the_spec_normalised() {
    let s = load_ok("services:\n  app:\n    image: busybox:1.36\n    platform: Linux/x86_64\n  other:\n    image: busybox:1.36\n");
    assert_eq!(s.containers[0].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(s.containers[1].platform, None);
}

#[test]
fn platform_changes_the_spec_hash_and_unset_keeps_the_old_one() {
    let with = |p: &str| {
        let s = load_ok(&format!("services:\n  app:\n    image: busybox:1.36\n{p}"));
        hash::container(&s.containers[0], "sha256:i")
    };
    let (none, json) = with("");
    assert!(
        !json.contains("platform"),
        "an unset platform is not serialized: {json}"
    );
    assert_ne!(none, with("    platform: linux/amd64\n").0);
    assert_ne!(
        with("    platform: linux/amd64\n").0,
        with("    platform: linux/arm64\n").0
    );
}

#[test]
fn a_bad_platform_names_file_line_and_field() {
    for (bad, says) in [
        ("bogus", "unknown operating system `bogus`"),
        ("linux/amd64/v2/x", "is not a platform"),
        ("linux/z80", "unknown architecture `z80`"),
    ] {
        let e = load_err(&format!(
            "services:\n  app:\n    image: busybox:1.36\n    platform: \"{bad}\"\n"
        ));
        assert!(e.contains("compose.yaml:4: services.app.platform:"), "{bad}: {e}");
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn the_build_gets_the_platform_and_another_tag() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("app")).expect("mkdir");
    fs::write(dir.path().join("app/Dockerfile"), "FROM busybox:1.36\n").expect("write");
    let build = |p: &str| {
        let s = load_in(
            dir.path(),
            &format!("services:\n  app:\n    build: app\n{p}"),
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        *s.containers[0].build.clone().expect("build")
    };
    let plain = build("");
    let amd64 = build("    platform: linux/amd64\n");
    assert_eq!(plain.platform, None);
    assert_eq!(amd64.platform.as_deref(), Some("linux/amd64"));
    assert_ne!(plain.tag, amd64.tag);
}
