//! The real `aegis controller` process of the fault suite: started on the suite's git URL,
//! SIGKILLed and restarted on the same state directory (or moved to another one), its API read
//! over HTTP.

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aegis::status::{ResourceStatus, SourceStatus};

use crate::{
    gitsupport::http,
    support::{free_port, unique},
};

const TOKEN: &str = "faults-token";

pub struct Ctl {
    child: Option<Child>,
    pub addr: String,
    pub url: String,
    pub instance: String,
    pub state_dir: PathBuf,
    pub token_file: PathBuf,
    pub log: PathBuf,
    /// `SOPS_AGE_KEY_FILE`, when the suite has a secret.
    pub age_key_file: Option<PathBuf>,
    pub starts: u32,
}

impl Ctl {
    pub fn new(scratch: &Path, url: &str, instance: &str, age_key_file: Option<PathBuf>) -> Self {
        let token_file = scratch.join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
        Self {
            child: None,
            addr: String::new(),
            url: url.to_string(),
            instance: instance.to_string(),
            state_dir: scratch.join(unique("state")),
            token_file,
            log: scratch.join("controller.log"),
            age_key_file,
            starts: 0,
        }
    }

    /// Spawns the process and waits until its API answers (`/healthz`; readiness is what the
    /// cases wait for).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the controller already runs");
        self.addr = format!("127.0.0.1:{}", free_port());
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the controller log");
        let _ = writeln!(log, "===== faults: start #{} on {} =====", self.starts, self.addr);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegis"));
        cmd.args(["controller", "--source", &self.url, "--api", &self.addr])
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--instance", &self.instance])
            .arg("--token-file")
            .arg(&self.token_file)
            // Polling a git source every 250 ms (default 60 s) so that the cases measure the
            // controller, not the poll interval; every other setting is the default.
            .args(["--poll", "250ms"])
            .env("RUST_LOG", "aegis=debug")
            .env("NO_COLOR", "1")
            .env_remove("SOPS_AGE_KEY")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        match &self.age_key_file {
            Some(k) => cmd.env("SOPS_AGE_KEY_FILE", k),
            None => cmd.env_remove("SOPS_AGE_KEY_FILE"),
        };
        self.child = Some(cmd.spawn().expect("spawn aegis controller"));
        let t = Instant::now();
        while http(&self.addr, "GET", "/healthz", &[], "").0 != 200 {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "the controller exited ({st}) before its API answered\n{}",
                    self.tail(60)
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the controller's API did not answer within 60s\n{}",
                self.tail(60)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                assert!(
                    st.success(),
                    "the controller exited with {st} after SIGTERM\n{}",
                    self.tail(60)
                );
                return;
            }
            if t.elapsed() > Duration::from_secs(40) {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "the controller did not stop within 40s of SIGTERM\n{}",
                    self.tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn get(&self, path: &str) -> Option<String> {
        let auth = format!("Bearer {TOKEN}");
        let (code, body) = http(&self.addr, "GET", path, &[("Authorization", &auth)], "");
        (code == 200).then_some(body)
    }

    /// Every resource's status; `None` when the API does not answer.
    pub fn resources(&self) -> Option<Vec<ResourceStatus>> {
        serde_json::from_str(&self.get("/api/v1/resources")?).ok()
    }

    pub fn source(&self) -> Option<SourceStatus> {
        serde_json::from_str(&self.get("/api/v1/source")?).ok()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the controller's log.
    pub fn tail(&self, n: usize) -> String {
        let all = self.log_text();
        let lines: Vec<&str> = all.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "----- controller log {} (last {} lines) -----\n{}\n-----",
            self.log.display(),
            lines.len() - from,
            lines[from..].join("\n")
        )
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        self.kill();
    }
}
