//! compose `post_start` / `pre_stop`: the resolved hooks, their errors (file:line: field), and
//! whether they change the spec hash (they do, as in Compose v2's config hash).

use super::tests::{load_err, load_ok};
use crate::plan::hash;

#[test]
fn hooks_reach_the_spec() {
    let s = load_ok(
        r#"
services:
  app:
    image: busybox
    post_start:
      - command: touch /tmp/started
      - command: ["sh", "-c", "echo $$GREETING > /tmp/hello"]
        user: root
        privileged: true
        working_dir: /tmp
        environment:
          GREETING: hi
    pre_stop:
      - command: ["sh", "-c", "echo bye"]
        environment: ["A=1"]
"#,
    );
    let c = &s.containers[0];
    assert_eq!(c.post_start.len(), 2);
    assert_eq!(c.post_start[0].command, vec!["touch", "/tmp/started"]);
    let h = &c.post_start[1];
    assert_eq!(h.command, vec!["sh", "-c", "echo $GREETING > /tmp/hello"]);
    assert_eq!(h.user.as_deref(), Some("root"));
    assert!(h.privileged);
    assert_eq!(h.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(h.env_for_docker(), vec!["GREETING=hi"]);
    assert_eq!(c.pre_stop.len(), 1);
    assert_eq!(c.pre_stop[0].env_for_docker(), vec!["A=1"]);
}

#[test]
fn hook_errors_name_file_line_and_field() {
    let text = load_err(
        "services:\n  a:\n    image: x\n    post_start:\n      - user: root\n      - command: []\n    pre_stop:\n      - command: x\n        environment: [NOVALUE]\n",
    );
    assert!(
        text.contains("compose.yaml:5: services.a.post_start[0]"),
        "{text}"
    );
    assert!(text.contains("needs a `command`"), "{text}");
    assert!(text.contains("services.a.post_start[1].command"), "{text}");
    assert!(
        text.contains("services.a.pre_stop[0].environment.NOVALUE"),
        "{text}"
    );
    let text =
        load_err("services:\n  a:\n    image: x\n    pre_stop:\n      - command: x\n        bogus: 1\n");
    assert!(
        text.contains("compose.yaml:6: services.a.pre_stop[0].bogus: unknown field"),
        "{text}"
    );
}

#[test]
fn lifecycle_is_not_a_compose_key() {
    let text = load_err("services:\n  a:\n    image: x\n    lifecycle: {}\n");
    assert!(text.contains("compose.yaml:4: services.a.lifecycle"), "{text}");
    assert!(text.contains("post_start"), "{text}");
}

#[test]
fn a_changed_hook_changes_the_hash_and_no_hook_keeps_it() {
    let hash_of = |yaml: &str| {
        let s = load_ok(yaml);
        hash::container(&s.containers[0], "sha256:1").0
    };
    let plain = hash_of("services:\n  a:\n    image: x\n");
    let empty = hash_of("services:\n  a:\n    image: x\n    post_start: []\n");
    let one = hash_of("services:\n  a:\n    image: x\n    post_start: [{command: \"true\"}]\n");
    let other = hash_of("services:\n  a:\n    image: x\n    post_start: [{command: \"false\"}]\n");
    let env1 = hash_of("services:\n  a:\n    image: x\n    pre_stop: [{command: x, environment: {K: a}}]\n");
    let env2 = hash_of("services:\n  a:\n    image: x\n    pre_stop: [{command: x, environment: {K: b}}]\n");
    // Containers created before hooks existed keep their hash.
    assert_eq!(plain, empty);
    assert_ne!(plain, one);
    assert_ne!(one, other);
    assert_ne!(env1, env2);
}
