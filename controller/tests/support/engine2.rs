//! The second Docker engine of `scripts/engine2.sh`: a real remote `Host` over TLS on
//! loopback, beside the first engine.
//!
//! Include it next to `support` with `#[path = "support/engine2.rs"] mod engine2;`.
//!
//! [`acquire`] starts the engine once per test binary and then hands it to one test at a
//! time (tests stop and restart it, so they must not overlap). When this binary started the
//! engine, it stops it again at exit (data kept, so the next start takes about a second);
//! set `AEGIS_E2_KEEP=1` to leave it running. The engine's state dir is the script's
//! (`AEGIS_E2_DIR`, default `/tmp/aegis-engine2`).
#![allow(dead_code)]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, MutexGuard, OnceLock, PoisonError,
    },
    time::Instant,
};

use crate::support::{repo_root, text, MANIFEST_HEAD};

/// Where engine 2 is and the TLS material to reach it (from `scripts/engine2.sh env`).
#[derive(Debug)]
pub struct Engine2 {
    /// `tcp://127.0.0.1:PORT`.
    pub endpoint: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// An unrelated CA: the engine's certificate does not verify with it.
    pub wrong_ca: PathBuf,
    /// A client certificate and key signed by the wrong CA: the engine rejects them.
    pub wrong_cert: PathBuf,
    pub wrong_key: PathBuf,
    /// `unix://…/docker.sock`: for inspecting the engine without TLS.
    pub sock: String,
}

/// One test's exclusive use of engine 2, which is running when this is handed out.
pub struct Engine2Guard {
    engine: &'static Engine2,
    _lock: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Engine2Guard {
    type Target = Engine2;
    fn deref(&self) -> &Engine2 {
        self.engine
    }
}

static LOCK: Mutex<()> = Mutex::new(());
static ENGINE: OnceLock<Result<Engine2, String>> = OnceLock::new();
static STARTED_HERE: AtomicBool = AtomicBool::new(false);

/// Engine 2, started if needed, for the calling test alone; `None` (after printing why)
/// when this machine cannot run a second dockerd: the script exits 3 only for that (not
/// root, or dockerd/openssl/ip missing). Under CI that panics too, as does any other failure
/// to start.
pub fn acquire() -> Option<Engine2Guard> {
    let lock = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    match ENGINE.get_or_init(init) {
        Err(why) => {
            // CI runs as root with dockerd, openssl and ip: there this is a broken setup.
            assert!(
                !crate::support::under_ci(),
                "no second Docker engine under CI (scripts/engine2.sh start exits 3): {why}"
            );
            eprintln!("SKIPPED: no second Docker engine on this machine: {why}");
            None
        }
        Ok(engine) => {
            // A previous test may have stopped it and then failed before restarting it.
            if !engine.running() {
                engine.start();
            }
            Some(Engine2Guard { engine, _lock: lock })
        }
    }
}

fn script() -> PathBuf {
    repo_root().join("scripts/engine2.sh")
}

fn run_script(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run scripts/engine2.sh")
}

fn init() -> Result<Engine2, String> {
    let was_running = run_script(&["status"]).status.success();
    let t = Instant::now();
    let o = run_script(&["start"]);
    if o.status.code() == Some(3) {
        return Err(text(&o).trim().to_string());
    }
    assert!(
        o.status.success(),
        "scripts/engine2.sh start failed:\n{}",
        text(&o)
    );
    eprintln!(
        "engine2: {} in {:.2}s",
        if was_running {
            "already running, checked"
        } else {
            "started"
        },
        t.elapsed().as_secs_f64()
    );
    if !was_running && std::env::var_os("AEGIS_E2_KEEP").is_none() {
        STARTED_HERE.store(true, Ordering::SeqCst);
        register_stop_at_exit();
    }
    let o = run_script(&["env"]);
    assert!(o.status.success(), "scripts/engine2.sh env failed:\n{}", text(&o));
    let vars: HashMap<String, String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = |k: &str| -> String {
        vars.get(k)
            .unwrap_or_else(|| panic!("scripts/engine2.sh env does not print {k}"))
            .clone()
    };
    Ok(Engine2 {
        endpoint: var("AEGIS_E2_ENDPOINT"),
        ca: var("AEGIS_E2_CA").into(),
        cert: var("AEGIS_E2_CERT").into(),
        key: var("AEGIS_E2_KEY").into(),
        wrong_ca: var("AEGIS_E2_WRONG_CA").into(),
        wrong_cert: var("AEGIS_E2_WRONG_CERT").into(),
        wrong_key: var("AEGIS_E2_WRONG_KEY").into(),
        sock: var("AEGIS_E2_SOCK"),
    })
}

/// Stops engine 2 when the test binary exits, if it started it. libtest has no "after all
/// tests" hook; the C `atexit` runs both when main returns and on `process::exit`.
fn register_stop_at_exit() {
    extern "C" {
        fn atexit(cb: extern "C" fn()) -> std::os::raw::c_int;
    }
    extern "C" fn stop() {
        if STARTED_HERE.load(Ordering::SeqCst) {
            let _ = run_script(&["stop"]);
        }
    }
    // SAFETY: `atexit` only stores the function pointer; `stop` is a plain `extern "C" fn`
    // that does not unwind (run_script's errors are ignored).
    unsafe {
        atexit(stop);
    }
}

impl Engine2 {
    pub fn running(&self) -> bool {
        run_script(&["status"]).status.success()
    }

    /// `scripts/engine2.sh start`, asserting success; returns the seconds it took.
    pub fn start(&self) -> f64 {
        let t = Instant::now();
        let o = run_script(&["start"]);
        assert!(
            o.status.success(),
            "scripts/engine2.sh start failed:\n{}",
            text(&o)
        );
        let secs = t.elapsed().as_secs_f64();
        eprintln!("engine2: start took {secs:.2}s");
        secs
    }

    /// `scripts/engine2.sh stop` (data kept), asserting success; returns the seconds it took.
    pub fn stop(&self) -> f64 {
        let t = Instant::now();
        let o = run_script(&["stop"]);
        assert!(
            o.status.success(),
            "scripts/engine2.sh stop failed:\n{}",
            text(&o)
        );
        let secs = t.elapsed().as_secs_f64();
        eprintln!("engine2: stop took {secs:.2}s");
        secs
    }

    /// `docker -H unix://…engine2… ARGS`.
    pub fn docker_output(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("run docker")
    }

    /// `docker ARGS` on engine 2, asserting success; trimmed stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        let o = self.docker_output(args);
        assert!(
            o.status.success(),
            "docker -H {} {args:?} failed: {}",
            self.sock,
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// `docker inspect -f FORMAT NAME` on engine 2.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.docker(&["inspect", "-f", format, name])
    }

    /// IDs of the containers of aegis instance `instance` on engine 2 (all states).
    pub fn containers_of(&self, instance: &str) -> Vec<String> {
        let filter = format!("label=aegis.dev/instance={instance}");
        self.docker(&["ps", "-aq", "--filter", &filter])
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    /// A `Host` manifest for engine 2 over TLS, with the given CA, client certificate and key.
    pub fn host_manifest_with(&self, name: &str, ca: &Path, cert: &Path, key: &Path) -> String {
        format!(
            "{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: {name}}}\nspec:\n  endpoint: {}\n  tls:\n    ca: {}\n    cert: {}\n    key: {}\n",
            self.endpoint,
            ca.display(),
            cert.display(),
            key.display()
        )
    }

    /// A `Host` manifest for engine 2 over TLS with the right material.
    pub fn host_manifest(&self, name: &str) -> String {
        self.host_manifest_with(name, &self.ca, &self.cert, &self.key)
    }

    /// Removes, on drop, everything of aegis instance `instance` on engine 2 (`Source` only
    /// cleans the first engine).
    pub fn cleanup(&self, instance: &str) -> Engine2Cleanup {
        Engine2Cleanup {
            sock: self.sock.clone(),
            instance: instance.to_string(),
        }
    }
}

/// Removes every container, network and volume labelled with one aegis instance from
/// engine 2. Drop it before the [`Engine2Guard`] (declare it after), so the engine is still
/// this test's; if the test left the engine stopped, it is started for the cleanup.
pub struct Engine2Cleanup {
    sock: String,
    instance: String,
}

impl Drop for Engine2Cleanup {
    fn drop(&mut self) {
        if !run_script(&["status"]).status.success() {
            let _ = run_script(&["start"]);
        }
        crate::support::remove_instance_objects(Some(&self.sock), &self.instance);
    }
}
