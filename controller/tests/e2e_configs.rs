//! compose `configs:` end to end: a plain file (bind-mounted read-only), inline `content:`,
//! an `environment:` config and a SOPS-encrypted file (written into the container) reach
//! the container at the right paths with the right owner and mode; a changed config
//! recreates only the container that uses it; the decrypted value shows nowhere in apply's
//! output or the spec label.

mod sops_support;
mod support;

use std::{path::Path, process::Command};

use sops_support::tools;
use support::*;

/// Removes the repository files aegis delivered for the stack.
struct Delivered(std::path::PathBuf);

impl Drop for Delivered {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn apply_ok(args: &[String]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(args)
        .output()
        .expect("runs");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    out
}

fn compose(app: &Path, inline: &str) {
    std::fs::write(
        app.join("compose.yaml"),
        format!(
            r#"services:
  app:
    image: busybox:1.36
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    configs:
      - plain
      - source: inline
        target: /etc/inline.txt
        uid: "1000"
        gid: "1001"
        mode: 0440
      - greeting
      - source: sealed
        target: /etc/sealed.yaml
  other:
    image: busybox:1.36
    command: [sleep, "3600"]
    stop_signal: SIGKILL
configs:
  plain:
    file: ./plain.conf
  inline:
    content: "{inline}"
  greeting:
    environment: GREETING
  sealed:
    file: ./sealed.sops.yaml
"#
        ),
    )
    .expect("write compose");
}

#[test]
fn configs_reach_the_container_and_a_change_recreates_only_its_users() {
    let Some(t) = tools("configs_reach_the_container_and_a_change_recreates_only_its_users") else {
        return;
    };
    ensure_image();
    let key = t.keygen();
    let keydir = tempfile::tempdir().expect("tempdir");
    let keyfile = keydir.path().join("keys.txt");
    std::fs::write(&keyfile, format!("# test key\n{}\n", key.identity)).expect("write key");

    let stack = unique("composekeys2-cfg").replace('-', "");
    let _delivered = Delivered(Path::new("/var/lib/aegis/files").join(&stack));
    let sealed = unique("sealed-s3cr3t");
    let src = Source::new();
    let app = src.path().join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("plain.conf"), "listen=8080\n").expect("write");
    std::fs::write(app.join("sealed.yaml"), format!("password: {sealed}\n")).expect("write");
    let enc = t.encrypt(&app, "sealed.yaml", &["--age", &key.recipient]);
    std::fs::remove_file(app.join("sealed.yaml")).expect("no plaintext left in the repo");
    std::fs::write(app.join("sealed.sops.yaml"), enc).expect("write");
    compose(&app, "one");
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  compose: app/compose.yaml\n  environment: {{GREETING: hello}}\n"
        ),
    );
    let mut args = src.args("apply");
    args.extend([
        "--age-key-file".to_string(),
        keyfile.to_string_lossy().into_owned(),
    ]);

    // 1. Every kind of config is where Compose v2 puts it.
    let out = apply_ok(&args);
    let (app_c, other_c) = (format!("{stack}-app-1"), format!("{stack}-other-1"));
    let cat = |path: &str| docker(&["exec", &app_c, "cat", path]);
    assert_eq!(cat("/plain"), "listen=8080");
    assert_eq!(cat("/etc/inline.txt"), "one");
    assert_eq!(cat("/greeting"), "hello");
    assert_eq!(cat("/etc/sealed.yaml"), format!("password: {sealed}"));
    assert_eq!(
        docker(&["exec", &app_c, "stat", "-c", "%u %g %a", "/etc/inline.txt"]),
        "1000 1001 440"
    );
    let mounts = inspect(&app_c, "{{json .HostConfig.Mounts}}");
    assert!(
        mounts.contains("\"Target\":\"/plain\"") && mounts.contains("\"ReadOnly\":true"),
        "{mounts}"
    );
    let label = inspect(&app_c, "{{index .Config.Labels \"aegis.dev/spec\"}}");
    assert!(
        !out.contains(&sealed) && !label.contains(&sealed),
        "{out}\n{label}"
    );

    // 2. A changed config recreates its user, not the other service.
    let (app_id, other_id) = (container_id(&app_c), container_id(&other_c));
    compose(&app, "two");
    let out = apply_ok(&args);
    assert!(out.contains("recreated 1"), "{out}");
    assert_ne!(container_id(&app_c), app_id);
    assert_eq!(container_id(&other_c), other_id);
    assert_eq!(cat("/etc/inline.txt"), "two");

    // 3. Nothing changed: nothing recreated.
    let app_id = container_id(&app_c);
    apply_ok(&args);
    assert_eq!(container_id(&app_c), app_id);
}
