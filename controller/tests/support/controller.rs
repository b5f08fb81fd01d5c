//! A real `aegis controller` process for end-to-end tests, and `aegisctl` against it.
//!
//! Include it next to `support` with `#[path = "support/controller.rs"] mod controller;`.
//!
//! [`ControllerProc::start`] picks a free loopback port, writes a token file, spawns the
//! controller (`RUST_LOG=aegis=debug`, stdout and stderr appended to a log file in its own
//! scratch directory, outside the source directory so that the log never changes the
//! source's revision) and waits for `/readyz`. On drop the process is SIGKILLed; when the
//! test is failing, the tail of the log is printed so that a CI failure can be read
//! (`AEGIS_E2E_LOG=N` prints the last N lines of every test's log; `AEGIS_KEEP_LOGS=1`
//! keeps a failing test's scratch directory).
#![allow(dead_code)]

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Output, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use aegis::status::{ConditionStatus, ConditionType, ResourceStatus};

use crate::support::{free_port, text, Source};

/// How long a (re)started controller may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERMed controller may take to exit.
const TERM_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the controller log printed when a test fails.
const TAIL_LINES: usize = 120;

pub struct ControllerProc {
    child: Option<Child>,
    /// The API's port of the current process (a new one on every start).
    pub port: u16,
    pub source: PathBuf,
    pub instance: String,
    /// Scratch directory: `state/`, `token`, `controller.log`.
    pub scratch: tempfile::TempDir,
    pub state_dir: PathBuf,
    pub token_file: PathBuf,
    pub log: PathBuf,
    /// Extra `aegis controller` flags.
    extra: Vec<String>,
    /// How many processes were started (1 after `start`).
    pub starts: u32,
}

impl ControllerProc {
    /// Starts a controller on `src` (its directory and instance), polling the source every
    /// 250 ms, and waits for `/readyz`.
    pub fn start(src: &Source) -> Self {
        Self::start_with(src, &[])
    }

    /// [`start`](Self::start) with extra `aegis controller` flags.
    pub fn start_with(src: &Source, extra: &[&str]) -> Self {
        let scratch = tempfile::Builder::new()
            .prefix("aegis-ctl-")
            .tempdir()
            .expect("scratch dir");
        let state_dir = scratch.path().join("state");
        let token_file = scratch.path().join("token");
        std::fs::write(&token_file, format!("{}\n", crate::support::unique("token"))).expect("write token");
        let log = scratch.path().join("controller.log");
        let mut me = Self {
            child: None,
            port: 0,
            source: src.path().to_path_buf(),
            instance: src.instance.clone(),
            scratch,
            state_dir,
            token_file,
            log,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            starts: 0,
        };
        me.spawn();
        me.wait_ready();
        me
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the controller is already running");
        self.port = free_port();
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open controller log");
        let _ = writeln!(
            log,
            "===== test harness: start #{} on 127.0.0.1:{} =====",
            self.starts, self.port
        );
        let err = log.try_clone().expect("dup log");
        let child = Command::new(env!("CARGO_BIN_EXE_aegis"))
            .arg("controller")
            .arg("--source")
            .arg(&self.source)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--instance")
            .arg(&self.instance)
            .arg("--token-file")
            .arg(&self.token_file)
            .arg("--api")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["--poll", "250ms"])
            .args(&self.extra)
            .env("RUST_LOG", "aegis=debug")
            .env("NO_COLOR", "1")
            .env_remove("AEGIS_API")
            .env_remove("AEGIS_TOKEN_FILE")
            .env_remove("AEGIS_INSTANCE")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawn aegis controller");
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("controller running").id()
    }

    pub fn server(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until `/readyz` answers 200 (a revision is accepted); panics with the log if the
    /// process exits or it takes longer than a minute. Returns how long it waited.
    pub fn wait_ready(&mut self) -> Duration {
        let t = Instant::now();
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .expect("controller running")
                .try_wait()
                .expect("try_wait")
            {
                panic!(
                    "the controller exited ({st}) before it was ready\n{}",
                    self.log_tail(TAIL_LINES)
                );
            }
            if http_status(self.port, "/readyz") == Some(200) {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < READY_TIMEOUT,
                "the controller was not ready within {READY_TIMEOUT:?}\n{}",
                self.log_tail(TAIL_LINES)
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// `aegisctl --server … --token-file … ARGS`.
    pub fn aegisctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aegisctl"))
            .arg("--server")
            .arg(self.server())
            .arg("--token-file")
            .arg(&self.token_file)
            .args(args)
            // Never the operator's own config or token.
            .env("AEGIS_CONFIG", self.scratch.path().join("no-such-config.yaml"))
            .env_remove("AEGIS_TOKEN")
            .env_remove("AEGIS_SERVER")
            .env_remove("AEGIS_TOKEN_FILE")
            .env_remove("AEGIS_CA")
            .output()
            .expect("run aegisctl")
    }

    /// [`aegisctl`](Self::aegisctl), asserting exit 0; stdout.
    pub fn aegisctl_ok(&self, args: &[&str]) -> String {
        let o = self.aegisctl(args);
        assert!(
            o.status.success(),
            "aegisctl {args:?} failed ({}):\n{}\n{}",
            o.status,
            text(&o),
            self.log_tail(40)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `aegisctl get KIND -o json`, parsed.
    pub fn list(&self, kind: &str) -> Vec<ResourceStatus> {
        let out = self.aegisctl_ok(&["get", kind, "-o", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("aegisctl get {kind} -o json: {e}:\n{out}"))
    }

    /// The status of `kind`/`name` (`kind` as aegisctl spells it: `stacks`, `hosts`), if listed.
    pub fn status(&self, kind: &str, name: &str) -> Option<ResourceStatus> {
        self.list(kind).into_iter().find(|s| s.name == name)
    }

    /// Waits until `kind`/`name` is Ready (and, if given, at `revision`); returns it.
    pub fn wait_ready_status(
        &self,
        kind: &str,
        name: &str,
        revision: Option<&str>,
        timeout: Duration,
    ) -> ResourceStatus {
        self.wait_for(timeout, &format!("{kind}/{name} to be Ready"), || {
            self.status(kind, name).filter(|s| {
                s.ready() == ConditionStatus::True
                    && revision.is_none_or(|r| s.observed_revision.as_deref() == Some(r))
            })
        })
    }

    /// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`
    /// and printing the controller log's tail.
    pub fn wait_for<T>(&self, timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let t = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                t.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.log_tail(TAIL_LINES)
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// `kill -TERM`, then waits for the exit and asserts it was 0 within 30 s.
    pub fn sigterm(&mut self) -> Duration {
        let pid = self.pid().to_string();
        let t = Instant::now();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM {pid} failed");
        let status = self.wait_exit(TERM_TIMEOUT);
        let took = t.elapsed();
        match status {
            Some(s) => assert!(
                s.success(),
                "the controller exited with {s} after SIGTERM\n{}",
                self.log_tail(TAIL_LINES)
            ),
            None => {
                self.kill_now();
                panic!(
                    "the controller did not exit within {TERM_TIMEOUT:?} of SIGTERM\n{}",
                    self.log_tail(TAIL_LINES)
                );
            }
        }
        took
    }

    /// SIGKILL, and reap.
    pub fn sigkill(&mut self) {
        self.kill_now();
    }

    /// Starts a new process on the same source, state dir and token (after [`sigterm`] or
    /// [`sigkill`]) and waits for `/readyz`; returns how long that took.
    ///
    /// [`sigterm`]: Self::sigterm
    /// [`sigkill`]: Self::sigkill
    pub fn restart(&mut self) -> Duration {
        if self.child.is_some() {
            self.kill_now();
        }
        self.spawn();
        self.wait_ready()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let t = Instant::now();
        let child = self.child.as_mut()?;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(st);
            }
            if t.elapsed() >= timeout {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn kill_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (up to a minute) until the controller's log has a line with every one of `parts`.
    pub fn wait_log(&self, what: &str, parts: &[&str]) {
        self.wait_for(Duration::from_secs(60), what, || {
            self.log_text()
                .lines()
                .any(|l| parts.iter().all(|p| l.contains(p)))
                .then_some(())
        });
    }

    /// The whole controller log so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
        s
    }

    /// The last `n` lines of the controller log, framed for a test failure message.
    pub fn log_tail(&self, n: usize) -> String {
        let all = self.log_text();
        let lines: Vec<&str> = all.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "----- last {} lines of {} -----\n{}\n----- end of controller log -----",
            lines.len() - from,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for ControllerProc {
    fn drop(&mut self) {
        self.kill_now();
        let show = std::env::var("AEGIS_E2E_LOG")
            .ok()
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = show.filter(|_| !std::thread::panicking()) {
            eprintln!("{}", self.log_tail(n));
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(show.unwrap_or(TAIL_LINES).max(TAIL_LINES)));
            if std::env::var_os("AEGIS_KEEP_LOGS").is_some() {
                let kept = self.scratch.path().to_path_buf();
                // Leak the TempDir on purpose: the log stays for a post-mortem.
                let dir = std::mem::replace(&mut self.scratch, tempfile::tempdir().expect("tempdir"));
                let _ = dir.keep();
                eprintln!("controller scratch kept at {}", kept.display());
            }
        }
    }
}

/// The status code of `GET path` on 127.0.0.1:`port`, over a raw HTTP/1.1 request; `None`
/// when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    // The status line is all we need.
    while !head.contains(&b'\n') {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The event reasons of a status, oldest first (`DriftRepaired`, `Created`, …).
pub fn event_reasons(s: &ResourceStatus) -> Vec<String> {
    s.events.iter().map(|e| e.reason.to_string()).collect()
}

/// The reason of `s`'s condition `t`, if set.
pub fn condition_reason(s: &ResourceStatus, t: ConditionType) -> Option<(ConditionStatus, String)> {
    s.condition(t).map(|c| (c.status, c.reason.clone()))
}

/// `(run, reason)` of every `reconcile started` line for `key` in a controller log, oldest
/// first.
pub fn runs_started(log: &str, key: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|l| l.contains("reconcile started") && l.contains(key))
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_owned)
            };
            Some((field("run=")?, field("reason=")?))
        })
        .collect()
}
