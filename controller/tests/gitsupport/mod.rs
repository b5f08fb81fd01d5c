//! Helpers for tests of git sources: a real bare repository pushed to with the `git` CLI,
//! `git daemon` serving it on loopback, a running `aegis controller`, and raw HTTP to its API.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{free_port, Source, IMAGE, MANIFEST_HEAD};

pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "aegis-test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "aegis-test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A bare repository `repo.git` plus the scratch [`Source`] directory as its work clone
/// (the Source's Drop removes what the test's aegis instance created).
pub struct Repo {
    pub src: Source,
    pub base: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Self {
        let base = tempfile::tempdir().expect("tempdir");
        git(base.path(), &["init", "-q", "--bare", "-b", "main", "repo.git"]);
        let src = Source::new();
        git(src.path(), &["init", "-q", "-b", "main"]);
        git(
            src.path(),
            &[
                "remote",
                "add",
                "origin",
                base.path().join("repo.git").to_str().unwrap(),
            ],
        );
        Self { src, base }
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.base.path().join("repo.git").display())
    }

    /// Writes `files` (relative to the work tree), commits, pushes to `main`; the commit id.
    pub fn commit(&self, files: &[(&str, String)]) -> String {
        for (rel, body) in files {
            self.src.write(rel, body);
        }
        git(self.src.path(), &["add", "-A"]);
        git(self.src.path(), &["commit", "-q", "--allow-empty", "-m", "test"]);
        self.push();
        git(self.src.path(), &["rev-parse", "HEAD"])
    }

    pub fn push(&self) {
        git(self.src.path(), &["push", "-q", "origin", "HEAD:main"]);
    }

    pub fn tag(&self, name: &str) {
        git(self.src.path(), &["tag", name]);
        git(self.src.path(), &["push", "-q", "origin", name]);
    }
}

/// A Stack with one service `app` whose env `V` is `version`; `depends_on` adds a
/// `dependsOn` entry (an undeclared one makes the revision invalid).
pub fn stack_yaml(name: &str, version: &str, depends_on: Option<&str>) -> String {
    let deps = depends_on.map_or(String::new(), |d| format!("  dependsOn: [{d}]\n"));
    format!(
        "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n{deps}  services:\n    app:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_signal: SIGKILL\n      environment: {{V: \"{version}\"}}\n"
    )
}

/// `git daemon` serving `base` read-only on 127.0.0.1; killed on drop.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(base: &Path) -> Self {
        let port = free_port();
        // `git daemon` forks `git-daemon` and would leave it running when killed: start the
        // real program so that Drop ends it.
        let exec_path = git(base, &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git daemon");
        let d = Self { child, port };
        wait_for(Duration::from_secs(10), "git daemon to listen", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        d
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// A running `aegis controller`, SIGKILLed on drop.
pub struct Controller {
    child: Child,
    pub state: tempfile::TempDir,
    pub addr: String,
    pub token_file: PathBuf,
}

impl Controller {
    /// Starts it with `--source url`, the instance of `repo`, `extra` flags and a webhook
    /// secret, and waits for `/readyz`.
    pub fn start(repo: &Repo, url: &str, extra: &[&str]) -> Self {
        Self::start_until(repo, url, extra, "/readyz")
    }

    /// Like [`start`](Self::start), but waits only for the API (`/healthz`): for a source
    /// whose first revision never becomes ready.
    pub fn start_unready(repo: &Repo, url: &str, extra: &[&str]) -> Self {
        Self::start_until(repo, url, extra, "/healthz")
    }

    fn start_until(repo: &Repo, url: &str, extra: &[&str], probe: &str) -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        let token_file = state.path().join("token");
        std::fs::write(&token_file, "test-token\n").unwrap();
        let secret_file = state.path().join("webhook-secret");
        std::fs::write(&secret_file, format!("{WEBHOOK_SECRET}\n")).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(state.path().join("controller.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_aegis"))
            .args(["controller", "--source", url, "--api", &addr])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--webhook-secret-file")
            .arg(&secret_file)
            .arg("--state-dir")
            .arg(state.path().join("state"))
            .args(["--instance", &repo.src.instance])
            .args(extra)
            // debug: tests count what the poller did (`woken by the webhook`).
            .env("RUST_LOG", "aegis=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start aegis controller");
        let c = Self {
            child,
            state,
            addr,
            token_file,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if c.request("GET", probe, &[], "").0 == 200 {
                return c;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the controller did not answer {probe}:\n{}", c.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("controller.log")).unwrap_or_default()
    }

    /// One HTTP/1.1 request; `(status, body)`, status 0 when nothing answered.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        http(&self.addr, method, path, headers, body)
    }

    /// `GET /api/v1/resources/stack/NAME` as JSON.
    pub fn stack_status(&self, name: &str) -> Option<serde_json::Value> {
        let (code, body) = self.request(
            "GET",
            &format!("/api/v1/resources/stack/{name}"),
            &[("Authorization", "Bearer test-token")],
            "",
        );
        (code == 200).then(|| serde_json::from_str(&body).expect("status JSON"))
    }

    /// `GET /api/v1/source`, parsed.
    pub fn source_status(&self) -> Option<aegis::status::SourceStatus> {
        let (code, body) = self.request(
            "GET",
            "/api/v1/source",
            &[("Authorization", "Bearer test-token")],
            "",
        );
        (code == 200).then(|| serde_json::from_str(&body).expect("source status JSON"))
    }

    /// Waits until a fetch that began after this call has finished: the source status shows
    /// two fetches finished after it (the first may have begun before). Whatever the poller
    /// would do about a commit made before this call has then been done; a test that proves
    /// nothing happened waits for this instead of sleeping.
    pub fn wait_fetch_after_now(&self, timeout: Duration) {
        let since = aegis::status::Timestamp::now();
        let mut seen = std::collections::BTreeSet::new();
        wait_for(timeout, "two fetches after now on the source status", || {
            if let Some(t) = self
                .source_status()
                .and_then(|s| s.last_fetch)
                .filter(|t| *t > since)
            {
                seen.insert(t);
            }
            (seen.len() >= 2).then_some(())
        });
    }

    /// How many lines of the controller's log contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// `aegisctl ARGS` against this controller: (success, stdout+stderr).
    pub fn aegisctl(&self, args: &[&str]) -> (bool, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_aegisctl"))
            .arg("--server")
            .arg(format!("http://{}", self.addr))
            .arg("--token-file")
            .arg(&self.token_file)
            .args(args)
            .output()
            .expect("run aegisctl");
        (o.status.success(), crate::support::text(&o))
    }

    /// POSTs a GitHub-style push of `refs/heads/main`, signed with `secret`.
    pub fn github_push(&self, secret: &str) -> (u16, String) {
        let body = r#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}"#;
        let sig = aegis::source::webhook::github_signature(secret.as_bytes(), body.as_bytes());
        self.request(
            "POST",
            "/api/v1/webhook",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &sig),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (code, body)
}

/// Polls `f` until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether container `name` runs with env `V=version`.
pub fn runs_version(name: &str, version: &str) -> bool {
    let o = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.State.Running}} {{range .Config.Env}}{{.}} {{end}}",
            name,
        ])
        .output();
    let Ok(o) = o else { return false };
    let out = String::from_utf8_lossy(&o.stdout);
    o.status.success()
        && out.starts_with("true ")
        && out.split_whitespace().any(|e| e == format!("V={version}"))
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}
