//! Secrets end to end, with files encrypted by the real Go `sops`: a `.sops.env` reaches the
//! container's environment and a SOPS YAML file reaches `/run/secrets/`, a changed value
//! recreates the container, and no value ever shows in apply's output or logs, the spec
//! label, `aegisctl diff`, the controller's status, events or log, or its state directory.
//! A tampered file rejects the revision whole and nothing on the host changes.

#[path = "support/controller.rs"]
mod controller;
mod sops_support;
mod support;

use std::{path::Path, process::Command};

use controller::ControllerProc;
use sops_support::{flip_ciphertext, tools, Tools};
use support::*;

struct Secrets {
    db_password: String,
    api_token: String,
    file_password: String,
}

fn encrypt_env(t: &Tools, dir: &Path, recipient: &str, s: &Secrets) {
    std::fs::write(
        dir.join("secret.env"),
        format!("DB_PASSWORD={}\nAPI_TOKEN={}\n", s.db_password, s.api_token),
    )
    .expect("write");
    let enc = t.encrypt(
        dir,
        "secret.env",
        &[
            "--age",
            recipient,
            "--input-type",
            "dotenv",
            "--output-type",
            "dotenv",
        ],
    );
    std::fs::remove_file(dir.join("secret.env")).expect("no plaintext left in the repo");
    std::fs::write(dir.join(".sops.env"), enc).expect("write");
}

fn encrypt_yaml(t: &Tools, dir: &Path, recipient: &str, s: &Secrets) {
    std::fs::write(dir.join("db.yaml"), format!("password: {}\n", s.file_password)).expect("write");
    let enc = t.encrypt(dir, "db.yaml", &["--age", recipient]);
    std::fs::remove_file(dir.join("db.yaml")).expect("no plaintext left in the repo");
    std::fs::write(dir.join("db.sops.yaml"), enc).expect("write");
}

fn assert_clean(what: &str, text: &str, values: &[&str]) {
    for v in values {
        assert!(!text.contains(v), "{what} shows a secret value:\n{text}");
    }
}

fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().expect("runs");
    (o.status.success(), text(&o))
}

#[test]
fn secrets_reach_containers_and_never_leak() {
    let Some(t) = tools("secrets_reach_containers_and_never_leak") else {
        return;
    };
    ensure_image();
    let key = t.keygen();
    let keydir = tempfile::tempdir().expect("tempdir");
    let keyfile = keydir.path().join("keys.txt");
    std::fs::write(&keyfile, format!("# test key\n{}\n", key.identity)).expect("write key");
    let keyfile = keyfile.to_string_lossy().into_owned();

    let stack = unique("sec");
    let mut s = Secrets {
        db_password: unique("dbpw-s3cr3t"),
        api_token: unique("tok-s3cr3t"),
        file_password: unique("filepw-s3cr3t"),
    };
    let src = Source::new();
    let app = src.path().join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    encrypt_env(&t, &app, &key.recipient, &s);
    encrypt_yaml(&t, &app, &key.recipient, &s);
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  compose: app/compose.yaml\n  secrets:\n    - {{sopsEnv: app/.sops.env, envFile: .env}}\n"
        ),
    );
    src.write(
        "app/compose.yaml",
        "services:\n  app:\n    image: busybox:1.36\n    command: [sleep, \"3600\"]\n    stop_signal: SIGKILL\n    env_file: [.env]\n    environment: {MODE: plain}\n    secrets: [db]\nsecrets:\n  db:\n    file: ./db.sops.yaml\n",
    );
    let name = format!("{stack}-app-1");
    let mut args = src.args("apply");
    args.extend(["--age-key-file".to_string(), keyfile.clone()]);

    // 1. The values reach the container: env and /run/secrets.
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(&args)
        .env("RUST_LOG", "aegis=debug"));
    assert!(ok, "{out}");
    let env = inspect(&name, "{{json .Config.Env}}");
    assert!(
        env.contains(&format!("DB_PASSWORD={}", s.db_password)) && env.contains("MODE=plain"),
        "{env}"
    );
    let file = docker(&["exec", &name, "cat", "/run/secrets/db"]);
    assert_eq!(file, format!("password: {}", s.file_password));
    let spec_label = inspect(&name, "{{index .Config.Labels \"aegis.dev/spec\"}}");
    let first_id = container_id(&name);
    let old = [
        s.db_password.clone(),
        s.api_token.clone(),
        s.file_password.clone(),
    ];
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    assert_clean("apply output and debug log", &out, &old);
    assert_clean("the aegis.dev/spec label", &spec_label, &old);

    // 2. A changed value: diff says `(secret changed)`, apply recreates the container.
    s.db_password = unique("dbpw2-s3cr3t");
    encrypt_env(&t, &app, &key.recipient, &s);
    let mut dargs = src.args("diff");
    dargs.extend(["--age-key-file".to_string(), keyfile.clone()]);
    let d = aegisctl(&dargs);
    let dtext = text(&d);
    assert_eq!(d.status.code(), Some(1), "{dtext}");
    assert!(dtext.contains("env.DB_PASSWORD: (secret changed)"), "{dtext}");
    let all = [&old[..], &[s.db_password.as_str()]].concat();
    assert_clean("aegisctl diff", &dtext, &all);
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(&args)
        .env("RUST_LOG", "aegis=debug"));
    assert!(ok && out.contains("recreated 1"), "{out}");
    assert_clean("apply output and debug log", &out, &all);
    assert_ne!(container_id(&name), first_id);
    assert!(inspect(&name, "{{json .Config.Env}}").contains(&format!("DB_PASSWORD={}", s.db_password)));

    // 3. The controller: status, events, describe, log and state never show a value.
    let mut ctl = ControllerProc::start_with(&src, &["--age-key-file", &keyfile]);
    ctl.wait_ready();
    ctl.wait_ready_status("stack", &stack, None, std::time::Duration::from_secs(30));
    docker(&["rm", "-f", &name]);
    ctl.wait_for(std::time::Duration::from_secs(10), "drift repair", || {
        (inspect_ok(&name, "{{.State.Running}}") == Some("true".into())).then_some(())
    });
    let status = ctl.aegisctl_ok(&["get", "stacks", "-o", "json"]);
    let describe = ctl.aegisctl_ok(&["describe", "stack", &stack]);
    assert!(describe.contains("DriftRepaired"), "{describe}");
    assert_clean("aegisctl get -o json", &status, &all);
    assert_clean("aegisctl describe", &describe, &all);

    // 4. A tampered file: the revision is rejected whole; nothing changes.
    let id = container_id(&name);
    let env_path = app.join(".sops.env");
    let enc = std::fs::read_to_string(&env_path).expect("read");
    std::fs::write(&env_path, flip_ciphertext(&enc, "DB_PASSWORD=")).expect("tamper");
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_aegis")).args(&args));
    assert!(!ok, "a tampered secret must reject the revision: {out}");
    assert!(
        out.contains(".sops.env") && out.contains("nothing was applied"),
        "{out}"
    );
    assert_clean("the rejection", &out, &all);
    // The controller has judged the tampered revision (its source status says rejected), so
    // whatever it would have done about it is done.
    let source = ctl.wait_for(
        std::time::Duration::from_secs(30),
        "the controller to reject it",
        || {
            let json = ctl.aegisctl_ok(&["get", "source", "-o", "json"]);
            let source: aegis::status::SourceStatus = serde_json::from_str(&json).expect("source JSON");
            source.rejected.is_some().then_some(json)
        },
    );
    assert_clean("aegisctl get source", &source, &all);
    assert_eq!(container_id(&name), id, "nothing on the host changed");
    let log = ctl.log_text();
    assert!(
        log.contains("rejected"),
        "the controller rejects the revision too"
    );
    assert_clean("the controller's log", &log, &all);
    let state = std::fs::read_to_string(ctl.state_dir.join("status.json")).unwrap_or_default();
    assert!(!state.is_empty(), "status is persisted");
    assert_clean("the controller's state directory", &state, &all);
    ctl.sigterm();
}

fn inspect_ok(name: &str, format: &str) -> Option<String> {
    let o = Command::new("docker")
        .args(["inspect", "-f", format, name])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}
