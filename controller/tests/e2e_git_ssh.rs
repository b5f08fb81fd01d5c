//! End to end: the git source over ssh with a deploy key, against a private `sshd` on
//! loopback (its own config, host key and authorized_keys in a tempdir). `aegis validate`
//! clones through git2's libssh2: a known host key works, a different one is refused, the
//! insecure flag skips the check, and a key the server does not know is an auth error.
//!
//! Needs `/usr/sbin/sshd` and `ssh-keygen` (`scripts/ensure-build-deps.sh` installs them).
//! Without them the tests print SKIP, except under `CI`, where they fail.

mod gitsupport;
mod support;

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use gitsupport::*;
use support::*;

const SSHD: &str = "/usr/sbin/sshd";

/// Whether sshd and ssh-keygen are here; under `CI` their absence is a failure.
fn have_sshd() -> bool {
    let ok = Path::new(SSHD).is_file() && Command::new("ssh-keygen").arg("-?").output().is_ok();
    if !ok {
        assert!(
            !under_ci(),
            "{SSHD} or ssh-keygen is missing under CI: run scripts/ensure-build-deps.sh"
        );
        eprintln!("SKIP: {SSHD} or ssh-keygen is missing (run scripts/ensure-build-deps.sh)");
    }
    ok
}

/// `ssh-keygen -q -N '' -f PATH ARGS`; the private key's path.
fn keygen(path: &Path, args: &[&str]) -> PathBuf {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "aegis-test", "-f"])
        .arg(path)
        .args(args)
        .output()
        .expect("run ssh-keygen");
    assert!(
        o.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    path.to_path_buf()
}

/// The `TYPE BASE64` of a public key file (without its comment).
fn pubkey(private: &Path) -> String {
    let text = std::fs::read_to_string(private.with_extension("pub")).expect("read .pub");
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// A private sshd on 127.0.0.1, foreground (`-D -e`), killed on drop.
struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    host_key: PathBuf,
}

impl Sshd {
    /// Starts it accepting exactly `authorized` (private key paths) for any user.
    fn start(authorized: &[&Path]) -> Self {
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = keygen(&dir.path().join("host_ed25519"), &["-t", "ed25519"]);
        let keys: String = authorized.iter().map(|k| pubkey(k) + "\n").collect();
        std::fs::write(dir.path().join("authorized_keys"), keys).unwrap();
        let port = free_port();
        let config = dir.path().join("sshd_config");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\n\
                 PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                 StrictModes no\nUsePAM no\nLogLevel VERBOSE\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let mut s = Self {
            child,
            dir,
            port,
            host_key,
        };
        wait_for(Duration::from_secs(10), "sshd to listen", || {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("sshd exited ({st}):\n{}", s.log());
            }
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// A known_hosts file listing this server's port with the public key of `key`.
    fn known_hosts(&self, name: &str, key: &Path) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("[127.0.0.1]:{} {}\n", self.port, pubkey(key))).unwrap();
        path
    }

    fn url(&self, repo: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, repo.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `aegis validate --source URL ARGS`: (success, stdout+stderr).
fn validate_ssh(url: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["validate", "--source", url])
        .args(args)
        .output()
        .expect("run aegis validate");
    (o.status.success(), text(&o))
}

/// A bare repository with one valid commit; (repo, its path, the commit).
fn repo_with_a_commit() -> (Repo, PathBuf, String) {
    let repo = Repo::new();
    let stack = unique("gitssh");
    let commit = repo.commit(&[("stack.yaml", stack_yaml(&stack, "1", None))]);
    let bare = repo.base.path().join("repo.git");
    (repo, bare, commit)
}

/// The whole matrix with an ed25519 deploy key (OpenSSH private key format).
#[test]
fn validate_over_ssh_with_an_ed25519_deploy_key() {
    if !have_sshd() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(&keys.path().join("deploy_ed25519"), &["-t", "ed25519"]);
    let wrong = keygen(&keys.path().join("wrong_ed25519"), &["-t", "ed25519"]);
    let other_host = keygen(&keys.path().join("other_host"), &["-t", "ed25519"]);
    let sshd = Sshd::start(&[&key]);
    let (_repo, bare, commit) = repo_with_a_commit();
    let url = sshd.url(&bare);
    let key_s = key.to_str().unwrap();
    let known = sshd.known_hosts("known_hosts", &sshd.host_key);
    let known_s = known.to_str().unwrap();

    // The right key and the right host key.
    let (ok, out) = validate_ssh(&url, &["--ssh-key", key_s, "--known-hosts", known_s]);
    assert!(ok, "{out}\nsshd:\n{}", sshd.log());
    assert!(out.contains(&format!("revision {}", &commit[..12])), "{out}");

    // known_hosts lists the host with a different key: refused.
    let bad_known = sshd.known_hosts("known_hosts_other", &other_host);
    let (ok, out) = validate_ssh(
        &url,
        &["--ssh-key", key_s, "--known-hosts", bad_known.to_str().unwrap()],
    );
    eprintln!("different host key: {out}");
    assert!(!ok, "{out}");
    assert!(out.contains("host key"), "{out}");
    assert!(out.contains("does not match"), "{out}");

    // No known_hosts at all, but the insecure flag: works.
    let (ok, out) = validate_ssh(&url, &["--ssh-key", key_s, "--insecure-skip-host-key-check"]);
    assert!(ok, "{out}\nsshd:\n{}", sshd.log());
    assert!(out.contains(&format!("revision {}", &commit[..12])), "{out}");

    // A key the server does not know: an authentication error naming the key file.
    let (ok, out) = validate_ssh(
        &url,
        &["--ssh-key", wrong.to_str().unwrap(), "--known-hosts", known_s],
    );
    eprintln!("wrong deploy key: {out}");
    assert!(!ok, "{out}");
    assert!(
        out.contains("authentication failed"),
        "not an authentication error: {out}"
    );
    assert!(
        out.contains(wrong.to_str().unwrap()),
        "the key file is not named: {out}"
    );
}

/// An RSA deploy key in PEM format (`ssh-keygen -m PEM`).
#[test]
fn validate_over_ssh_with_an_rsa_pem_deploy_key() {
    if !have_sshd() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(
        &keys.path().join("deploy_rsa"),
        &["-t", "rsa", "-b", "3072", "-m", "PEM"],
    );
    let sshd = Sshd::start(&[&key]);
    let (_repo, bare, commit) = repo_with_a_commit();
    let known = sshd.known_hosts("known_hosts", &sshd.host_key);
    let (ok, out) = validate_ssh(
        &sshd.url(&bare),
        &[
            "--ssh-key",
            key.to_str().unwrap(),
            "--known-hosts",
            known.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}\nsshd:\n{}", sshd.log());
    assert!(out.contains(&format!("revision {}", &commit[..12])), "{out}");
}
