//! `--source`, `--ref`, `--path` and the credential flags → a [`Location`].

use std::path::{Path, PathBuf};

use super::{auth::GitAuth, SourceError};

/// The source flags shared by `aegis controller`, `aegis apply`, `aegis validate` and
/// `aegisctl diff`; `#[command(flatten)]` them and call [`SourceArgs::location`].
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// A directory, or a git URL: https://, ssh://, git@host:path, git:// or file://.
    #[arg(long, env = "AEGIS_SOURCE", default_value = ".")]
    pub source: String,
    /// Git only: the branch, tag or commit to follow (default: the remote's HEAD branch).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// The subdirectory of the repository (or of the directory) that holds the manifests.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Git over https: a file holding an access token, sent as basic auth
    /// (`x-access-token:<token>`, or the URL's user name with the token as password).
    #[arg(long, env = "AEGIS_GIT_TOKEN_FILE")]
    pub git_token_file: Option<PathBuf>,
    /// Git over https: a PEM file of CA certificates to trust for the server's certificate,
    /// in addition to the system's roots (a self-hosted git server with its own CA).
    #[arg(long, env = "AEGIS_GIT_CA_FILE")]
    pub git_ca_file: Option<PathBuf>,
    /// Git over ssh: the private deploy key (unencrypted, OpenSSH or PEM format).
    #[arg(long, env = "AEGIS_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,
    /// Git over ssh: the known_hosts file the server's host key must be listed in.
    #[arg(long, env = "AEGIS_KNOWN_HOSTS")]
    pub known_hosts: Option<PathBuf>,
    /// Git over ssh: accept any host key (no protection against a man in the middle).
    #[arg(long)]
    pub insecure_skip_host_key_check: bool,
    /// age identities for SOPS-encrypted files in the source (in addition to
    /// SOPS_AGE_KEY_FILE / SOPS_AGE_KEY, read as sops reads them).
    #[arg(long, env = "AEGIS_AGE_KEY_FILE")]
    pub age_key_file: Option<PathBuf>,
}

/// Where desired state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory (already joined with `--path`).
    Dir(PathBuf),
    Git(GitConfig),
}

/// A git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitConfig {
    pub url: String,
    /// Branch, tag, full ref name or commit id; `None` = the remote's HEAD branch.
    pub reference: Option<String>,
    /// Subdirectory of the repository; empty for its root.
    pub path: PathBuf,
    pub auth: GitAuth,
}

impl GitConfig {
    /// A plain config without credentials (file://, git://, tests).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            reference: None,
            path: PathBuf::new(),
            auth: GitAuth::default(),
        }
    }

    /// The URL without any password or token in it, for logs and errors.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    pub fn describe(&self) -> String {
        let mut s = self.display_url();
        if let Some(r) = &self.reference {
            s.push_str(&format!(" ref {r}"));
        }
        if !self.path.as_os_str().is_empty() {
            s.push_str(&format!(" path {}", self.path.display()));
        }
        s
    }

    /// Whether git reaches the remote over ssh (`ssh://` or scp-like `user@host:path`).
    pub fn is_ssh(&self) -> bool {
        self.url.starts_with("ssh://") || is_scp_like(&self.url)
    }
}

impl SourceArgs {
    /// Checks the flags and reads the credential files. Errors are for the operator:
    /// they name the flag to fix.
    pub fn location(&self) -> Result<Location, SourceError> {
        if let Some(f) = &self.age_key_file {
            crate::secrets::keys::set_key_file(f.clone());
        }
        let sub = self.path.clone().unwrap_or_default();
        if sub.is_absolute() || sub.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(SourceError::Config(format!(
                "--path {} must be relative and stay inside the source",
                sub.display()
            )));
        }
        if !is_git_url(&self.source) {
            let git_only = [
                ("--ref", self.reference.is_some()),
                ("--git-token-file", self.git_token_file.is_some()),
                ("--git-ca-file", self.git_ca_file.is_some()),
                ("--ssh-key", self.ssh_key.is_some()),
                ("--known-hosts", self.known_hosts.is_some()),
            ];
            if let Some((flag, _)) = git_only.iter().find(|(_, set)| *set) {
                return Err(SourceError::Config(format!(
                    "{flag} applies to a git source, but --source {} is a directory",
                    self.source
                )));
            }
            return Ok(Location::Dir(Path::new(&self.source).join(sub)));
        }
        let token = self
            .git_token_file
            .as_deref()
            .map(|p| {
                let raw = std::fs::read_to_string(p).map_err(|source| SourceError::Io {
                    context: format!("cannot read --git-token-file {}", p.display()),
                    source,
                })?;
                let t = raw.trim().to_owned();
                if t.is_empty() {
                    return Err(SourceError::Config(format!(
                        "--git-token-file {} is empty",
                        p.display()
                    )));
                }
                Ok(t)
            })
            .transpose()?;
        let cfg = GitConfig {
            url: self.source.clone(),
            reference: self.reference.clone().filter(|r| !r.is_empty()),
            path: sub,
            auth: GitAuth {
                token: token.map(super::auth::Token),
                ssh_key: self.ssh_key.clone(),
                known_hosts: self.known_hosts.clone(),
                insecure_skip_host_key_check: self.insecure_skip_host_key_check,
            },
        };
        if cfg.is_ssh() && cfg.auth.known_hosts.is_none() && !cfg.auth.insecure_skip_host_key_check {
            return Err(SourceError::Config(format!(
                "{} is an ssh URL: give --known-hosts FILE with the server's host key, or \
                 --insecure-skip-host-key-check",
                cfg.display_url()
            )));
        }
        if cfg.auth.token.is_some() && cfg.url.starts_with("http://") {
            return Err(SourceError::Config(
                "refusing to send --git-token-file over plain http://; use https://".into(),
            ));
        }
        if let Some(ca) = &self.git_ca_file {
            if !cfg.url.starts_with("https://") {
                return Err(SourceError::Config(format!(
                    "--git-ca-file applies to an https:// source, not {}",
                    cfg.display_url()
                )));
            }
            super::git::trust_ca_file(ca)?;
        }
        Ok(Location::Git(cfg))
    }
}

/// Whether `--source` names a git remote rather than a directory.
pub fn is_git_url(s: &str) -> bool {
    ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|p| s.starts_with(p))
        || is_scp_like(s)
}

/// `user@host:path`, git's scp-like ssh syntax (a `/` before the `:` makes it a path).
fn is_scp_like(s: &str) -> bool {
    let Some((before, _)) = s.split_once(':') else {
        return false;
    };
    !s.contains("://") && before.contains('@') && !before.contains('/')
}

/// `https://user:secret@host/x` → `https://user:***@host/x`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(source: &str) -> SourceArgs {
        SourceArgs {
            source: source.into(),
            reference: None,
            path: None,
            git_token_file: None,
            git_ca_file: None,
            ssh_key: None,
            known_hosts: None,
            insecure_skip_host_key_check: false,
            age_key_file: None,
        }
    }

    #[test]
    fn urls_and_directories() {
        for u in [
            "https://example.invalid/a.git",
            "ssh://git@example.invalid/a.git",
            "git@example.invalid:org/a.git",
            "git://127.0.0.1:9418/a.git",
            "file:///tmp/a.git",
        ] {
            assert!(is_git_url(u), "{u}");
        }
        for d in [".", "examples/quickstart", "/srv/aegis", "./a:b", "dir/x@y:z"] {
            assert!(!is_git_url(d), "{d}");
        }
    }

    #[test]
    fn directory_with_path_and_no_git_flags() {
        let mut a = args("/srv/src");
        a.path = Some("hosts/a".into());
        assert_eq!(a.location().unwrap(), Location::Dir("/srv/src/hosts/a".into()));
        a.reference = Some("main".into());
        assert!(a.location().unwrap_err().to_string().contains("--ref"));
        let mut a = args(".");
        a.path = Some("../x".into());
        assert!(a.location().is_err());
    }

    #[test]
    fn ssh_needs_known_hosts_or_opt_out() {
        let a = args("git@example.invalid:org/a.git");
        assert!(a.location().unwrap_err().to_string().contains("--known-hosts"));
        let mut a = args("ssh://git@example.invalid/a.git");
        a.insecure_skip_host_key_check = true;
        assert!(matches!(a.location().unwrap(), Location::Git(_)));
    }

    #[test]
    fn token_is_read_trimmed_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "s3cr3t-token\n").unwrap();
        let mut a = args("https://example.invalid/a.git");
        a.git_token_file = Some(f);
        let Location::Git(cfg) = a.location().unwrap() else {
            panic!()
        };
        assert_eq!(cfg.auth.token.as_ref().unwrap().0, "s3cr3t-token");
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
        a.source = "http://example.invalid/a.git".into();
        assert!(a.location().is_err(), "no token over plain http");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("https://u:tok@h/x.git"), "https://u:***@h/x.git");
        assert_eq!(redact_url("https://h/x.git"), "https://h/x.git");
        assert_eq!(redact_url("git@h:x.git"), "git@h:x.git");
    }
}
