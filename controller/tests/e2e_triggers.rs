//! What makes the controller run a resource, end to end against the real engine and a real
//! `aegis controller`: a new revision that changes a failing resource runs it at once (its
//! error backoff does not hold the fix back), and `aegisctl reconcile` waits for the run it
//! asked for, not for one that was already in flight.

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::time::{Duration, Instant};

use aegis::status::ConditionStatus;
use controller::ControllerProc;
use support::*;

/// An inline Stack with one `sleep` service running `image`.
fn stack(name: &str, image: &str) -> String {
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  services:\n    web:\n      image: {image}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n"
    )
}

/// The revision `aegis validate` computes for the source (the one the controller reports).
fn revision_of(src: &Source) -> String {
    let o = validate(src.path());
    let t = text(&o);
    assert!(o.status.success(), "aegis validate failed:\n{t}");
    t.split("revision ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap_or_else(|| panic!("no revision in: {t}"))
        .to_string()
}

/// "A fix commit is never held back by an earlier failure's backoff." The first revision
/// names an image that cannot be pulled (a registry on a closed loopback port: the pull
/// fails at once), so the stack fails and backs off for ten minutes. The fix commit must
/// converge long before that backoff ends.
#[test]
fn a_fix_commit_runs_at_once_despite_the_backoff_of_the_failure_before_it() {
    ensure_image();
    let src = Source::new();
    let name = unique("fix");
    src.write("stack.yaml", &stack(&name, "127.0.0.1:9/aegis-no-such-image:1"));
    let ctl = ControllerProc::start_with(&src, &["--backoff-min", "10m", "--backoff-max", "10m"]);
    ctl.wait_for(Duration::from_secs(60), "the broken stack to fail", || {
        ctl.status("stacks", &name)
            .filter(|s| s.last_error.is_some() && s.ready() == ConditionStatus::False)
    });

    src.write("stack.yaml", &stack(&name, IMAGE));
    let fixed = revision_of(&src);
    let t = Instant::now();
    // Far below the ten-minute backoff; only a hang-catching bound.
    ctl.wait_ready_status("stacks", &name, Some(&fixed), Duration::from_secs(60));
    println!("fix-commit after a failure: Ready in {:.2} s", t.elapsed().as_secs_f64());
}
