//! End to end: the git source over https with an access token, against `git http-backend`
//! behind TLS and basic auth on loopback (`fixtures/git_https_server.py`, Python's standard
//! library), with a throwaway CA. `aegis validate` clones through git2's OpenSSL transport:
//! the token and the CA work; a wrong token, a missing token and an untrusted certificate
//! each fail with an error that says what to give; the token shows in no output. Then
//! `aegis apply` converges a stack from the https URL.
//!
//! Needs `python3` and `git http-backend`. Without them the tests print SKIP, except under
//! `CI`, where they fail.

mod gitsupport;
mod support;

#[path = "support/certs.rs"]
mod certs;

use std::{
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use gitsupport::*;
use support::*;

const TOKEN: &str = "tok-3f9c2a7e51d04b8b";

fn have_tools() -> bool {
    let exec_path = Command::new("git").arg("--exec-path").output();
    let backend = exec_path
        .ok()
        .map(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).join("git-http-backend"))
        .is_some_and(|p| p.is_file());
    let python = Command::new("python3").arg("--version").output().is_ok();
    let ok = backend && python;
    if !ok {
        assert!(!under_ci(), "python3 or git-http-backend is missing under CI");
        eprintln!("SKIP: python3 or git-http-backend is missing");
    }
    ok
}

/// The https git server, killed on drop.
struct HttpsGit {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl HttpsGit {
    fn start(root: &Path, certs: &certs::Certs, log_dir: &Path) -> Self {
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/git_https_server.py");
        let log = log_dir.join("git-https.log");
        let out = std::fs::File::create(&log).expect("create the server log");
        let child = Command::new("python3")
            .arg(script)
            .arg(root)
            .arg(port.to_string())
            .arg(&certs.cert)
            .arg(&certs.key)
            .arg(TOKEN)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("start the https git server");
        let mut s = Self { child, port, log };
        wait_for(Duration::from_secs(10), "the https git server to listen", || {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("the https git server exited ({st}):\n{}", s.log());
            }
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/repo.git", self.port)
    }
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `aegis CMD --source URL ARGS`: (success, stdout+stderr).
fn run(cmd: &str, url: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args([cmd, "--source", url])
        .args(args)
        .output()
        .expect("run aegis");
    let out = text(&o);
    assert!(!out.contains(TOKEN), "the token leaked into the output:\n{out}");
    (o.status.success(), out)
}

#[test]
fn clone_over_https_with_a_token_and_a_private_ca() {
    if !have_tools() {
        return;
    }
    ensure_image();
    let repo = Repo::new();
    let stack = unique("githttps");
    let commit = repo.commit(&[("stack.yaml", stack_yaml(&stack, "1", None))]);
    let files = tempfile::tempdir().expect("tempdir");
    let certs = certs::write(files.path());
    let token = files.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("write the token");
    let wrong = files.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token\n").expect("write the wrong token");
    let server = HttpsGit::start(repo.base.path(), &certs, files.path());
    let url = server.url();
    let (token, wrong, ca) = (
        token.to_str().unwrap(),
        wrong.to_str().unwrap(),
        certs.ca.to_str().unwrap(),
    );

    // The token and the CA: the clone works.
    let (ok, out) = run(
        "validate",
        &url,
        &["--git-token-file", token, "--git-ca-file", ca],
    );
    assert!(ok, "{out}\nserver:\n{}", server.log());
    assert!(out.contains(&format!("revision {}", &commit[..12])), "{out}");

    // A wrong token: rejected, and the error says the credentials were refused.
    let (ok, out) = run(
        "validate",
        &url,
        &["--git-token-file", wrong, "--git-ca-file", ca],
    );
    eprintln!("wrong token: {out}");
    assert!(!ok, "{out}");
    assert!(out.contains("rejected the credentials"), "{out}");

    // No token: the error names the flag to give.
    let (ok, out) = run("validate", &url, &["--git-ca-file", ca]);
    eprintln!("no token: {out}");
    assert!(!ok, "{out}");
    assert!(out.contains("--git-token-file"), "{out}");

    // The CA not given: the certificate is not trusted, and the error says what to give.
    let (ok, out) = run("validate", &url, &["--git-token-file", token]);
    eprintln!("no CA: {out}");
    assert!(!ok, "{out}");
    assert!(
        out.contains("certificate") && out.contains("--git-ca-file"),
        "{out}"
    );

    // A whole reconcile from the https URL converges the stack.
    let mut args = vec!["--git-token-file", token, "--git-ca-file", ca];
    args.extend(["--instance", repo.src.instance.as_str()]);
    let (ok, out) = run("apply", &url, &args);
    assert!(ok, "{out}\nserver:\n{}", server.log());
    assert_eq!(inspect(&format!("{stack}-app-1"), "{{.State.Running}}"), "true");
}
