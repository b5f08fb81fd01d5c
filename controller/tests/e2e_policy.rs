//! End to end: a revision that breaks a `Policy` is rejected whole by `aegis apply`,
//! `aegis validate`, `aegisctl diff` and the controller, and nothing on the host changes;
//! security warnings of an accepted revision show in `aegis validate` and in the source's
//! status. Real engine, unique names, cleaned up by the `Source` guard.

mod support;

#[path = "support/controller.rs"]
mod controller;

use std::time::Duration;

use aegis::status::{ConditionStatus, ConditionType, SourceStatus};
use controller::ControllerProc;
use support::*;

const CONVERGE: Duration = Duration::from_secs(60);

/// A two-network app: `web` on `front`, `db` on `back` only, guarded by a Policy that keeps
/// `db` off `front` and unpublished (the seed's "lldap never on pangolin-internal").
struct App {
    stack: String,
    front: String,
    back: String,
    port: u16,
}

impl App {
    fn new() -> Self {
        Self {
            stack: unique("pol"),
            front: unique("pol-front"),
            back: unique("pol-back"),
            port: free_port(),
        }
    }

    fn service(name: &str, env: &str, networks: &str, extra: &str) -> String {
        format!(
            "    {name}:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_grace_period: 1s\n      environment: {{V: \"{env}\"}}\n      networks: [{networks}]\n{extra}"
        )
    }

    /// The good revision (`violating: false`), or one that puts `db` on `front` while also
    /// changing `web` and adding a service: none of it may reach the host.
    fn write(&self, src: &Source, violating: bool) {
        let (front, back) = (&self.front, &self.back);
        let nets = format!(
            "{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {front}}}\nspec: {{}}\n---\n{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {back}}}\nspec: {{}}\n"
        );
        let ports = format!("      ports: [\"{}:80\"]\n", self.port);
        let services = if violating {
            [
                Self::service("web", "2", front, &ports),
                Self::service("db", "1", &format!("{back}, {front}"), ""),
                Self::service("extra", "1", back, ""),
            ]
            .concat()
        } else {
            [
                Self::service("web", "1", front, &ports),
                Self::service("db", "1", back, ""),
            ]
            .concat()
        };
        let stack = format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {}}}\nspec:\n  dependsOn: [Network/{front}, Network/{back}]\n  services:\n{services}  networks:\n    {front}: {{external: true}}\n    {back}: {{external: true}}\n",
            self.stack
        );
        let policy = format!(
            "{MANIFEST_HEAD}\nkind: Policy\nmetadata: {{name: segmentation}}\nspec:\n  networks:\n    - network: {front}\n      allow: [Stack/{s}/web]\n      deny: [Stack/{s}/db]\n  services:\n    - name: db-isolated\n      match: [Stack/{s}/db]\n      networks: [{back}]\n      publishOn: []\n",
            s = self.stack
        );
        src.write("nets.yaml", &nets);
        src.write("app.yaml", &stack);
        src.write("policy.yaml", &policy);
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.stack)
    }

    /// What the host holds for the app: container ids and each container's networks.
    fn snapshot(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.stack);
        let mut out: Vec<String> = docker(&[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.ID}} {{.Networks}} {{.State}}",
        ])
        .lines()
        .map(str::to_string)
        .collect();
        out.sort();
        out
    }

    /// The error line the rejection must contain: rule, resource, file:line, value.
    fn expected_error(&self) -> String {
        format!(
            "app.yaml:19: spec.services.db.networks[1]: Stack/{s} service db (container {s}-db-1) joins network `{f}`, which policy rule Policy/segmentation networks[{f}].deny (policy.yaml:8) forbids (`Stack/{s}/db`)",
            s = self.stack,
            f = self.front
        )
    }
}

#[test]
fn a_revision_rejected_by_policy_changes_nothing_on_the_host() {
    ensure_image();
    let src = Source::new();
    let app = App::new();
    app.write(&src, false);
    apply(&src);
    let before = app.snapshot();
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(before.iter().all(|l| l.ends_with(" running")), "{before:?}");

    app.write(&src, true);
    // validate: rejected, exit 3 (invalid source), the rule named.
    let o = validate(src.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains(&app.expected_error()), "{t}");
    // apply: rejected before it touches the host.
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "not like a partial apply (1): {t}");
    assert!(t.contains(&app.expected_error()), "{t}");
    assert!(t.contains("nothing was applied"), "{t}");
    // diff: an error, not "changes" (exit 1) or "no changes" (exit 0).
    let o = aegisctl(&src.args("diff"));
    let t = text(&o);
    assert_eq!(
        o.status.code(),
        Some(3),
        "diff must fail as an invalid source: {t}"
    );
    assert!(t.contains(&app.expected_error()), "{t}");

    let after = app.snapshot();
    assert_eq!(before, after, "the rejected revision changed the host");
    let env = inspect(&app.container("web"), "{{range .Config.Env}}{{println .}}{{end}}");
    assert!(env.lines().any(|l| l == "V=1"), "{env}");
    assert!(
        !docker_ok(&["inspect", &app.container("extra")]),
        "extra was created"
    );
}

#[test]
fn the_controller_rejects_a_violating_revision_and_lists_warnings_in_the_source_status() {
    ensure_image();
    let src = Source::new();
    let app = App::new();
    app.write(&src, false);
    let ctl = ControllerProc::start(&src);
    ctl.wait_ready_status("stacks", &app.stack, None, CONVERGE);
    let before = app.snapshot();
    assert_eq!(before.len(), 2, "{before:?}");

    // The accepted revision's warning: web publishes on every address, and no Policy rules
    // on web's ports.
    let source = |ctl: &ControllerProc| -> SourceStatus {
        let out = ctl.aegisctl_ok(&["get", "source", "-o", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let s = source(&ctl);
    let warning = format!(
        "app.yaml:13: spec.services.web.ports[0]: Stack/{s} service web (container {s}-web-1) publishes 0.0.0.0:{p}->80/tcp on every address of host local",
        s = app.stack,
        p = app.port
    );
    assert!(
        s.warnings.iter().any(|w| w.starts_with(&warning)),
        "{:#?}",
        s.warnings
    );
    assert_eq!(s.warnings.len(), 1, "{:#?}", s.warnings);
    let described = ctl.aegisctl_ok(&["describe", "source"]);
    assert!(
        described.contains(&format!("  warning: {warning}")),
        "{described}"
    );
    let table = ctl.aegisctl_ok(&["get", "source"]);
    assert!(table.contains("1 warning(s) in the running revision"), "{table}");

    app.write(&src, true);
    let rejected = ctl.wait_for(CONVERGE, "the violating revision to be rejected", || {
        source(&ctl).rejected
    });
    assert!(
        rejected.errors.iter().any(|e| e.contains(&app.expected_error())),
        "{:#?}",
        rejected.errors
    );
    let stack = ctl.wait_for(CONVERGE, "the stack to show the rejection", || {
        ctl.status("stacks", &app.stack).filter(|s| {
            s.condition(ConditionType::Stalled)
                .is_some_and(|c| c.status == ConditionStatus::True && c.reason == "RevisionRejected")
        })
    });
    let stalled = stack
        .condition(ConditionType::Stalled)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        stalled.contains("networks[") && stalled.contains("].deny"),
        "{stalled}"
    );
    let described = ctl.aegisctl_ok(&["describe", "source"]);
    assert!(
        described.contains(&format!("  error: {}", app.expected_error())),
        "{described}"
    );

    // A reconcile under the rejected revision still applies the last good one: nothing moves.
    ctl.aegisctl_ok(&["reconcile", "stack", &app.stack]);
    assert_eq!(before, app.snapshot(), "the rejected revision changed the host");
    // The running revision's warnings are still listed.
    assert_eq!(source(&ctl).warnings.len(), 1);
}
