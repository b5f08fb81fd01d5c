//! The README's table of exit codes, code by code, through the real `aegis` and `aegisctl`
//! binaries (and a real controller and engine where the code depends on them):
//!
//! | 0 | success | 1 | changes / some resources failed | 2 | usage | 3 | invalid source |
//! | 4 | unreachable | 5 | other error |

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::{process::Output, time::Duration};

use aegis::status::ConditionStatus;
use controller::ControllerProc;
use support::*;

/// A Stack with one `sleep` service running `image`, on the implicit host.
fn stack(name: &str, image: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  services:\n    web:\n      image: {image}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n"
    )
}

/// An image no registry can serve: the pull is refused at once (a closed loopback port).
const UNPULLABLE: &str = "127.0.0.1:9/aegis-no-such-image:1";

fn assert_code(o: &Output, code: i32, what: &str) -> String {
    let t = text(o);
    assert_eq!(o.status.code(), Some(code), "{what}: expected exit {code}:\n{t}");
    t
}

/// `aegisctl` with no server, token or config from the environment.
fn bare_aegisctl(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aegisctl"))
        .args(args)
        .env("AEGIS_CONFIG", "/nonexistent/aegis-config.yaml")
        .env_remove("AEGIS_TOKEN")
        .env_remove("AEGIS_TOKEN_FILE")
        .env_remove("AEGIS_SERVER")
        .env_remove("AEGIS_CA")
        .output()
        .expect("run aegisctl")
}

#[test]
fn usage_errors_exit_2_before_any_token_or_connection() {
    // A misspelt kind is named, with the kind meant, although there is no token at all.
    let o = bare_aegisctl(&["get", "stakcs"]);
    let t = assert_code(&o, 2, "aegisctl get stakcs");
    assert!(
        t.contains("error: `stakcs` is not a kind (did you mean `stacks`?)"),
        "{t}"
    );
    assert!(!t.contains("token"), "the kind is checked before the token: {t}");
    for args in [
        &["describe", "stak", "x"][..],
        &["reconcile", "stacks"],
        &["get", "all", "x"],
        &["get", "stacks", "-l", "="],
        &["reconcile", "stack", "x", "--timeout", "2h"],
        &["frobnicate"],
    ] {
        assert_code(&bare_aegisctl(args), 2, &format!("aegisctl {args:?}"));
    }
    // A well-formed command without a token: a usage error too.
    let t = assert_code(&bare_aegisctl(&["get", "stacks"]), 2, "no token");
    assert!(t.contains("no API token"), "{t}");

    assert_code(
        &aegis(&["apply", "--no-such-flag"]),
        2,
        "aegis apply --no-such-flag",
    );
    let t = assert_code(
        &aegis(&["validate", "--source", "/nonexistent/aegis-source"]),
        2,
        "a source directory that does not exist",
    );
    assert!(t.contains("/nonexistent/aegis-source"), "{t}");
    assert_code(
        &aegis(&["sops", "decrypt", "/nonexistent/x.sops.env"]),
        2,
        "a file to decrypt that does not exist",
    );
    assert_code(
        &aegis(&["controller", "--source", ".", "--resync", "soon"]),
        2,
        "a bad duration",
    );
}

#[test]
fn an_invalid_revision_exits_3_from_every_command_and_applies_nothing() {
    let src = Source::new();
    let name = unique("inval");
    src.write("stack.yaml", &stack(&name, IMAGE));
    src.write(
        "host.yaml",
        &format!("{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: local}}\nspec:\n  endpoint: \"unix://\"\n"),
    );
    let t = assert_code(&validate(src.path()), 3, "validate");
    assert!(
        t.contains("host.yaml:5: spec.endpoint: endpoint `unix://` names no socket"),
        "{t}"
    );
    let t = assert_code(&aegis(&src.args("apply")), 3, "apply");
    assert!(t.contains("nothing was applied"), "{t}");
    assert_code(&aegisctl(&src.args("diff")), 3, "diff");
    assert!(
        !docker_ok(&["inspect", &format!("{name}-web-1")]),
        "an invalid revision created a container"
    );
}

#[test]
fn apply_and_diff_exit_0_1_and_4_by_their_result() {
    ensure_image();
    let src = Source::new();
    let name = unique("codes");
    src.write("stack.yaml", &stack(&name, IMAGE));
    assert_code(&aegisctl(&src.args("diff")), 1, "diff with changes");
    assert_code(&aegis(&src.args("apply")), 0, "apply that converges");
    assert_code(&aegisctl(&src.args("diff")), 0, "diff when converged");

    // One resource fails (its image cannot be pulled): the pass is partial, exit 1.
    let broken = unique("broken");
    src.write("broken.yaml", &stack(&broken, UNPULLABLE));
    let t = assert_code(&aegis(&src.args("apply")), 1, "apply with a failing resource");
    assert!(t.contains("partly applied"), "{t}");
    src.remove("broken.yaml");

    // A host that cannot be reached: exit 4, from apply and from diff.
    let gone = Source::new();
    gone.write(
        "host.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: gone}}\nspec:\n  endpoint: unix:///nonexistent/aegis-docker.sock\n"
        ),
    );
    gone.write("stack.yaml", &stack(&unique("gone"), IMAGE));
    let t = assert_code(&aegis(&gone.args("apply")), 4, "apply to an unreachable host");
    assert!(t.contains("cannot reach Docker"), "{t}");
    assert_code(
        &aegisctl(&gone.args("diff")),
        4,
        "diff against an unreachable host",
    );
}

#[test]
fn aegisctl_exits_by_what_the_controller_answered() {
    ensure_image();
    let src = Source::new();
    let ok = unique("ok");
    let broken = unique("broken");
    src.write("ok.yaml", &stack(&ok, IMAGE));
    src.write("broken.yaml", &stack(&broken, UNPULLABLE));
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &ok, None, Duration::from_secs(60));
    ctl.wait_for(Duration::from_secs(60), "the broken stack to fail", || {
        ctl.status("stacks", &broken)
            .filter(|s| s.last_error.is_some() && s.ready() == ConditionStatus::False)
    });

    assert_code(&ctl.aegisctl(&["get", "stacks"]), 0, "get");
    assert_code(
        &ctl.aegisctl(&["reconcile", "stack", &ok]),
        0,
        "a reconcile that succeeds",
    );
    let t = assert_code(
        &ctl.aegisctl(&["reconcile", "stack", &broken]),
        1,
        "a reconcile that runs and fails",
    );
    assert!(t.contains(&format!("Stack/{broken} failed on local")), "{t}");
    let t = assert_code(
        &ctl.aegisctl(&["describe", "stack", "nope"]),
        5,
        "no such resource",
    );
    assert!(t.contains("no Stack named `nope`"), "{t}");
    let t = assert_code(
        &ctl.aegisctl(&["reconcile", "stack", "nope"]),
        5,
        "reconcile of no such resource",
    );
    assert!(
        t.contains("(HTTP 404)") || t.contains("no Stack named `nope`"),
        "{t}"
    );

    // A wrong token, and no controller at all: exit 4.
    let wrong = ctl.scratch.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token\n").expect("write");
    let o = bare_aegisctl(&[
        "get",
        "stacks",
        "--server",
        &ctl.server(),
        "--token-file",
        wrong.to_str().expect("utf-8 path"),
    ]);
    assert_code(&o, 4, "a rejected token");
    let port = free_port();
    let o = bare_aegisctl(&[
        "get",
        "stacks",
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--token-file",
        ctl.token_file.to_str().expect("utf-8 path"),
    ]);
    assert_code(&o, 4, "no controller listening");
}
