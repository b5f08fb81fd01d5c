use std::fs;

use crate::compose::tests::{load_in, load_ok};
use crate::desired::{BindSource, MountKind};

const FILE: &str = r#"
services:
  app:
    image: busybox
    configs:
      - app_conf
      - source: app_conf
        target: etc/app.conf
      - source: inline
        target: /etc/inline.txt
        uid: "1000"
        gid: "1001"
        mode: 0440
      - from_env
configs:
  app_conf:
    file: ./app.conf
  inline:
    content: |
      port = $${PORT}
  from_env:
    environment: GREETING
"#;

#[test]
fn files_are_bind_mounted_and_values_written_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.conf"), "x=1\n").expect("write");
    let s = load_in(dir.path(), FILE, &[("GREETING", "hello")]).unwrap_or_else(|e| panic!("{e}"));
    let c = &s.containers[0];
    let binds: Vec<(&str, bool, &str)> = c
        .mounts
        .iter()
        .map(|m| match &m.kind {
            MountKind::Bind {
                source: BindSource::Repo(f),
                create_host_path,
                ..
            } => {
                assert!(!create_host_path);
                (m.target.as_str(), m.read_only, f.content_hash.as_str())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(binds.len(), 2, "{binds:?}");
    assert_eq!((binds[0].0, binds[0].1), ("/app_conf", true));
    assert_eq!((binds[1].0, binds[1].1), ("/etc/app.conf", true));
    let files: Vec<(&str, u32, u32, u32, &[u8])> = c
        .secret_files
        .iter()
        .map(|f| (f.target.as_str(), f.mode, f.uid, f.gid, f.value.expose()))
        .collect();
    assert_eq!(
        files,
        vec![
            (
                "/etc/inline.txt",
                0o440,
                1000,
                1001,
                b"port = ${PORT}\n".as_slice()
            ),
            ("/from_env", 0o444, 0, 0, b"hello".as_slice()),
        ]
    );
    // The content is in the hash only as a digest.
    let json = serde_json::to_string(c).expect("json");
    assert!(!json.contains("hello"), "{json}");
}

#[test]
fn a_content_change_changes_only_the_users_spec() {
    let src = |v: &str| {
        format!(
            "services:\n  a:\n    image: x\n    configs: [c]\n  b:\n    image: x\nconfigs:\n  c:\n    content: \"{v}\"\n"
        )
    };
    let (one, two) = (load_ok(&src("1")), load_ok(&src("2")));
    assert_ne!(one.containers[0], two.containers[0]);
    assert_eq!(one.containers[1], two.containers[1]);
}

#[test]
fn directories_are_bind_mounted_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
    fs::write(dir.path().join("conf.d/a.conf"), "a\n").expect("write");
    let src = "services:\n  a:\n    image: x\n    configs: [d]\nconfigs:\n  d:\n    file: ./conf.d\n";
    let s = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        &s.containers[0].mounts[0].kind,
        MountKind::Bind { source: BindSource::Repo(f), .. } if f.is_dir
    ));
}

#[test]
fn errors_name_the_config_and_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = r#"
services:
  a:
    image: x
    read_only: true
    configs: [nope, inline, c, unset]
configs:
  ext:
    external: true
  both:
    file: ./a
    content: b
  missing:
    file: ./missing.conf
  unset:
    environment: NOT_SET
  inline:
    content: x
  c:
    file: ./c.conf
"#;
    fs::write(dir.path().join("c.conf"), "c\n").expect("write");
    let text = load_in(dir.path(), src, &[]).expect_err("must fail").to_string();
    for want in [
        "services.a.configs[0]: config `nope` is not declared",
        "services.a.configs[1]: config `inline` cannot be written into a `read_only` container",
        "configs.ext: external configs are Swarm objects",
        "configs.both: a config needs exactly one of",
        "configs.missing.file: config file",
        "services.a.configs[3]: config `unset` reads variable `NOT_SET`, which is not set",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    assert!(!text.contains("configs[2]"), "{text}");
}

#[test]
fn uid_on_a_plain_file_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("c.conf"), "c\n").expect("write");
    let src = "services:\n  a:\n    image: x\n    configs: [{source: c, uid: \"1\"}]\nconfigs:\n  c:\n    file: ./c.conf\n";
    let s = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s.warnings
            .iter()
            .any(|w| w.to_string().contains("ignored for a config bind-mounted")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn an_unused_config_may_name_an_unset_variable() {
    let s = load_ok("services:\n  a:\n    image: x\nconfigs:\n  c:\n    environment: NOT_SET\n");
    assert_eq!(s.containers.len(), 1);
}
