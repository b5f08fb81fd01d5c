//! Helpers for the management-path tests: the agent image under a test-only tag, the second
//! engine (`scripts/engine2.sh`, shared: started if needed, never stopped), the socat
//! forwarder image, and containers made directly with the docker CLI, labelled with a unique
//! aegis instance so that [`Instance`]'s drop removes exactly them.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use aegis::{
    agent::image::AgentImage,
    desired::{Endpoint, HostSpec},
    docker::DockerHost,
    labels,
};

mod fleet;
#[allow(unused_imports)] // each test uses some of it
pub use fleet::*;

pub const BUSYBOX: &str = "busybox:1.36";
pub const SOCAT: &str = "aegis-test/socat:1";

pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A name nobody else uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{:x}{:x}{}",
        std::process::id(),
        nanos % 0xfffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `docker [-H sock] ARGS`.
pub fn docker_at(sock: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("docker");
    if let Some(s) = sock {
        c.arg("-H").arg(s);
    }
    c.args(args).output().expect("run docker")
}

/// `docker [-H sock] ARGS`, asserting success; trimmed stdout.
pub fn docker_ok(sock: Option<&str>, args: &[&str]) -> String {
    let o = docker_at(sock, args);
    assert!(o.status.success(), "docker {args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Whether `CI=true`: then a missing prerequisite fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The second engine of `scripts/engine2.sh`: its unix socket (path) and `unix://` URL.
#[derive(Debug, Clone)]
pub struct Engine2 {
    pub sock_path: String,
    pub sock_url: String,
}

/// Starts engine 2 if needed (idempotent; it is shared and never stopped by tests). `None`
/// (after saying why) on a machine that cannot run a second engine; under CI that panics.
pub fn engine2() -> Option<Engine2> {
    let script = repo_root().join("scripts/engine2.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .expect("run engine2.sh");
    if o.status.code() == Some(3) && !in_ci() {
        eprintln!("SKIPPED: no second Docker engine here: {}", text(&o));
        return None;
    }
    assert!(
        o.status.success(),
        "scripts/engine2.sh start failed:\n{}",
        text(&o)
    );
    let o = Command::new("bash")
        .arg(&script)
        .arg("env")
        .output()
        .expect("run engine2.sh env");
    let vars: HashMap<String, String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let url = vars
        .get("AEGIS_E2_SOCK")
        .expect("engine2.sh env prints AEGIS_E2_SOCK")
        .clone();
    Some(Engine2 {
        sock_path: url.trim_start_matches("unix://").to_string(),
        sock_url: url,
    })
}

/// Makes `aegis-test/socat:1` (Debian's socat) on the first engine and, given, on engine 2.
pub fn ensure_socat(engine2: Option<&Engine2>) {
    let st = Command::new("bash")
        .arg(repo_root().join("scripts/setup-socat-image.sh"))
        .status()
        .expect("run setup-socat-image.sh");
    assert!(st.success(), "scripts/setup-socat-image.sh failed");
    ensure_busybox();
    if let Some(e) = engine2 {
        for image in [SOCAT, BUSYBOX] {
            if !docker_at(Some(&e.sock_url), &["image", "inspect", image])
                .status
                .success()
            {
                let mut save = Command::new("docker")
                    .args(["save", image])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("docker save");
                let load = Command::new("docker")
                    .args(["-H", &e.sock_url, "load"])
                    .stdin(save.stdout.take().expect("pipe"))
                    .output()
                    .expect("docker load");
                let saved = save.wait().expect("docker save");
                assert!(
                    saved.success() && load.status.success(),
                    "copying {image} to engine 2: {}",
                    text(&load)
                );
            }
        }
    }
}

pub fn ensure_busybox() {
    if !docker_at(None, &["image", "inspect", BUSYBOX]).status.success() {
        let st = Command::new("bash")
            .arg(repo_root().join("scripts/setup-images.sh"))
            .status()
            .expect("run setup-images.sh");
        assert!(st.success(), "scripts/setup-images.sh failed");
    }
}

/// The agent image tag and ID that `aegis agent image` prints for the binary under test.
pub fn printed_agent_image() -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["agent", "image"])
        .output()
        .expect("run aegis agent image");
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let mut words = printed.split_whitespace();
    let tag = words
        .next()
        .unwrap_or_else(|| panic!("aegis agent image prints the tag: {}", text(&o)));
    let id = words
        .next()
        .unwrap_or_else(|| panic!("aegis agent image prints the ID: {}", text(&o)));
    (tag.to_string(), id.to_string())
}

/// Removes the agent image of the binary under test from engine 2, so that b must get a copy,
/// and lists its tag in `inst` (removed from both engines at the end, whatever happens; the
/// alias `aegis-agent:<version>` is left: it is shared by every user of the default DnsGuard
/// image). Returns its tag and ID.
pub fn agent_image_only_on_a(e2: &Engine2, inst: &mut Instance) -> (String, String) {
    let (tag, id) = printed_agent_image();
    let _ = docker_at(Some(&e2.sock_url), &["rmi", &tag]);
    inst.tags.push(tag.clone());
    (tag, id)
}

/// The setup of a two-engine test: engine 2 started, the socat and busybox images on both
/// engines, and a fresh [`Instance`] on both. `None` where there is no second engine (the
/// test is skipped; under CI it fails instead).
pub fn two_engines() -> Option<(Engine2, Instance)> {
    let e2 = engine2()?;
    ensure_socat(Some(&e2));
    let inst = Instance::new(Some(&e2));
    Some((e2, inst))
}

/// Whether an engine answers through loopback `port` over a new connection.
pub fn reachable(port: u16) -> bool {
    docker_at(
        Some(&format!("tcp://127.0.0.1:{port}")),
        &["version", "-f", "{{.Server.Version}}"],
    )
    .status
    .success()
}

/// The rollback watchdogs of `instance` on an engine (running or not), by name.
pub fn watchdogs(sock: Option<&str>, instance: &str) -> Vec<String> {
    let inst = format!("label=aegis.dev/instance={instance}");
    let o = docker_at(
        sock,
        &[
            "ps",
            "-a",
            "--filter",
            &inst,
            "--filter",
            "label=aegis.dev/rollback.attempt",
            "--format",
            "{{.Names}}",
        ],
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// The agent image of the `aegis` binary under test, with a tag of its own (so removing it
/// after the test never takes an image another test uses: the same image ID keeps its other
/// tags). Its alias is test-only too. Push both into [`Instance::tags`] to remove them.
pub fn agent_image() -> AgentImage {
    static BUILT: std::sync::OnceLock<AgentImage> = std::sync::OnceLock::new();
    let mut img = BUILT
        .get_or_init(|| {
            AgentImage::from_executable(Path::new(env!("CARGO_BIN_EXE_aegis")))
                .expect("build the agent image")
        })
        .clone();
    img.tag = format!("aegis-agent-test:{}", unique("t"));
    img.alias = format!("{}-alias", img.tag);
    img
}

/// One test's aegis instance: every container, network and volume labelled with it (on the
/// first engine and, if set, engine 2) is removed on drop, and so are the image tags listed
/// in `tags`.
pub struct Instance {
    pub name: String,
    pub engine2: Option<String>,
    pub tags: Vec<String>,
}

impl Instance {
    pub fn new(engine2: Option<&Engine2>) -> Self {
        Self {
            name: unique("mg"),
            engine2: engine2.map(|e| e.sock_url.clone()),
            tags: Vec::new(),
        }
    }

    /// Owner labels of this instance on `host`, plus `extra`.
    pub fn labels(&self, host: &str, resource: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::INSTANCE.to_string(), self.name.clone()),
            (labels::HOST.to_string(), host.to_string()),
            (labels::RESOURCE.to_string(), resource.to_string()),
        ]);
        for (k, v) in extra {
            l.insert(k.to_string(), v.to_string());
        }
        l
    }

    /// `docker run -d` of a container of this instance; returns its ID.
    pub fn run(&self, sock: Option<&str>, host: &str, name: &str, args: &[&str]) -> String {
        let mut full: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
        for (k, v) in self.labels(host, "Stack/critical", &[]) {
            full.push("--label".into());
            full.push(format!("{k}={v}"));
        }
        full.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        docker_ok(sock, &refs)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let filter = format!("label=aegis.dev/instance={}", self.name);
        let socks: Vec<Option<&str>> = std::iter::once(None)
            .chain(self.engine2.as_deref().map(Some))
            .collect();
        for sock in socks {
            let ids = docker_at(sock, &["ps", "-aq", "--filter", &filter]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = docker_at(sock, &["rm", "-f", id]);
            }
            for kind in ["network", "volume"] {
                let ids = docker_at(sock, &[kind, "ls", "-q", "--filter", &filter]);
                for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                    let _ = docker_at(sock, &[kind, "rm", id]);
                }
            }
            for t in &self.tags {
                let _ = docker_at(sock, &["rmi", t]);
            }
        }
    }
}

/// A `HostSpec` for the first engine under the name `name`.
pub fn local_host(name: &str) -> HostSpec {
    HostSpec {
        name: name.into(),
        endpoint: Endpoint::Default,
        labels: BTreeMap::new(),
    }
}

/// A `HostSpec` for an engine behind a unix socket.
pub fn unix_host(name: &str, sock_path: &str) -> HostSpec {
    HostSpec {
        name: name.into(),
        endpoint: Endpoint::Unix(sock_path.into()),
        labels: BTreeMap::new(),
    }
}

/// A `HostSpec` for a plain-TCP endpoint on loopback.
pub fn tcp_host(name: &str, port: u16) -> HostSpec {
    HostSpec {
        name: name.into(),
        endpoint: Endpoint::Tcp {
            addr: format!("tcp://127.0.0.1:{port}"),
            tls: None,
        },
        labels: BTreeMap::new(),
    }
}

pub async fn connect(spec: &HostSpec) -> DockerHost {
    DockerHost::connect(spec)
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", spec.name))
}

/// Polls `f` every 100 ms until it is true; panics after `limit` (a hang guard, not timing).
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.elapsed()
}

/// `docker inspect -f FORMAT NAME` (empty when it does not exist).
pub fn inspect(sock: Option<&str>, name: &str, format: &str) -> String {
    let o = docker_at(sock, &["inspect", "-f", format, name]);
    if o.status.success() {
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    } else {
        String::new()
    }
}

/// Names of this instance's containers on an engine, sorted.
pub fn names_of(sock: Option<&str>, instance: &str) -> Vec<String> {
    let filter = format!("label=aegis.dev/instance={instance}");
    let mut v: Vec<String> = docker_ok(sock, &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// A loopback TCP port that is free now (20000–31999, below the ephemeral range).
pub fn free_port() -> u16 {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 12_000) as u16;
    for _ in 0..12_000 {
        let port = 20_000 + (start.wrapping_add(NEXT.fetch_add(7, Ordering::Relaxed)) % 12_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port")
}
