//! aegis updating its own container (issue 8, part 4): the controller runs in a container of
//! the agent image (aegis's own executable), declared in a `critical: true` Stack that it
//! reconciles itself. Changing that Stack is commit-confirmed like any critical change: the
//! watchdog stops the running controller and starts the new one, which must come up and
//! confirm (its recovery finds the attempt and confirms it with the key in the shared state
//! directory). A new controller that does not come up is never confirmed: the watchdog
//! restores the old one, which finds the rollback and stalls the Stack (`RolledBack`) without
//! trying that spec again.

#[path = "mgmt_support/mod.rs"]
mod mgmt_support;
mod support;

use std::time::{Duration, Instant};

use aegis::status::{ConditionStatus, ConditionType, EventReason, ResourceStatus};
use mgmt_support::{
    docker_at, ensure_busybox, free_port, inspect, printed_agent_image, text, unique, wait_until, watchdogs,
    Instance, HOST_A,
};

const LONG: Duration = Duration::from_secs(180);

struct Ctl {
    dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
    port: u16,
    stack: String,
    tag: String,
    instance: String,
}

impl Ctl {
    fn container(&self) -> String {
        format!("{}-aegis-1", self.stack)
    }

    fn token(&self) -> String {
        self.scratch.path().join("token").display().to_string()
    }

    /// The source: host `a` (this engine) and the controller's own Stack. `extra` goes to the
    /// controller's command line.
    fn write(&self, extra: &[&str]) {
        let dir = self.dir.path().display();
        let scratch = self.scratch.path().display();
        let mut cmd: Vec<String> = [
            "controller",
            "--source",
            &dir.to_string(),
            "--state-dir",
            &format!("{scratch}/state"),
            "--instance",
            &self.instance,
            "--token-file",
            &self.token(),
            "--api",
            &format!("127.0.0.1:{}", self.port),
            "--poll",
            "250ms",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cmd.extend(extra.iter().map(|s| s.to_string()));
        let cmd: Vec<String> = cmd.iter().map(|a| format!("\"{a}\"")).collect();
        let body = format!(
            r#"{HOST_A}---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {stack}}}
spec:
  host: a
  critical: true
  confirmTimeout: 20s
  services:
    aegis:
      image: "{tag}"
      network_mode: host
      environment: {{RUST_LOG: "aegis=info", NO_COLOR: "1"}}
      volumes:
        - "/var/run/docker.sock:/var/run/docker.sock"
        - "{dir}:{dir}:ro"
        - "{scratch}:{scratch}"
      command: [{cmd}]
"#,
            stack = self.stack,
            tag = self.tag,
            cmd = cmd.join(", "),
        );
        std::fs::write(self.dir.path().join("aegis.yaml"), body).expect("write source");
    }

    fn aegisctl(&self, args: &[&str]) -> std::process::Output {
        let server = format!("http://127.0.0.1:{}", self.port);
        let mut full = vec!["--server", &server, "--token-file"];
        let token = self.token();
        full.push(&token);
        full.extend(args);
        support::aegisctl(&full)
    }

    fn status(&self) -> Option<ResourceStatus> {
        let o = self.aegisctl(&["get", "stacks", "-o", "json"]);
        if !o.status.success() {
            return None;
        }
        let all: Vec<ResourceStatus> = serde_json::from_slice(&o.stdout).ok()?;
        all.into_iter().find(|s| s.name == self.stack)
    }

    fn logs(&self) -> String {
        text(&docker_at(None, &["logs", "--tail", "60", &self.container()]))
    }

    fn wait<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let mut out = None;
        let t = Instant::now();
        while t.elapsed() < LONG {
            out = f();
            if out.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        out.unwrap_or_else(|| panic!("timed out waiting for {what}\ncontroller log:\n{}", self.logs()))
    }
}

fn stalled(s: &ResourceStatus) -> Option<&str> {
    s.condition(ConditionType::Stalled)
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| c.reason.as_str())
}

#[test]
fn a_bad_controller_image_is_rolled_back_and_a_good_one_confirms_itself() {
    ensure_busybox();
    let inst = Instance::new(None);
    let (tag, _) = printed_agent_image();
    let ctl = Ctl {
        dir: tempfile::tempdir().expect("tempdir"),
        scratch: tempfile::Builder::new()
            .prefix("aegis-selfupd-")
            .tempdir()
            .expect("scratch"),
        port: free_port(),
        stack: unique("ctl"),
        tag,
        instance: inst.name.clone(),
    };
    std::fs::write(ctl.token(), format!("{}\n", unique("token"))).expect("token");
    std::fs::create_dir_all(ctl.scratch.path().join("state")).expect("state dir");

    // Bootstrap: a one-shot apply deploys the controller's container (agent image built
    // here, never pulled); from then on that controller manages itself.
    ctl.write(&[]);
    let o = support::aegis(&[
        "apply",
        "--source",
        &ctl.dir.path().display().to_string(),
        "--instance",
        &inst.name,
    ]);
    assert!(o.status.success(), "bootstrap apply failed:\n{}", text(&o));
    let first = ctl.wait("the controller in its container to own its Stack", || {
        ctl.status()
            .filter(|s| s.ready() == ConditionStatus::True)
            .map(|_| inspect(None, &ctl.container(), "{{.Id}}"))
    });

    // A bad controller: it exits at once (an unknown flag), so nothing confirms.
    ctl.write(&["--no-such-flag"]);
    let t = Instant::now();
    wait_until("the watchdog", LONG, || !watchdogs(None, &inst.name).is_empty());
    let s = ctl.wait("the old controller back, its Stack RolledBack", || {
        ctl.status().filter(|s| stalled(s) == Some("RolledBack"))
    });
    eprintln!(
        "MEASURED self-update with a bad controller (confirmTimeout 20s): old controller back and \
         reporting RolledBack {:.1}s after the source change",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        inspect(None, &ctl.container(), "{{.Id}} {{.State.Running}}"),
        format!("{first} true"),
        "the old controller container runs again"
    );
    assert!(s.message().contains("rolled back"), "{}", s.message());
    assert_eq!(s.rolled_back.len(), 1, "{:?}", s.rolled_back);
    wait_until("the watchdog removed", LONG, || {
        watchdogs(None, &inst.name).is_empty()
    });
    // Not retried: an operator's reconcile leaves it alone.
    let attempts = s
        .events
        .iter()
        .filter(|e| e.reason == EventReason::Confirming)
        .count();
    let _ = ctl.aegisctl(&["reconcile", "stack", &ctl.stack, "--timeout", "60s"]);
    let s = ctl.status().expect("status");
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.reason == EventReason::Confirming)
            .count(),
        attempts
    );
    assert_eq!(inspect(None, &ctl.container(), "{{.Id}}"), first);

    // A good new controller comes up, finds the attempt and confirms it itself.
    ctl.write(&["--resync", "4m"]);
    let s = ctl.wait("the new controller confirmed", || {
        ctl.status()
            .filter(|s| s.events.iter().any(|e| e.reason == EventReason::Confirmed) && stalled(s).is_none())
    });
    let new = inspect(None, &ctl.container(), "{{.Id}} {{.State.Running}}");
    assert_ne!(new, format!("{first} true"), "a new controller container runs");
    assert!(new.ends_with(" true"), "{new}");
    assert!(
        inspect(None, &ctl.container(), "{{json .Config.Cmd}}").contains("4m"),
        "the new controller"
    );
    wait_until("the watchdog removed", LONG, || {
        watchdogs(None, &inst.name).is_empty()
    });
    eprintln!(
        "events: {:?}",
        s.events.iter().map(|e| e.message.as_str()).collect::<Vec<_>>()
    );
}
