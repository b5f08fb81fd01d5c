//! Shared helpers for the integration tests against the real Docker engine.
//!
//! Every test uses unique names and a [`Cleanup`] guard that removes what it created, even
//! when the test panics. Nothing else on the engine is touched.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    process::Command,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use aegis::{
    desired::{Endpoint, HostSpec},
    docker::DockerHost,
    labels,
};

/// The test image: busybox-static in an otherwise empty image.
pub const IMAGE: &str = "aegis-test/busybox:1";
/// The same image under the tag compose files in tests use.
pub const IMAGE_ALIAS: &str = "busybox:1.36";

static IMAGE_LOCK: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name nobody else uses: `<prefix>-<pid>-<time>-<n>`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{:x}{:x}{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI is needed by the integration tests")
}

/// Makes sure [`IMAGE_ALIAS`] exists (`scripts/setup-images.sh` builds it from Debian's
/// busybox-static when no registry answers) and that [`IMAGE`] is the very same image.
/// Idempotent. One image under two tags: tests compare image ids across the names, so
/// they must never be two separate builds.
pub fn ensure_test_image() {
    let _g = IMAGE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !docker(&["image", "inspect", IMAGE_ALIAS]).status.success() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/setup-images.sh");
        let st = Command::new("bash")
            .arg(script)
            .status()
            .expect("run scripts/setup-images.sh");
        assert!(st.success(), "scripts/setup-images.sh failed");
    }
    let id = |image: &str| {
        let out = docker(&["image", "inspect", "-f", "{{.Id}}", image]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if id(IMAGE) != id(IMAGE_ALIAS) {
        assert!(docker(&["tag", IMAGE_ALIAS, IMAGE]).status.success());
    }
}

/// A host spec for the local engine with a unique `Host` name, so that owner-label filters
/// of concurrent tests don't see each other's containers.
pub fn host_spec() -> HostSpec {
    HostSpec {
        name: unique("t-host"),
        endpoint: Endpoint::Default,
        labels: BTreeMap::new(),
    }
}

pub async fn connect() -> DockerHost {
    ensure_test_image();
    DockerHost::connect(&host_spec())
        .await
        .expect("connect to the local engine")
}

/// aegis's ownership labels for `host`.
pub fn owner_labels(host: &DockerHost) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::HOST.to_string(), host.host().to_string()),
    ])
}

/// Removes, on drop, the containers, networks, volumes and host directories registered with
/// it, through the CLI (synchronous, so it also works while unwinding from a panic).
#[derive(Default)]
pub struct Cleanup {
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    dirs: Vec<String>,
}

impl Cleanup {
    pub fn container(&mut self, name: impl Into<String>) -> &mut Self {
        self.containers.push(name.into());
        self
    }
    pub fn network(&mut self, name: impl Into<String>) -> &mut Self {
        self.networks.push(name.into());
        self
    }
    pub fn volume(&mut self, name: impl Into<String>) -> &mut Self {
        self.volumes.push(name.into());
        self
    }
    pub fn dir(&mut self, path: impl Into<String>) -> &mut Self {
        self.dirs.push(path.into());
        self
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
        for v in &self.volumes {
            let _ = docker(&["volume", "rm", v]);
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `docker inspect -f <format> <object>`, trimmed.
pub fn inspect(object: &str, format: &str) -> String {
    let out = docker(&["inspect", "-f", format, object]);
    assert!(
        out.status.success(),
        "docker inspect {object}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `docker <args>` and asserts success; returns stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
