//! The fault suite's own Docker engine: `scripts/engine2.sh` with its own state dir, port,
//! bridge and subnet, so the suite may restart it (the shared engine 2 and the machine's
//! engine are never touched). `scripts/faults.sh` starts it; the suite only restarts it.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Command, Output},
};

use crate::support::{repo_root, text};

/// Defaults of `scripts/faults.sh`; each can be overridden with the same variable.
const DEFAULTS: [(&str, &str); 4] = [
    ("AEGIS_E2_DIR", "/tmp/aegis-faults-engine"),
    ("AEGIS_E2_PORT", "23790"),
    ("AEGIS_E2_BRIDGE", "aegis-f3"),
    ("AEGIS_E2_BRIDGE_ADDR", "10.202.250.1/24"),
];

pub struct Engine {
    env: Vec<(String, String)>,
    /// The engine's own socket (the proxy forwards to it; the test inspects through it).
    pub sock: PathBuf,
}

impl Engine {
    /// The engine, started if it is not running (`None` with a notice when this machine cannot
    /// run a second dockerd; under CI that fails).
    pub fn acquire() -> Option<Self> {
        let env: Vec<(String, String)> = DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), std::env::var(k).unwrap_or_else(|_| v.to_string())))
            .collect();
        let dir = env[0].1.clone();
        let e = Self {
            env,
            sock: PathBuf::from(dir).join("docker.sock"),
        };
        let o = e.script(&["start"]);
        if o.status.code() == Some(3) {
            assert!(
                !crate::support::under_ci(),
                "the fault engine cannot run under CI: {}",
                text(&o)
            );
            eprintln!(
                "SKIP faults: no second Docker engine on this machine: {}",
                text(&o)
            );
            return None;
        }
        assert!(
            o.status.success(),
            "scripts/engine2.sh start failed:\n{}",
            text(&o)
        );
        Some(e)
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(repo_root().join("scripts/engine2.sh"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run scripts/engine2.sh")
    }

    /// SIGTERM to dockerd, wait for it to exit (the script does), then start it again.
    pub fn stop(&self) {
        let o = self.script(&["stop"]);
        assert!(
            o.status.success(),
            "scripts/engine2.sh stop failed:\n{}",
            text(&o)
        );
    }

    pub fn start(&self) {
        let o = self.script(&["start"]);
        assert!(
            o.status.success(),
            "scripts/engine2.sh start failed:\n{}",
            text(&o)
        );
    }

    pub fn docker_output(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .output()
            .expect("run docker")
    }

    /// `docker ARGS` on this engine, asserting success; trimmed stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        let o = self.docker_output(args);
        assert!(
            o.status.success(),
            "docker {args:?} on the fault engine: {}",
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// One line per object of `what` (`ps -a`, `network ls`, `volume ls`, `image ls`) in
    /// `format`, sorted.
    pub fn lines(&self, what: &[&str], format: &str) -> Vec<String> {
        let mut args = what.to_vec();
        args.extend(["--no-trunc", "--format", format]);
        if what == ["volume", "ls"] {
            args.retain(|a| *a != "--no-trunc");
        }
        let mut v: Vec<String> = self.docker(&args).lines().map(String::from).collect();
        v.sort();
        v
    }

    /// Every container (all states) as `name -> (id, state, labels json)`.
    pub fn containers(&self) -> BTreeMap<String, Container> {
        let ids = self.docker(&["ps", "-aq", "--no-trunc"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return BTreeMap::new();
        }
        let mut args = vec![
            "inspect",
            "-f",
            "{{.Name}}\t{{.Id}}\t{{.State.Status}}\t{{json .Config.Labels}}\t{{json .Config.Env}}",
        ];
        args.extend(ids.iter().copied());
        // A container may go between `ps` and `inspect` (the controller works meanwhile).
        let o = self.docker_output(&args);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(5, '\t');
                let name = f.next()?.trim_start_matches('/').to_string();
                let c = Container {
                    id: f.next()?.to_string(),
                    state: f.next()?.to_string(),
                    labels: serde_json::from_str(f.next()?).unwrap_or_default(),
                    env: serde_json::from_str::<Option<Vec<String>>>(f.next()?)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                };
                Some((name, c))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub env: Vec<String>,
}
