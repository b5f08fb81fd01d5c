//! Helpers for end-to-end tests: a scratch source directory, the `aegis` binaries, `docker`
//! inspection, and a guard that removes exactly what the test created.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Once,
    time::{SystemTime, UNIX_EPOCH},
};

pub mod loopback_engine;

pub const IMAGE: &str = "busybox:1.36";

/// Whether the tests run under CI (`CI` set, and not `false` or `0`): there every
/// prerequisite (the second engine, sshd, the git http backend) is installed, so a missing
/// one fails the test instead of skipping it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A name unique to this test run: `prefix-<pid><nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}{:x}", std::process::id(), nanos % 0xfffff)
}

/// A loopback TCP port that is free now, taken from below the kernel's ephemeral range
/// (32768+). Docker hands out host ports for `ports: [target]` from that range, so a port
/// picked there can be taken by a parallel test's container between this check and its
/// use (seen in CI: "bind: address already in use"). Each process starts at its own
/// offset so concurrent test binaries rarely probe the same ports.
pub fn free_port() -> u16 {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let step = NEXT.fetch_add(7, Ordering::Relaxed);
        let port = LOW + (start.wrapping_add(step) % SPAN);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

/// Builds the test image if it is missing (no registry is reachable here).
pub fn ensure_image() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = Command::new("docker")
            .args(["image", "inspect", IMAGE])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let script = repo_root().join("scripts/setup-images.sh");
            let st = Command::new("bash")
                .arg(script)
                .status()
                .expect("run scripts/setup-images.sh");
            assert!(st.success(), "scripts/setup-images.sh failed");
        }
    });
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A scratch source directory with its own aegis instance name (so tests sharing the engine
/// never prune each other's objects). On drop, the directory goes and so does every container,
/// network and volume labelled with the instance: exactly what the test made through aegis.
pub struct Source {
    pub dir: tempfile::TempDir,
    pub instance: String,
}

impl Default for Source {
    fn default() -> Self {
        Self::new()
    }
}

impl Source {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            instance: unique("it"),
        }
    }

    /// `[cmd, --source, DIR, --instance, NAME]`.
    pub fn args(&self, cmd: &str) -> Vec<String> {
        vec![
            cmd.to_string(),
            "--source".into(),
            self.path().to_string_lossy().into_owned(),
            "--instance".into(),
            self.instance.clone(),
        ]
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn write(&self, rel: &str, body: &str) -> &Self {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, body).expect("write");
        self
    }
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join(rel)).expect("remove");
    }
}

pub fn aegis<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(args)
        .output()
        .expect("run aegis")
}

pub fn aegisctl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegisctl"))
        .args(args)
        .output()
        .expect("run aegisctl")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `aegis validate --source DIR`.
pub fn validate(dir: &Path) -> Output {
    aegis(&[
        "validate".to_string(),
        "--source".to_string(),
        dir.display().to_string(),
    ])
}

/// The revision `aegis validate` gives the source, asserting that it is valid.
pub fn revision_of(src: &Source) -> String {
    let o = validate(src.path());
    let t = text(&o);
    assert!(o.status.success(), "aegis validate failed:\n{t}");
    t.split("revision ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap_or_else(|| panic!("no revision in: {t}"))
        .to_string()
}

/// `aegis apply --source DIR`, asserting success.
pub fn apply(src: &Source) -> String {
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert!(o.status.success(), "aegis apply failed:\n{t}");
    t
}

pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().expect("run docker");
    assert!(o.status.success(), "docker {args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `docker inspect -f FORMAT NAME`.
pub fn inspect(name: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, name])
}

/// The engine's own platform, `os/arch` (`linux/amd64` on x86_64).
pub fn engine_platform() -> String {
    docker(&["version", "-f", "{{.Server.Os}}/{{.Server.Arch}}"])
}

pub fn container_id(name: &str) -> String {
    inspect(name, "{{.Id}}")
}

/// Removes every container and network whose `aegis.dev/resource` label names one of this
/// test's resources (their names are unique to the test), plus any extra objects the test made.
#[derive(Default)]
pub struct Cleanup {
    pub resources: Vec<String>,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Cleanup {
    pub fn new(resources: &[String]) -> Self {
        let mut c = Self::default();
        c.resources = resources.to_vec();
        c
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        remove_instance_objects(None, &self.instance);
    }
}

/// Removes every container, network and volume labelled with aegis instance `instance` on the
/// engine at `docker_host` (`-H`; `None`: the default engine). Test instances are unique, so
/// this removes exactly what one test made through aegis.
pub fn remove_instance_objects(docker_host: Option<&str>, instance: &str) {
    let filter = format!("label=aegis.dev/instance={instance}");
    let docker = |args: &[&str]| -> Vec<String> {
        let mut cmd = Command::new("docker");
        if let Some(h) = docker_host {
            cmd.arg("-H").arg(h);
        }
        cmd.args(args)
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    for id in docker(&["ps", "-aq", "--filter", &filter]) {
        docker(&["rm", "-f", &id]);
    }
    for id in docker(&["network", "ls", "-q", "--filter", &filter]) {
        docker(&["network", "rm", &id]);
    }
    for name in docker(&["volume", "ls", "-q", "--filter", &filter]) {
        docker(&["volume", "rm", &name]);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for r in &self.resources {
            let filter = format!("label=aegis.dev/resource={r}");
            let ids = Command::new("docker")
                .args(["ps", "-aq", "--filter", &filter])
                .output();
            if let Ok(o) = ids {
                for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("docker").args(["rm", "-f", id]).output();
                }
            }
        }
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        for r in &self.resources {
            let filter = format!("label=aegis.dev/resource={r}");
            if let Ok(o) = Command::new("docker")
                .args(["network", "ls", "-q", "--filter", &filter])
                .output()
            {
                for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("docker").args(["network", "rm", id]).output();
                }
            }
        }
        for n in &self.networks {
            let _ = Command::new("docker").args(["network", "rm", n]).output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker").args(["volume", "rm", v]).output();
        }
    }
}

pub const MANIFEST_HEAD: &str = "apiVersion: aegis.dev/v1alpha1";
