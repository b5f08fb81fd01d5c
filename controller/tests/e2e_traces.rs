//! OTLP traces end to end: a real controller (and a one-shot `aegis apply`) against the
//! real engine, exporting to a real OTLP receiver in this test (the collector's gRPC
//! `TraceService`, and `POST /v1/traces` over HTTP/protobuf).
//!
//! Asserted: one trace per reconcile with the reconcile as its root; the phases (observe,
//! plan, execute), the steps (`container.create`, `network.create`) and the Docker API calls
//! as children; a health gate deferred to a later reconcile (a trace of its own); the attributes (host, kind, name, revision, spec hash);
//! errors as span status; the service name; and that a SOPS secret's value is in no span.
//! The spans still buffered at SIGTERM are flushed before the controller exits.

#[path = "support/controller.rs"]
mod controller;
#[path = "support/otlp.rs"]
mod otlp;
mod sops_support;
mod support;

use std::time::Duration;

use controller::ControllerProc;
use otlp::{children, trace, tree, Receiver, RecvSpan, STATUS_ERROR};
use support::*;

/// The root reconcile span of `kind`/`name` whose trace has a span named `step`.
fn reconcile_with<'a>(spans: &'a [RecvSpan], kind: &str, name: &str, step: &str) -> Option<&'a RecvSpan> {
    spans.iter().find(|s| {
        s.name == "reconcile"
            && s.attr("aegis.kind") == Some(kind)
            && s.attr("aegis.name") == Some(name)
            && spans.iter().any(|c| c.trace_id == s.trace_id && c.name == step)
    })
}

fn only<'a>(spans: &[&'a RecvSpan], name: &str) -> &'a RecvSpan {
    let found: Vec<&&RecvSpan> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "expected one `{name}` span, got {}", found.len());
    found[0]
}

fn named<'a>(spans: &[&'a RecvSpan], name: &str) -> Vec<&'a RecvSpan> {
    spans.iter().copied().filter(|s| s.name == name).collect()
}

#[test]
fn the_controller_exports_one_trace_per_reconcile_over_grpc() {
    let Some(tools) = sops_support::tools("the_controller_exports_one_trace_per_reconcile_over_grpc") else {
        return;
    };
    ensure_image();
    let receiver = Receiver::start();
    let key = tools.keygen();
    let keydir = tempfile::tempdir().expect("tempdir");
    let keyfile = keydir.path().join("keys.txt");
    std::fs::write(&keyfile, format!("{}\n", key.identity)).expect("write key");

    let src = Source::new();
    let net = unique("trnet");
    let stack = unique("trace");
    let bad = unique("trbad");
    let secret = unique("s3cr3t-value");
    let service = unique("aegis-test");

    // The secret: a real `sops`-encrypted dotenv file.
    let app_dir = src.path().join("app");
    std::fs::create_dir_all(&app_dir).expect("mkdir");
    std::fs::write(app_dir.join("plain.env"), format!("API_TOKEN={secret}\n")).expect("write");
    let enc = tools.encrypt(
        &app_dir,
        "plain.env",
        &[
            "--age",
            &key.recipient,
            "--input-type",
            "dotenv",
            "--output-type",
            "dotenv",
        ],
    );
    std::fs::remove_file(app_dir.join("plain.env")).expect("no plaintext in the repo");
    std::fs::write(app_dir.join(".sops.env"), enc).expect("write");

    src.write(
        "aegis.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {net}}}\nspec: {{driver: bridge}}\n---\n\
             {MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  compose: app/compose.yaml\n\
             \x20 dependsOn: [Network/{net}]\n  secrets:\n    - sopsEnv: app/.sops.env\n---\n\
             {MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {bad}}}\nspec:\n  services:\n    broken:\n\
             \x20     image: {IMAGE}\n      command: [/no/such/program]\n"
        ),
    );
    src.write(
        "app/compose.yaml",
        &format!(
            "services:\n  db:\n    image: {IMAGE}\n    command: [sleep, \"3600\"]\n    stop_signal: SIGKILL\n\
             \x20   healthcheck: {{test: [CMD, \"true\"], interval: 1s, timeout: 2s, retries: 3}}\n\
             \x20   networks: [{net}]\n\
             \x20 app:\n    image: {IMAGE}\n    command: [sleep, \"3600\"]\n    stop_signal: SIGKILL\n\
             \x20   networks: [{net}]\n    depends_on:\n      db: {{condition: service_healthy}}\n\
             networks:\n  {net}: {{external: true}}\n"
        ),
    );

    let endpoint = format!("http://{}", receiver.grpc);
    let mut ctl = ControllerProc::start_with(
        &src,
        &[
            "--age-key-file",
            &keyfile.to_string_lossy(),
            "--otlp-endpoint",
            &endpoint,
            "--otlp-protocol",
            "grpc",
            "--service-name",
            &service,
        ],
    );
    let ready = ctl.wait_ready_status("stacks", &stack, None, Duration::from_secs(60));
    let revision = ready.observed_revision.clone().expect("a revision");
    // The broken stack fails (its container cannot start) and keeps failing.
    ctl.wait_for(Duration::from_secs(30), "the broken stack to fail", || {
        ctl.status("stacks", &bad).filter(|s| s.last_error.is_some())
    });
    // Drift: the repair is a reconcile of its own, so a trace of its own.
    let app_container = format!("{stack}-app-1");
    let first_app_id = container_id(&app_container);
    docker(&["rm", "-f", &app_container]);
    ctl.wait_for(Duration::from_secs(20), "the drift repair", || {
        docker_ok(&["inspect", &app_container])
            .then(|| container_id(&app_container))
            .filter(|id| *id != first_app_id)
    });
    let app_hash = inspect(&app_container, "{{index .Config.Labels \"aegis.dev/spec-hash\"}}");
    // SIGTERM: the spans still in the batch are flushed before the process exits.
    ctl.sigterm();

    let spans = receiver.spans();
    assert!(!spans.is_empty(), "no span received");
    assert!(spans.iter().all(|s| s.via == "grpc"));
    for s in &spans {
        assert_eq!(s.resource.get("service.name"), Some(&service), "{s:?}");
        assert!(
            !s.all_text().contains(&secret),
            "a span shows the secret value: {s:?}"
        );
    }

    // One trace per reconcile: every reconcile span is a root, alone in its trace.
    let roots: Vec<&RecvSpan> = spans.iter().filter(|s| s.name == "reconcile").collect();
    assert!(roots.len() >= 4, "{} reconcile spans", roots.len());
    for r in &roots {
        assert!(r.parent_id.is_empty(), "a reconcile span has a parent: {r:?}");
        assert_eq!(
            roots.iter().filter(|o| o.trace_id == r.trace_id).count(),
            1,
            "two reconciles share trace {}",
            r.trace_id
        );
    }
    // Every span belongs to a reconcile's tree: no orphan roots (a step spawned without
    // its parent's context would start a trace of its own).
    for s in &spans {
        if s.parent_id.is_empty() {
            assert_eq!(s.name, "reconcile", "a root span that is not a reconcile: {s:?}");
        } else {
            assert!(
                spans
                    .iter()
                    .any(|p| p.span_id == s.parent_id && p.trace_id == s.trace_id),
                "span {} has no parent in its trace",
                s.name
            );
        }
    }

    // The stack's first converge creates the db; the app waits for the db's health in a
    // later reconcile (the controller never waits for health inside a reconcile).
    let db_container = format!("{stack}-db-1");
    let creating = |object: &str| {
        spans.iter().find(|s| {
            s.name == "reconcile"
                && s.attr("aegis.name") == Some(stack.as_str())
                && spans.iter().any(|c| {
                    c.trace_id == s.trace_id
                        && c.name == "container.create"
                        && c.attr("object") == Some(object)
                })
        })
    };
    let root = creating(&db_container).expect("the stack's converge trace");
    let t = trace(&spans, &root.trace_id);
    println!(
        "trace of the first converge of Stack/{stack}:\n{}",
        tree(&t, root)
    );
    assert_eq!(root.attr("aegis.host"), Some("local"));
    assert_eq!(root.attr("aegis.kind"), Some("Stack"));
    assert_eq!(root.attr("aegis.name"), Some(stack.as_str()));
    assert_eq!(root.attr("aegis.revision"), Some(revision.as_str()));
    assert_ne!(root.status_code, STATUS_ERROR);
    let phases: Vec<&str> = children(&t, root).iter().map(|s| s.name.as_str()).collect();
    for phase in ["observe", "plan", "execute"] {
        assert!(phases.contains(&phase), "no {phase} under the root: {phases:?}");
    }
    // Planned from the host's view, or (no view yet) from a listing under the span.
    let observe = named(&t, "observe")[0];
    match observe.attr("aegis.source") {
        Some("view") => {}
        Some("list") => assert!(
            children(&t, observe)
                .iter()
                .any(|c| c.name == "docker.list_containers"),
            "observe lists containers"
        ),
        other => panic!("observe without its source: {other:?}"),
    }
    let plan = only(&t, "plan");
    assert_eq!(plan.attr("aegis.steps"), Some("2"), "db and app planned");
    let execute = only(&t, "execute");
    let steps = children(&t, execute);
    let db_create = steps
        .iter()
        .find(|s| s.name == "container.create" && s.attr("object") == Some(db_container.as_str()))
        .expect("the db's create step");
    assert!(
        !named(&t, "container.create")
            .iter()
            .any(|s| s.attr("object") == Some(app_container.as_str())),
        "the app was created in the db's pass, before the db was healthy"
    );
    assert!(
        named(&t, "health.wait").is_empty(),
        "a reconcile waited for health"
    );
    let app_root = spans
        .iter()
        .filter(|s| s.name == "reconcile" && s.trace_id != root.trace_id)
        .find(|s| {
            s.attr("aegis.name") == Some(stack.as_str())
                && spans.iter().any(|c| {
                    c.trace_id == s.trace_id
                        && c.name == "container.create"
                        && c.attr("object") == Some(app_container.as_str())
                        && c.attr("aegis.spec_hash") == Some(app_hash.as_str())
                })
        })
        .expect("the app's create, in a later reconcile");
    let at = trace(&spans, &app_root.trace_id);
    let app_create = named(&at, "container.create")
        .into_iter()
        .find(|s| s.attr("object") == Some(app_container.as_str()))
        .expect("the app's create step");
    // The app starts only after the db's pass.
    assert!(
        app_create.start_ns >= db_create.end_ns,
        "app created before the db"
    );
    let calls: Vec<&str> = children(&at, app_create)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for call in ["docker.create_container", "docker.start_container"] {
        assert!(
            calls.contains(&call),
            "{call} not under container.create: {calls:?}"
        );
    }
    for c in children(&at, app_create) {
        assert_eq!(c.attr("aegis.host"), Some("local"));
    }

    // The network's reconcile: network.create → docker.create_network.
    let net_root = reconcile_with(&spans, "Network", &net, "network.create").expect("the network's trace");
    let nt = trace(&spans, &net_root.trace_id);
    let create_net = only(&nt, "network.create");
    assert!(create_net.attr("aegis.spec_hash").is_some_and(|h| h.len() == 64));
    assert_eq!(children(&nt, create_net)[0].name, "docker.create_network");

    // The drift repair: a later trace of the same stack that creates only the app.
    let repair = spans
        .iter()
        .filter(|s| {
            s.name == "reconcile"
                && s.attr("aegis.name") == Some(stack.as_str())
                && s.trace_id != root.trace_id
                && s.trace_id != app_root.trace_id
        })
        .find(|r| named(&trace(&spans, &r.trace_id), "container.create").len() == 1)
        .expect("the drift repair's trace");
    println!(
        "trace of the drift repair:\n{}",
        tree(&trace(&spans, &repair.trace_id), repair)
    );

    // The failure: an ERROR status on the reconcile, its step and the Docker call.
    let failed = reconcile_with(&spans, "Stack", &bad, "container.create").expect("the broken stack's trace");
    let ft = trace(&spans, &failed.trace_id);
    println!("trace of a failed reconcile:\n{}", tree(&ft, failed));
    assert_eq!(failed.status_code, STATUS_ERROR, "{failed:?}");
    let step = only(&ft, "container.create");
    assert_eq!(step.status_code, STATUS_ERROR);
    assert!(
        step.status_message.contains("no/such/program"),
        "{}",
        step.status_message
    );
    let start = named(&ft, "docker.start_container");
    assert!(
        start.iter().any(|s| s.status_code == STATUS_ERROR),
        "the failed start call is marked"
    );
    // A Docker call that answered 404 is a normal answer, not a failure.
    for s in &spans {
        if s.attr("http.response.status_code") == Some("404") {
            assert_ne!(s.status_code, STATUS_ERROR, "{s:?}");
        }
    }
}

#[test]
fn apply_exports_over_http_protobuf_from_the_environment() {
    ensure_image();
    let receiver = Receiver::start();
    let src = Source::new();
    let stack = unique("trhttp");
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  services:\n    web:\n\
             \x20     image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_signal: SIGKILL\n"
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(src.args("apply"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", receiver.http))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_SERVICE_NAME", "aegis-apply-test")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .output()
        .expect("run aegis apply");
    assert!(out.status.success(), "{}", text(&out));
    // apply flushes before it exits: everything is there once it has.
    let spans = receiver.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "apply" && s.parent_id.is_empty())
        .unwrap_or_else(|| panic!("no apply root span in {spans:?}"));
    assert!(spans.iter().all(|s| s.via == "http"));
    assert_eq!(
        root.resource.get("service.name").map(String::as_str),
        Some("aegis-apply-test")
    );
    assert_eq!(root.attr("aegis.host"), Some("local"));
    let t = trace(&spans, &root.trace_id);
    println!("trace of `aegis apply`:\n{}", tree(&t, root));
    let create = only(&t, "container.create");
    assert_eq!(create.attr("object"), Some(format!("{stack}-web-1").as_str()));
    assert!(children(&t, create)
        .iter()
        .any(|c| c.name == "docker.create_container"));
}

/// A one-shot apply of a critical Stack's change: its commit-confirmed attempt is a `confirm`
/// span (host, kind, name, revision, spec hash, outcome) under the `apply.critical` root,
/// with the watchdog's start as its `watchdog.start` child; a rolled-back attempt's `confirm`
/// span is failed.
#[test]
fn a_commit_confirmed_attempt_is_a_confirm_span_with_its_watchdog_start() {
    ensure_image();
    let src = Source::new();
    let stack = unique("trcrit");
    let write = |cmd: &str| {
        src.write(
            "stack.yaml",
            &format!(
                "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  critical: true\n\
                 \x20 confirmTimeout: 10s\n  services:\n    web:\n      image: {IMAGE}\n\
                 \x20     command: {cmd}\n      stop_signal: SIGKILL\n\
                 \x20     healthcheck: {{test: [CMD, \"true\"], interval: 1s, timeout: 1s, retries: 1}}\n"
            ),
        );
    };
    let apply = |receiver: &Receiver| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
            .args(src.args("apply"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", receiver.http))
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .output()
            .expect("run aegis apply")
    };
    write("[sleep, \"3600\"]");
    let first = Receiver::start();
    let out = apply(&first);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !first
            .spans()
            .iter()
            .any(|s| s.name == "confirm" || s.name == "apply.critical"),
        "a first create is not commit-confirmed"
    );

    // A change: confirmed.
    write("[sleep, \"3601\"]");
    let good = Receiver::start();
    let out = apply(&good);
    assert!(out.status.success(), "{}", text(&out));
    let spans = good.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "apply.critical" && s.parent_id.is_empty())
        .unwrap_or_else(|| panic!("no apply.critical root in {spans:?}"));
    let t = trace(&spans, &root.trace_id);
    println!("trace of the critical tail:\n{}", tree(&t, root));
    let confirm = only(&t, "confirm");
    assert_eq!(
        confirm.parent_id, root.span_id,
        "confirm is a child of apply.critical"
    );
    assert_eq!(confirm.attr("aegis.host"), Some("local"));
    assert_eq!(confirm.attr("aegis.kind"), Some("Stack"));
    assert_eq!(confirm.attr("aegis.name"), Some(stack.as_str()));
    assert_eq!(confirm.attr("aegis.revision"), root.attr("aegis.revision"));
    assert!(confirm.attr("aegis.revision").is_some_and(|r| !r.is_empty()));
    assert!(
        confirm.attr("aegis.spec_hash").is_some_and(|h| h.len() >= 12),
        "{confirm:?}"
    );
    assert_eq!(confirm.attr("object"), Some(format!("{stack}-web-1").as_str()));
    assert_eq!(confirm.attr("aegis.outcome"), Some("confirmed"));
    assert_ne!(confirm.status_code, STATUS_ERROR);
    let watchdog = only(&children(&t, confirm), "watchdog.start");
    assert_eq!(watchdog.attr("aegis.host"), Some("local"));
    assert!(
        children(&t, watchdog)
            .iter()
            .any(|c| c.name == "docker.create_container"),
        "{}",
        tree(&t, root)
    );

    // A change whose container exits: rolled back by the apply, the span failed.
    write("[sh, -c, \"exit 1\"]");
    let bad = Receiver::start();
    let out = apply(&bad);
    assert!(!out.status.success(), "{}", text(&out));
    let spans = bad.spans();
    let confirm = spans
        .iter()
        .find(|s| s.name == "confirm")
        .unwrap_or_else(|| panic!("no confirm span in {spans:?}"));
    assert_eq!(confirm.attr("aegis.outcome"), Some("rolled-back"));
    assert_eq!(confirm.status_code, STATUS_ERROR);
    assert!(
        confirm.status_message.contains("rolled back"),
        "{}",
        confirm.status_message
    );
}
