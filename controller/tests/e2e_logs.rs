//! The controller's log: plain text without colour codes when stderr is a file (as under
//! `docker logs` or a service manager), one JSON object per line with `--log-format json`.

#[path = "support/controller.rs"]
mod controller;
mod support;

use std::time::Duration;

use controller::ControllerProc;
use support::*;

fn source() -> (Source, String) {
    let src = Source::new();
    let stack = unique("logs");
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  services:\n    web:\n\
             \x20     image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_signal: SIGKILL\n"
        ),
    );
    (src, stack)
}

/// The controller's own lines (the harness adds `=====` markers).
fn lines(ctl: &ControllerProc) -> Vec<String> {
    ctl.log_text()
        .lines()
        .filter(|l| !l.starts_with("====="))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_log_file_gets_no_colour_codes() {
    ensure_image();
    let (src, stack) = source();
    let mut ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &stack, None, Duration::from_secs(60));
    ctl.sigterm();
    let log = ctl.log_text();
    assert!(log.contains(&format!("created {stack}-web-1")), "{log}");
    assert!(!log.contains('\x1b'), "escape codes in a log file:\n{log:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    ensure_image();
    let (src, stack) = source();
    let mut ctl = ControllerProc::start_with(&src, &["--log-format", "json"]);
    ctl.wait_ready_status("stacks", &stack, None, Duration::from_secs(60));
    ctl.sigterm();
    let lines = lines(&ctl);
    assert!(lines.len() >= 3, "{lines:?}");
    let mut created = None;
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        assert!(v["fields"]["message"].is_string(), "{v}");
        if v["fields"]["message"] == format!("created {stack}-web-1") {
            created = Some(v);
        }
    }
    // An event inside a reconcile carries its span: which resource it was about.
    let created = created.unwrap_or_else(|| panic!("no `created` line in {lines:?}"));
    assert_eq!(created["span"]["name"], "reconcile", "{created}");
    assert!(
        created["span"]["key"]
            .as_str()
            .is_some_and(|k| k.contains(&stack)),
        "{created}"
    );
}
