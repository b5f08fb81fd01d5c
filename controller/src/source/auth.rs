//! Git credentials: which credential to answer libgit2's request with, and whether an ssh
//! server's host key is the one in `--known-hosts`. Both decisions are pure functions
//! ([`select_credential`], [`check_host_key`]) so they are tested without a server;
//! [`callbacks`] wires them into git2.

use std::{cell::RefCell, fmt, path::PathBuf};

use base64::Engine as _;
use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

/// A git access token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The credentials of a git source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitAuth {
    /// https: the password of basic auth.
    pub token: Option<Token>,
    /// ssh: the private key file.
    pub ssh_key: Option<PathBuf>,
    /// ssh: the known_hosts file.
    pub known_hosts: Option<PathBuf>,
    pub insecure_skip_host_key_check: bool,
}

/// The user name sent with a token when the URL names none; GitHub, Gitea and GitLab (with
/// any non-empty user) all accept it.
pub const TOKEN_USER: &str = "x-access-token";

/// What to answer a credential request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialChoice {
    /// The deploy key, as `user` (the URL's user, else `git`).
    SshKey { user: String, key: PathBuf },
    /// Basic auth with the token as password.
    Token { user: String },
    /// Only the user name (libgit2 asks for it before an ssh key).
    Username(String),
}

/// Picks the credential for a request that allows `allowed`, or says why there is none.
/// `attempt` counts requests in one operation: libgit2 asks again after a rejected
/// credential, and a second try with the same one would loop forever.
pub fn select_credential(
    auth: &GitAuth,
    username_from_url: Option<&str>,
    allowed: CredentialType,
    attempt: u32,
) -> Result<CredentialChoice, String> {
    let url_user = username_from_url.filter(|u| !u.is_empty());
    if allowed.contains(CredentialType::USERNAME) {
        return Ok(CredentialChoice::Username(url_user.unwrap_or("git").to_owned()));
    }
    if attempt > 1 {
        return Err(match &auth.ssh_key {
            Some(key) if allowed.contains(CredentialType::SSH_KEY) => format!(
                "ssh authentication failed: the remote rejected the key {}",
                key.display()
            ),
            _ if auth.token.is_some() && allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                "the remote rejected the credentials: check the token in --git-token-file \
                 (and its access to this repository)"
                    .into()
            }
            _ => "the remote rejected the credentials".into(),
        });
    }
    if allowed.contains(CredentialType::SSH_KEY) {
        return match &auth.ssh_key {
            Some(key) => Ok(CredentialChoice::SshKey {
                user: url_user.unwrap_or("git").to_owned(),
                key: key.clone(),
            }),
            None => Err("the remote wants an ssh key: give --ssh-key".into()),
        };
    }
    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
        return match &auth.token {
            Some(_) => Ok(CredentialChoice::Token {
                user: url_user.unwrap_or(TOKEN_USER).to_owned(),
            }),
            None => Err("the remote wants a login: give --git-token-file".into()),
        };
    }
    Err(format!(
        "the remote asks for a credential aegis does not have ({allowed:?})"
    ))
}

/// The outcome of looking a host key up in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// A line for this host has exactly this key.
    Match,
    /// The host is listed, but with other keys: possibly a man in the middle.
    Mismatch,
    /// No line names this host.
    Unknown,
}

/// Looks up `key` (the raw ssh public key blob the server presented) for `host` (and
/// `port`; 22 is written `host`, others `[host]:port`) in known_hosts text. Hashed entries
/// (`|1|…`, from `HashKnownHosts`) and `@revoked`/`@cert-authority` markers are not
/// supported and are skipped, so a file of only hashed lines yields [`HostKeyVerdict::Unknown`].
pub fn check_host_key(known_hosts: &str, host: &str, port: u16, key: &[u8]) -> HostKeyVerdict {
    let wanted = if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    };
    let mut listed = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') || line.starts_with('|') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(_type), Some(blob)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let mut negated = false;
        let mut matched = false;
        for pattern in hosts.split(',') {
            match pattern.strip_prefix('!') {
                Some(p) if glob(p, &wanted) => negated = true,
                None if glob(pattern, &wanted) => matched = true,
                _ => {}
            }
        }
        if !matched || negated {
            continue;
        }
        listed = true;
        if base64::engine::general_purpose::STANDARD
            .decode(blob)
            .is_ok_and(|b| b == key)
        {
            return HostKeyVerdict::Match;
        }
    }
    if listed {
        HostKeyVerdict::Mismatch
    } else {
        HostKeyVerdict::Unknown
    }
}

/// known_hosts patterns: `*` any run, `?` one character, case-insensitive.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// The host and port of an ssh URL (`ssh://user@host:port/path` or `user@host:path`).
pub fn ssh_host_port(url: &str) -> Option<(String, u16)> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some(h) = host_port.strip_prefix('[') {
            let (host, after) = h.split_once(']')?;
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(22);
            return Some((host.to_owned(), port));
        }
        return Some(match host_port.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (host_port.to_owned(), 22),
        });
    }
    let (before, _) = url.split_once(':')?;
    let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
    Some((host.to_owned(), 22))
}

/// git2 callbacks answering with `auth`'s credentials and checking ssh host keys. The
/// token reaches libgit2 only here, never a log line. A callback's refusal is also kept in
/// `refusal`: libgit2 replaces a rejected ssh host key's message with its own generic
/// "invalid or unknown remote ssh hostkey", so the caller reports this one instead.
pub fn callbacks<'a>(
    auth: &'a GitAuth,
    url: &'a str,
    refusal: &'a RefCell<Option<String>>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let mut attempt = 0;
    cb.credentials(move |_url, username_from_url, allowed| {
        if !allowed.contains(CredentialType::USERNAME) {
            attempt += 1;
        }
        match select_credential(auth, username_from_url, allowed, attempt).map_err(|e| {
            *refusal.borrow_mut() = Some(e.clone());
            git2::Error::from_str(&e)
        })? {
            CredentialChoice::Username(u) => Cred::username(&u),
            CredentialChoice::SshKey { user, key } => Cred::ssh_key(&user, None, &key, None),
            CredentialChoice::Token { user } => {
                let token = auth.token.as_ref().map_or("", |t| t.0.as_str());
                Cred::userpass_plaintext(&user, token)
            }
        }
    });
    cb.certificate_check(move |cert, _host| {
        check_certificate(auth, url, cert).inspect_err(|e| {
            *refusal.borrow_mut() = Some(e.message().to_owned());
        })
    });
    cb
}

fn check_certificate(
    auth: &GitAuth,
    url: &str,
    cert: &git2::cert::Cert<'_>,
) -> Result<CertificateCheckStatus, git2::Error> {
    let Some(hostkey) = cert.as_hostkey() else {
        // TLS: libgit2 has verified the chain against the system roots already.
        return Ok(CertificateCheckStatus::CertificatePassthrough);
    };
    if auth.insecure_skip_host_key_check {
        return Ok(CertificateCheckStatus::CertificateOk);
    }
    let (host, port) =
        ssh_host_port(url).ok_or_else(|| git2::Error::from_str(&format!("cannot find the host in {url}")))?;
    let Some(path) = &auth.known_hosts else {
        return Err(git2::Error::from_str(
            "no --known-hosts to check the ssh host key against",
        ));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| git2::Error::from_str(&format!("cannot read --known-hosts {}: {e}", path.display())))?;
    let key = hostkey
        .hostkey()
        .ok_or_else(|| git2::Error::from_str("the ssh server presented no host key"))?;
    match check_host_key(&text, &host, port, key) {
        HostKeyVerdict::Match => Ok(CertificateCheckStatus::CertificateOk),
        HostKeyVerdict::Mismatch => Err(git2::Error::from_str(&format!(
            "the host key of {host} does not match {}: refusing to connect",
            path.display()
        ))),
        HostKeyVerdict::Unknown => Err(git2::Error::from_str(&format!(
            "{host} is not in {} (hashed entries are not supported)",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(token: bool, key: bool) -> GitAuth {
        GitAuth {
            token: token.then(|| Token("t".into())),
            ssh_key: key.then(|| PathBuf::from("/keys/deploy")),
            ..Default::default()
        }
    }

    #[test]
    fn ssh_key_for_ssh_as_the_url_user() {
        let a = auth(false, true);
        assert_eq!(
            select_credential(&a, Some("deploy"), CredentialType::SSH_KEY, 1),
            Ok(CredentialChoice::SshKey {
                user: "deploy".into(),
                key: "/keys/deploy".into()
            })
        );
        assert_eq!(
            select_credential(&a, None, CredentialType::USERNAME, 0),
            Ok(CredentialChoice::Username("git".into()))
        );
        let err = select_credential(&auth(true, false), None, CredentialType::SSH_KEY, 1).unwrap_err();
        assert!(err.contains("--ssh-key"), "{err}");
    }

    #[test]
    fn token_for_https_with_the_default_or_url_user() {
        let a = auth(true, true);
        let both = CredentialType::USER_PASS_PLAINTEXT;
        assert_eq!(
            select_credential(&a, None, both, 1),
            Ok(CredentialChoice::Token {
                user: TOKEN_USER.into()
            })
        );
        assert_eq!(
            select_credential(&a, Some("oauth2"), both, 1),
            Ok(CredentialChoice::Token {
                user: "oauth2".into()
            })
        );
        assert!(select_credential(&auth(false, true), None, both, 1)
            .unwrap_err()
            .contains("--git-token-file"));
    }

    #[test]
    fn a_rejected_credential_is_not_retried() {
        let a = auth(true, true);
        assert!(select_credential(&a, None, CredentialType::USER_PASS_PLAINTEXT, 2).is_err());
        let err = select_credential(&a, None, CredentialType::SSH_KEY, 2).unwrap_err();
        assert!(err.contains("authentication failed"), "{err}");
        assert!(err.contains("/keys/deploy"), "the key file is named: {err}");
    }

    const KEY: &[u8] = b"\0\0\0\x0bssh-ed25519\0\0\0\x20abcdefghijklmnopqrstuvwxyz012345";

    fn line(hosts: &str, key: &[u8]) -> String {
        format!(
            "{hosts} ssh-ed25519 {}\n",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    #[test]
    fn known_hosts_match_mismatch_unknown() {
        let other = b"\0\0\0\x0bssh-ed25519\0\0\0\x20ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
        let text = format!(
            "# comment\n|1|aGFzaGVk|aGFzaGVk ssh-ed25519 AAAA\n{}{}{}",
            line("git.example.org,10.0.0.1", KEY),
            line("[git.example.org]:2222", other),
            line("*.lan,!bad.lan", KEY),
        );
        assert_eq!(
            check_host_key(&text, "git.example.org", 22, KEY),
            HostKeyVerdict::Match
        );
        assert_eq!(
            check_host_key(&text, "GIT.example.org", 22, KEY),
            HostKeyVerdict::Match
        );
        assert_eq!(
            check_host_key(&text, "10.0.0.1", 22, other),
            HostKeyVerdict::Mismatch
        );
        assert_eq!(
            check_host_key(&text, "git.example.org", 2222, KEY),
            HostKeyVerdict::Mismatch
        );
        assert_eq!(
            check_host_key(&text, "git.example.org", 2222, other),
            HostKeyVerdict::Match
        );
        assert_eq!(check_host_key(&text, "nas.lan", 22, KEY), HostKeyVerdict::Match);
        assert_eq!(check_host_key(&text, "bad.lan", 22, KEY), HostKeyVerdict::Unknown);
        assert_eq!(
            check_host_key(&text, "elsewhere", 22, KEY),
            HostKeyVerdict::Unknown
        );
    }

    #[test]
    fn ssh_hosts_from_urls() {
        assert_eq!(
            ssh_host_port("git@h.example:org/r.git"),
            Some(("h.example".into(), 22))
        );
        assert_eq!(
            ssh_host_port("ssh://git@h.example:2222/r.git"),
            Some(("h.example".into(), 2222))
        );
        assert_eq!(
            ssh_host_port("ssh://h.example/r.git"),
            Some(("h.example".into(), 22))
        );
        assert_eq!(
            ssh_host_port("ssh://git@[::1]:2200/r.git"),
            Some(("::1".into(), 2200))
        );
    }
}
