//! End to end: `aegis controller` and the one-shot commands against real git repositories
//! (made with the `git` CLI, served as `file://` and by `git daemon`), converging the real
//! Docker engine. ssh is exercised in e2e_git_ssh.rs (an sshd on loopback); see `source::auth`'s unit tests.

mod gitsupport;
mod support;

use std::time::Duration;

use gitsupport::*;
use support::*;

const CONVERGE: Duration = Duration::from_secs(60);

fn short(commit: &str) -> &str {
    &commit[..12]
}

fn observed_revision(c: &Controller, stack: &str) -> Option<String> {
    c.stack_status(stack)?["observedRevision"]
        .as_str()
        .map(str::to_owned)
}

fn stalled(c: &Controller, stack: &str) -> Option<(String, String, String)> {
    let s = c.stack_status(stack)?;
    let cond = s["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Stalled")?
        .clone();
    Some((
        cond["status"].as_str()?.to_owned(),
        cond["reason"].as_str()?.to_owned(),
        cond["message"].as_str()?.to_owned(),
    ))
}

/// 1 and 2: a commit converges (served by `git daemon`, git://); a bad commit is rejected
/// whole with the commit and file:line on the status, the running container untouched; a
/// good commit after it converges and clears the rejection.
#[test]
fn commits_converge_and_a_bad_commit_is_rejected_whole() {
    ensure_image();
    let repo = Repo::new();
    let stack = unique("gitc");
    let app = format!("{stack}-app-1");
    let c1 = repo.commit(&[("stack.yaml", stack_yaml(&stack, "1", None))]);
    let daemon = GitDaemon::start(repo.base.path());
    let ctl = Controller::start(&repo, &daemon.url("repo.git"), &["--poll", "1s"]);

    wait_for(CONVERGE, "v1 running", || runs_version(&app, "1").then_some(()));
    wait_for(CONVERGE, "observed revision c1", || {
        (observed_revision(&ctl, &stack)? == short(&c1)).then_some(())
    });
    assert_eq!(
        inspect(&app, "{{index .Config.Labels \"aegis.dev/revision\"}}"),
        short(&c1)
    );
    let id = container_id(&app);
    let checkouts = ctl.state.path().join("state/checkouts");
    assert!(checkouts.join(&c1).join("stack.yaml").is_file());
    assert!(ctl.state.path().join("state/git").is_dir());

    // A bad commit: the new env and an undeclared dependency.
    let bad = repo.commit(&[("stack.yaml", stack_yaml(&stack, "2", Some("Network/nope")))]);
    let (status, reason, message) = wait_for(CONVERGE, "the rejection on the status", || {
        stalled(&ctl, &stack).filter(|(_, r, _)| r == "RevisionRejected")
    });
    assert_eq!(status, "True");
    assert!(
        message.starts_with(&format!("revision {} rejected: stack.yaml:", short(&bad))),
        "{message}"
    );
    assert!(message.contains("Network/nope"), "{message}");
    assert_eq!(reason, "RevisionRejected");
    // The poller has moved on from the bad commit: whatever it was going to do, it did.
    ctl.wait_fetch_after_now(CONVERGE);
    assert_eq!(container_id(&app), id, "the running container is untouched");
    assert!(runs_version(&app, "1"));
    assert_eq!(observed_revision(&ctl, &stack).unwrap(), short(&c1));

    let (ok, get) = ctl.aegisctl(&["get", "stacks"]);
    eprintln!("aegisctl get stacks:\n{get}");
    assert!(ok, "{get}");
    assert!(get.contains("RevisionRejected"), "{get}");
    assert!(
        get.contains(&format!("revision {} rejected: stack.yaml:", short(&bad))),
        "{get}"
    );
    assert!(
        get.contains(short(&c1)),
        "REVISION still shows the running commit:\n{get}"
    );
    // The source itself says so, and `get` warns about it.
    assert!(
        get.contains(&format!("warning: source git://127.0.0.1:{}", daemon.port)),
        "{get}"
    );
    let (ok, source) = ctl.aegisctl(&["get", "source"]);
    eprintln!("aegisctl get source:\n{source}");
    assert!(ok, "{source}");
    assert!(
        source.contains("False") && source.contains("RevisionRejected"),
        "{source}"
    );
    assert!(
        source.contains(&c1[..7]),
        "REVISION is the running commit:\n{source}"
    );
    assert!(
        source.contains("the last good revision keeps running"),
        "{source}"
    );
    let (ok, describe) = ctl.aegisctl(&["describe", "stack", &stack]);
    assert!(ok, "{describe}");
    assert!(
        describe.contains("RevisionRejected") && describe.contains(short(&bad)),
        "{describe}"
    );

    // A good commit converges and clears the rejection.
    let c3 = repo.commit(&[("stack.yaml", stack_yaml(&stack, "3", None))]);
    wait_for(CONVERGE, "v3 running", || runs_version(&app, "3").then_some(()));
    wait_for(CONVERGE, "observed revision c3 and no stall", || {
        let rev = observed_revision(&ctl, &stack)?;
        let (status, _, _) = stalled(&ctl, &stack)?;
        (rev == short(&c3) && status == "False").then_some(())
    });
    let (_, source) = ctl.aegisctl(&["get", "source", "-o", "json"]);
    let source: serde_json::Value = serde_json::from_str(&source).expect("get source -o json");
    assert_eq!(source["revision"], c3.as_str(), "{source}");
    assert!(source.get("rejected").is_none(), "{source}");
    // Old checkouts are collected: the running one stays.
    wait_for(Duration::from_secs(10), "old checkouts collected", || {
        (!checkouts.join(&c1).exists() && checkouts.join(&c3).is_dir()).then_some(())
    });
    drop(ctl);
}

/// A first revision that is invalid has no resource to carry the rejection: `get source`
/// shows it with file:line, `get stacks` warns, and a fixed commit converges.
#[test]
fn an_invalid_first_revision_shows_on_the_source() {
    ensure_image();
    let repo = Repo::new();
    let stack = unique("gitfirst");
    let bad = repo.commit(&[("stack.yaml", stack_yaml(&stack, "1", Some("Network/nope")))]);
    let url = format!("file://{}", repo.base.path().join("repo.git").display());
    let ctl = Controller::start_unready(&repo, &url, &["--poll", "1s"]);

    let source = wait_for(CONVERGE, "the rejection on the source", || {
        let (ok, out) = ctl.aegisctl(&["get", "source"]);
        (ok && out.contains("RevisionRejected")).then_some(out)
    });
    eprintln!("aegisctl get source:\n{source}");
    assert!(
        source.contains(&format!("revision {} rejected: stack.yaml:", &bad[..12])),
        "{source}"
    );
    assert!(
        source.contains("Network/nope") && source.contains("no revision was accepted yet"),
        "{source}"
    );
    let (ok, get) = ctl.aegisctl(&["get", "stacks"]);
    assert!(ok, "{get}");
    assert!(
        get.contains("warning: source file://") && get.contains("No stacks found."),
        "{get}"
    );

    let good = repo.commit(&[("stack.yaml", stack_yaml(&stack, "2", None))]);
    wait_for(CONVERGE, "v2 running", || {
        runs_version(&format!("{stack}-app-1"), "2").then_some(())
    });
    let (ok, source) = ctl.aegisctl(&["get", "source"]);
    assert!(
        ok && source.contains("True") && source.contains(&good[..7]),
        "{source}"
    );
    let (_, get) = ctl.aegisctl(&["get", "stacks"]);
    assert!(!get.contains("warning:"), "{get}");
}

/// 3: with a 10-minute poll, a signed GitHub push webhook makes the controller fetch at once;
/// a bad signature is 401 and triggers nothing; pushes of other refs are ignored.
#[test]
fn webhook_triggers_a_fetch_at_once() {
    ensure_image();
    let repo = Repo::new();
    let stack = unique("gitw");
    let app = format!("{stack}-app-1");
    repo.commit(&[("stack.yaml", stack_yaml(&stack, "1", None))]);
    let ctl = Controller::start(&repo, &repo.file_url(), &["--poll", "10m"]);
    wait_for(CONVERGE, "v1 running", || runs_version(&app, "1").then_some(()));

    let c2 = repo.commit(&[("stack.yaml", stack_yaml(&stack, "2", None))]);
    let (code, body) = ctl.github_push("wrong-secret");
    assert_eq!(code, 401, "{body}");
    let (code, body) = ctl.request(
        "POST",
        "/api/v1/webhook",
        &[("X-GitHub-Event", "push")],
        r#"{"ref":"refs/heads/main"}"#,
    );
    assert_eq!(code, 401, "unsigned: {body}");

    // GitLab style, another branch: verified but ignored.
    let (code, body) = ctl.request(
        "POST",
        "/api/v1/webhook",
        &[
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Token", WEBHOOK_SECRET),
        ],
        r#"{"ref":"refs/heads/dev"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("ignored"), "{body}");

    let (code, body) = ctl.github_push(WEBHOOK_SECRET);
    assert_eq!(code, 202, "{body}");
    wait_for(Duration::from_secs(15), "v2 running after the webhook", || {
        runs_version(&app, "2").then_some(())
    });
    wait_for(Duration::from_secs(10), "observed revision c2", || {
        (observed_revision(&ctl, &stack)? == short(&c2)).then_some(())
    });
    // The 401s and the ignored push did not wake the poller (with a 10 minute poll, the one
    // wake is the signed push's): counted, not slept on.
    assert_eq!(
        ctl.log_count("woken by the webhook"),
        1,
        "a rejected or ignored webhook woke the poller:\n{}",
        ctl.log()
    );
}

/// 5: the one-shot commands clone into a temporary directory: `--ref` with a tag and with a
/// commit pin, `--path` for a subdirectory, over git:// and file://.
#[test]
fn one_shot_commands_with_ref_tag_commit_pin_and_path() {
    ensure_image();
    let repo = Repo::new();
    let stack = unique("gito");
    let app = format!("{stack}-app-1");
    let c1 = repo.commit(&[
        ("hosts/local/stack.yaml", stack_yaml(&stack, "1", None)),
        ("README.md", "not a manifest\n".into()),
    ]);
    repo.tag("v1");
    let c2 = repo.commit(&[("hosts/local/stack.yaml", stack_yaml(&stack, "2", None))]);
    let daemon = GitDaemon::start(repo.base.path());
    let git_url = daemon.url("repo.git");
    let file_url = repo.file_url();
    let with = |cmd: &str, url: &str, reference: Option<&str>| {
        let mut a = vec![cmd.to_string(), "--source".into(), url.to_string()];
        if let Some(r) = reference {
            a.extend(["--ref".into(), r.to_string()]);
        }
        a.extend(["--path".into(), "hosts/local".into()]);
        a
    };

    let o = aegis(&with("validate", &git_url, Some("v1")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("revision {}", short(&c1))),
        "{}",
        text(&o)
    );
    let o = aegis(&with("validate", &file_url, None));
    assert!(
        text(&o).contains(&format!("revision {}", short(&c2))),
        "{}",
        text(&o)
    );

    // Apply the commit pin (short id), then diff against it (no change) and main (a change).
    let mut apply_args = with("apply", &git_url, Some(&c1[..10]));
    apply_args.extend(["--instance".into(), repo.src.instance.clone()]);
    let o = aegis(&apply_args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(runs_version(&app, "1"));
    let diff = |reference: &str| {
        let mut a = with("diff", &file_url, Some(reference));
        a.extend(["--instance".into(), repo.src.instance.clone()]);
        aegisctl(&a)
    };
    let o = diff(&c1);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = diff("main");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // Without --path the root has no manifests for this stack; a wrong ref is an error.
    let o = aegis(&["validate", "--source", &file_url, "--ref", "nope"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a wrong --ref is a usage error: {}",
        text(&o)
    );
    assert!(text(&o).contains("--ref nope"), "{}", text(&o));
}

/// 5: the controller follows a tag: a push to main does not move it, moving the tag does.
#[test]
fn controller_follows_a_tag() {
    ensure_image();
    let repo = Repo::new();
    let stack = unique("gitt");
    let app = format!("{stack}-app-1");
    repo.commit(&[("sub/stack.yaml", stack_yaml(&stack, "1", None))]);
    repo.tag("prod");
    let ctl = Controller::start(
        &repo,
        &repo.file_url(),
        &["--poll", "1s", "--ref", "prod", "--path", "sub"],
    );
    wait_for(CONVERGE, "v1 running", || runs_version(&app, "1").then_some(()));
    let c2 = repo.commit(&[("sub/stack.yaml", stack_yaml(&stack, "2", None))]);
    // A fetch has seen the push to main: the tag did not move, so nothing changes.
    ctl.wait_fetch_after_now(CONVERGE);
    assert!(runs_version(&app, "1"), "main moved, the tag did not");
    git(repo.src.path(), &["tag", "-f", "prod"]);
    git(repo.src.path(), &["push", "-q", "-f", "origin", "prod"]);
    wait_for(CONVERGE, "v2 running after the tag moved", || {
        runs_version(&app, "2").then_some(())
    });
    wait_for(Duration::from_secs(10), "observed revision c2", || {
        (observed_revision(&ctl, &stack)? == short(&c2)).then_some(())
    });
}
