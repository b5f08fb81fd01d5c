//! Commit-to-converged latency of a git source (M5 target: a webhook-triggered commit is
//! converged within 3 s plus the containers' own start time): the time from `git push`
//! returning to the container with the new env running, median of 5, with the webhook and
//! with `--poll 1s`. Prints `commit-to-converged (webhook): X.XX s` and `(poll 1s)`.

mod gitsupport;
mod support;

use std::time::{Duration, Instant};

use gitsupport::*;
use support::*;

const ROUNDS: usize = 5;

/// Commits `V=version` without pushing.
fn commit_locally(repo: &Repo, stack: &str, version: &str) {
    repo.src.write("stack.yaml", &stack_yaml(stack, version, None));
    git(repo.src.path(), &["commit", "-q", "-am", version]);
}

fn measure(label: &str, poll: &str, webhook: bool) -> f64 {
    let repo = Repo::new();
    let stack = unique("gitl");
    let app = format!("{stack}-app-1");
    repo.commit(&[("stack.yaml", stack_yaml(&stack, "0", None))]);
    let ctl = Controller::start(&repo, &repo.file_url(), &["--poll", poll]);
    wait_for(Duration::from_secs(60), "v0 running", || {
        runs_version(&app, "0").then_some(())
    });
    let mut samples = Vec::new();
    for round in 1..=ROUNDS {
        let version = round.to_string();
        commit_locally(&repo, &stack, &version);
        repo.push();
        let pushed = Instant::now();
        if webhook {
            let (code, body) = ctl.github_push(WEBHOOK_SECRET);
            assert_eq!(code, 202, "{body}");
        }
        wait_for(Duration::from_secs(60), "the new version running", || {
            runs_version(&app, &version).then_some(())
        });
        samples.push(pushed.elapsed().as_secs_f64());
    }
    let m = median(samples.clone());
    let all: Vec<String> = samples.iter().map(|s| format!("{s:.2}")).collect();
    println!(
        "commit-to-converged ({label}): {m:.2} s (median of {ROUNDS}: {})",
        all.join(", ")
    );
    m
}

#[test]
fn commit_to_converged_latency() {
    ensure_image();
    let webhook = measure("webhook", "10m", true);
    let poll = measure("poll 1s", "1s", false);
    // Generous bounds: this is a measurement, not a benchmark gate; a webhook must beat
    // a 10-minute poll by far.
    assert!(webhook < 15.0, "webhook: {webhook:.2} s");
    assert!(poll < 20.0, "poll: {poll:.2} s");
}
