//! The rig of the fault-injection suite (`tests/faults.rs`, run by `scripts/faults.sh`): the
//! suite's own engine, reached by the controller only through [`proxy::SockProxy`]; a git
//! source (`file://`) with one Host, one Network and three Stacks of ten containers; the real
//! controller process; bystanders on the engine that aegis must never touch; and the end
//! state every case must reach ([`Rig::check`]).
#![allow(dead_code)]

pub mod cases;
pub mod ctl;
pub mod engine;
pub mod kills;
pub mod proxy;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use aegis::status::{ConditionStatus, ConditionType};

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
            let _ = self.engine.docker_output(&["network", "rm", n]);
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

    /// Every object on the engine that is not this instance's, one line each: what must be
    /// exactly the same after every case.
    pub fn foreign_objects(&self) -> Vec<String> {
        let mine = format!("\"aegis.dev/instance\":\"{}\"", self.instance);
        let mut out = Vec::new();
        for (name, c) in self.engine.containers() {
            let labels = serde_json::to_string(&c.labels).unwrap_or_default();
            if !labels.contains(&mine) {
                out.push(format!("container {name} {} {} {labels}", c.id, c.state));
            }
        }
        let nets = self
            .engine
            .lines(&["network", "ls"], "{{.Name}} {{.ID}} {{.Driver}} {{.Labels}}");
        // Docker gives its predefined networks (bridge, host, none) new IDs when it restarts.
        out.extend(nets.into_iter().filter(|l| !l.contains(&self.instance)).map(|l| {
            let mut f: Vec<&str> = l.splitn(3, ' ').collect();
            if f.len() == 3 && matches!(f[0], "bridge" | "host" | "none") {
                f.remove(1);
            }
            format!("network {}", f.join(" "))
        }));
        let vols = self.engine.lines(&["volume", "ls"], "{{.Name}} {{.Labels}}");
        out.extend(
            vols.into_iter()
                .filter(|l| !l.contains(&self.instance))
                .map(|l| format!("volume {l}")),
        );
        let images = self
            .engine
            .lines(&["image", "ls"], "{{.Repository}}:{{.Tag}} {{.ID}}");
        out.extend(images.into_iter().map(|l| format!("image {l}")));
        out
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

    // ---------------------------------------------------------------------------------
    // The end state

    /// The desired container names.
    pub fn desired_containers() -> BTreeSet<String> {
        STACKS
            .iter()
            .flat_map(|s| (1..=SERVICES).map(move |i| format!("{s}-c{i:02}-1")))
            .collect()
    }

    /// `Ok` when the end state holds: every resource Ready at the expected revision, the
    /// source ready on it, exactly the desired containers (running, at their version, one
    /// each), exactly the desired network, nothing else of this instance, and every other
    /// object on the engine as it was before the suite.
    pub fn check(&self) -> Result<(), String> {
        let short = self.short();
        let source = self
            .ctl
            .source()
            .ok_or("the API does not answer /api/v1/source")?;
        if source.revision.as_deref() != Some(self.revision.as_str()) || !source.ready() {
            return Err(format!(
                "source: revision {:?}, {} {} (want {short}, ready)",
                source.revision.as_deref().map(|r| &r[..12.min(r.len())]),
                source.reason(),
                source.message()
            ));
        }
        let resources = self
            .ctl
            .resources()
            .ok_or("the API does not answer /api/v1/resources")?;
        let mut want: BTreeSet<String> = STACKS.iter().map(|s| format!("Stack/{s}")).collect();
        want.insert(format!("Network/{NETWORK}"));
        want.insert(format!("Host/{HOST}"));
        for r in &resources {
            let id = format!("{}/{}", r.kind, r.name);
            if !want.remove(&id) {
                return Err(format!("unexpected status entry {id}"));
            }
            let stalled = r
                .condition(ConditionType::Stalled)
                .is_some_and(|c| c.status == ConditionStatus::True);
            if r.ready() != ConditionStatus::True
                || stalled
                || r.observed_revision.as_deref() != Some(short.as_str())
            {
                return Err(format!(
                    "{id}: ready {:?}, {} {:?} at {:?} (want Ready at {short})",
                    r.ready(),
                    r.status_word(),
                    r.message(),
                    r.observed_revision
                ));
            }
        }
        if let Some(missing) = want.first() {
            return Err(format!("no status for {missing}"));
        }
        self.check_engine()
    }

    fn check_engine(&self) -> Result<(), String> {
        let mut desired = Self::desired_containers();
        for (name, c) in self.engine.containers() {
            if c.labels.get("aegis.dev/instance") != Some(&self.instance) {
                continue;
            }
            if !desired.remove(&name) {
                return Err(format!("orphan or duplicate container {name} ({})", c.state));
            }
            let stack = name.split('-').next().unwrap_or("");
            let v = format!("V={}", self.versions[stack]);
            if c.state != "running" || !c.env.contains(&v) {
                return Err(format!("container {name}: {} without {v}", c.state));
            }
            if self.sops.is_some() && stack == "fa3" && !c.env.iter().any(|e| e.starts_with("FA_TOKEN=")) {
                return Err(format!("container {name} lacks its secret FA_TOKEN"));
            }
        }
        if let Some(missing) = desired.first() {
            return Err(format!("container {missing} is missing"));
        }
        let filter = format!("label=aegis.dev/instance={}", self.instance);
        let nets = self
            .engine
            .docker(&["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]);
        if nets != NETWORK {
            return Err(format!("networks of this instance: {nets:?} (want {NETWORK})"));
        }
        let vols = self.engine.docker(&["volume", "ls", "-q", "--filter", &filter]);
        if !vols.is_empty() {
            return Err(format!("volumes of this instance: {vols}"));
        }
        let foreign = self.foreign_objects();
        if foreign != self.baseline {
            let gone: Vec<_> = self.baseline.iter().filter(|l| !foreign.contains(l)).collect();
            let new: Vec<_> = foreign.iter().filter(|l| !self.baseline.contains(l)).collect();
            return Err(format!(
                "objects outside this instance changed: before {gone:?}, now {new:?}"
            ));
        }
        Ok(())
    }

    /// Waits until [`check`](Self::check) holds; returns how long that took. Panics after
    /// [`CONVERGE_TIMEOUT`] with the last reason and the controller's log.
    pub fn wait_converged(&self, what: &str) -> Duration {
        let t = Instant::now();
        loop {
            let last = match self.check() {
                Ok(()) => return t.elapsed(),
                Err(e) => e,
            };
            assert!(
                t.elapsed() < CONVERGE_TIMEOUT,
                "not converged {CONVERGE_TIMEOUT:?} after {what}: {last}\n{}",
                self.ctl.tail(80)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
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
