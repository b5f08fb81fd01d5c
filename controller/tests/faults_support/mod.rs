//! The rig of the fault-injection suite (`tests/faults.rs`, run by `scripts/faults.sh`): the
//! suite's own engine, reached by the controller only through [`proxy::SockProxy`]; a git
//! source (`file://`) with one Host, one Network and three Stacks of ten containers; the real
//! controller process; bystanders on the engine that aegis must never touch; and the end
//! state every case must reach ([`Rig::check`]).
#![allow(dead_code)]

pub mod cases;
pub mod ctl;
pub mod end_state;
pub mod engine;
pub mod kills;
pub mod proxy;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{
    gitsupport::{git, Repo},
    sops_support::{self, Tools},
    support::{IMAGE, MANIFEST_HEAD},
};
use ctl::Ctl;
use engine::Engine;
use proxy::SockProxy;

pub const HOST: &str = "f";
pub const NETWORK: &str = "fa-net";
pub const STACKS: [&str; 3] = ["fa1", "fa2", "fa3"];
pub const SERVICES: usize = 10;
/// Subnets of this suite (its range is 10.202.x.0/24): the engine's bridge is .250.
const NETWORK_SUBNET: &str = "10.202.252.0/24";
const BYSTANDER_SUBNET: &str = "10.202.251.0/24";
/// How long any convergence may take before the suite calls it a hang.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(240);

pub struct Rig {
    pub engine: Engine,
    pub proxy: SockProxy,
    pub repo: Repo,
    pub ctl: Ctl,
    pub scratch: tempfile::TempDir,
    pub instance: String,
    /// `V` of each stack's containers in the newest good revision.
    pub versions: BTreeMap<String, u32>,
    /// The newest good commit, which every case must end on.
    pub revision: String,
    /// The sops tools and the age recipient of `fa3`'s secret, when available.
    pub sops: Option<(Tools, String)>,
    /// Every object on the engine that is not this instance's, as first seen.
    pub baseline: Vec<String>,
}

impl Rig {
    /// Starts the engine, the proxy, the bystanders, the first revision and the controller,
    /// and waits for the first convergence. `None` when the machine cannot run a second engine.
    pub fn new() -> Option<Self> {
        let engine = Engine::acquire()?;
        let scratch = tempfile::Builder::new()
            .prefix("aegis-faults-")
            .tempdir()
            .expect("scratch");
        let proxy = SockProxy::start(&scratch.path().join("f.sock"), &engine.sock);
        let repo = Repo::new();
        let instance = repo.src.instance.clone();
        let sops = sops_support::tools("faults: bad secret").map(|t| {
            let key = t.keygen();
            std::fs::write(scratch.path().join("age.key"), format!("{}\n", key.identity))
                .expect("write age key");
            (t, key.recipient)
        });
        let key_file = sops.as_ref().map(|_| scratch.path().join("age.key"));
        let ctl = Ctl::new(scratch.path(), &repo.file_url(), &instance, key_file);
        let mut rig = Self {
            engine,
            proxy,
            repo,
            ctl,
            scratch,
            instance,
            versions: STACKS.iter().map(|s| (s.to_string(), 1)).collect(),
            revision: String::new(),
            sops,
            baseline: Vec::new(),
        };
        rig.clean_leftovers();
        rig.bystanders();
        rig.baseline = rig.foreign_objects();
        rig.revision = rig.commit_versions();
        rig.ctl.start();
        rig.wait_converged("the first revision");
        Some(rig)
    }

    /// Objects a failed earlier run left: its aegis instances (named `it-…`) and bystanders.
    fn clean_leftovers(&self) {
        for c in self.engine.containers().into_iter().filter(|(n, c)| {
            n.starts_with("fa")
                || c.labels
                    .get("aegis.dev/instance")
                    .is_some_and(|i| i.starts_with("it-"))
        }) {
            self.engine.docker(&["rm", "-f", &c.1.id]);
        }
        for n in [NETWORK, "fa-bystander-net"] {
            let gone = |e: &Engine| {
                e.docker_output(&["network", "rm", n]);
                !e.docker_output(&["network", "inspect", n]).status.success()
            };
            if !gone(&self.engine) {
                // Seen after a run: no container on it, yet "has active endpoints" (a stale
                // endpoint in dockerd's own store). A daemon restart clears it; the engine is
                // the suite's own.
                eprintln!("faults: network {n} has a stale endpoint; restarting the suite's engine");
                self.engine.stop();
                self.engine.start();
                assert!(gone(&self.engine), "cannot remove the leftover network {n}");
            }
        }
        let _ = self.engine.docker_output(&["volume", "rm", "fa-bystander-vol"]);
    }

    /// What aegis must never touch: a container, network and volume it does not own, and a
    /// container of another aegis instance claiming the same resource name.
    fn bystanders(&self) {
        let e = &self.engine;
        e.docker(&[
            "network",
            "create",
            "--subnet",
            BYSTANDER_SUBNET,
            "--label",
            "faults=bystander",
            "fa-bystander-net",
        ]);
        e.docker(&[
            "volume",
            "create",
            "--label",
            "faults=bystander",
            "fa-bystander-vol",
        ]);
        e.docker(&[
            "run",
            "-d",
            "--name",
            "fa-bystander",
            "--restart",
            "always",
            "--stop-signal",
            "SIGKILL",
            "--label",
            "faults=bystander",
            "--network",
            "fa-bystander-net",
            "-v",
            "fa-bystander-vol:/data",
            IMAGE,
            "sleep",
            "86400",
        ]);
        e.docker(&[
            "run",
            "-d",
            "--name",
            "fa-other-instance",
            "--restart",
            "always",
            "--stop-signal",
            "SIGKILL",
            "--label",
            "aegis.dev/managed-by=aegis",
            "--label",
            "aegis.dev/instance=faults-other",
            "--label",
            &format!("aegis.dev/host={HOST}"),
            "--label",
            "aegis.dev/resource=Stack/fa1",
            "--label",
            "com.docker.compose.project=fa1",
            "--label",
            "com.docker.compose.service=c01",
            IMAGE,
            "sleep",
            "86400",
        ]);
    }

    // ---------------------------------------------------------------------------------
    // The source

    /// The manifests of the current versions (`files` overrides or adds files), committed and
    /// pushed; the commit id.
    pub fn commit_with(&self, extra: &[(&str, String)]) -> String {
        let mut files: Vec<(String, String)> = vec![("hosts.yaml".into(), self.hosts_yaml())];
        for s in STACKS {
            files.push((format!("{s}/stack.yaml"), self.stack_yaml(s)));
        }
        if let Some(env) = self.secret_file() {
            files.push(("fa3/.sops.env".into(), env));
        }
        for (k, v) in extra {
            files.retain(|(f, _)| f != k);
            files.push((k.to_string(), v.clone()));
        }
        let refs: Vec<(&str, String)> = files.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.repo.commit(&refs)
    }

    /// [`commit_with`](Self::commit_with) nothing extra.
    pub fn commit_versions(&self) -> String {
        self.commit_with(&[])
    }

    /// Bumps the version of `stacks` and commits; the new commit becomes the expected one.
    pub fn bump(&mut self, stacks: &[&str]) -> String {
        for s in stacks {
            *self.versions.get_mut(*s).expect("a suite stack") += 1;
        }
        self.revision = self.commit_versions();
        self.revision.clone()
    }

    fn hosts_yaml(&self) -> String {
        format!(
            "{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: {HOST}}}\nspec:\n  endpoint: {}\n---\n\
             {MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {NETWORK}}}\nspec:\n  host: {HOST}\n  driver: bridge\n  ipam: {{subnet: {NETWORK_SUBNET}}}\n",
            self.proxy.endpoint()
        )
    }

    pub fn stack_yaml(&self, stack: &str) -> String {
        let v = self.versions[stack];
        let secrets = if stack == "fa3" && self.sops.is_some() {
            "  secrets:\n    - sopsEnv: .sops.env\n"
        } else {
            ""
        };
        let mut y = format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  host: {HOST}\n  dependsOn: [Network/{NETWORK}]\n{secrets}  services:\n"
        );
        for i in 1..=SERVICES {
            y.push_str(&format!(
                "    c{i:02}:\n      image: {IMAGE}\n      command: [sleep, \"86400\"]\n      stop_signal: SIGKILL\n      environment: {{V: \"{v}\"}}\n      networks: [{NETWORK}]\n"
            ));
        }
        y.push_str(&format!("  networks:\n    {NETWORK}: {{external: true}}\n"));
        y
    }

    /// `fa3/.sops.env`, encrypted to the suite's age key (made once).
    pub fn secret_file(&self) -> Option<String> {
        let (tools, recipient) = self.sops.as_ref()?;
        let path = self.scratch.path().join("fa3.sops.env");
        if !path.exists() {
            let dir = self.scratch.path().join("sops");
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("secret.env"), "FA_TOKEN=faults-secret-value\n").expect("write");
            let enc = tools.encrypt(
                &dir,
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
            std::fs::remove_dir_all(&dir).expect("no plaintext left");
            std::fs::write(&path, enc).expect("write");
        }
        Some(std::fs::read_to_string(path).expect("read the secret"))
    }

    /// Where the bare repository lives (the remote the controller fetches).
    pub fn remote_dir(&self) -> PathBuf {
        self.repo.base.path().join("repo.git")
    }

    /// The short (12 character) form of the expected revision.
    pub fn short(&self) -> String {
        self.revision.chars().take(12).collect()
    }

    /// Polls `f` every 100 ms until it returns `Some`; panics after `timeout` naming `what`.
    pub fn wait_for<T>(&self, timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let t = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                t.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.ctl.tail(80)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many of this instance's containers run with the current version of their stack.
    pub fn at_version(&self) -> usize {
        self.engine
            .containers()
            .iter()
            .filter(|(name, c)| {
                let stack = name.split('-').next().unwrap_or("");
                c.labels.get("aegis.dev/instance") == Some(&self.instance)
                    && self
                        .versions
                        .get(stack)
                        .is_some_and(|v| c.env.contains(&format!("V={v}")))
            })
            .count()
    }

    /// `name -> id` of this instance's containers.
    pub fn my_containers(&self) -> BTreeMap<String, String> {
        self.engine
            .containers()
            .into_iter()
            .filter(|(_, c)| c.labels.get("aegis.dev/instance") == Some(&self.instance))
            .map(|(n, c)| (n, c.id))
            .collect()
    }

    /// `git log -1` of the work clone: for messages.
    pub fn head(&self) -> String {
        git(self.repo.src.path(), &["rev-parse", "--short=12", "HEAD"])
    }

    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.ctl.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.ctl.tail(120));
        }
        crate::support::remove_instance_objects(
            Some(&format!("unix://{}", self.engine.sock.display())),
            &self.instance,
        );
        for c in ["fa-bystander", "fa-other-instance"] {
            let _ = self.engine.docker_output(&["rm", "-f", c]);
        }
        let _ = self.engine.docker_output(&["network", "rm", "fa-bystander-net"]);
        let _ = self.engine.docker_output(&["volume", "rm", "fa-bystander-vol"]);
    }
}
