//! A git repository as a [`Source`].
//!
//! One bare mirror per URL under `<state>/git/` receives every fetch (branches and tags,
//! pruned), so a restart fetches only what is new. The followed ref is resolved in the
//! mirror to a commit, and that commit's tree is checked out into a fresh directory,
//! `<state>/checkouts/<commit>/`: written under a temporary name and renamed into place, so
//! a half-written checkout is never loaded. A revision's files never change after that,
//! which is what lets a rejected revision leave the running one alone.

use std::{
    fs,
    path::{Path, PathBuf},
};

use git2::{build::CheckoutBuilder, AutotagOption, FetchOptions, FetchPrune, Oid, Repository};
use sha2::{Digest, Sha256};

use super::{auth, GitConfig, Revision, Source, SourceError, Tracked, TrackedRef};

/// Makes libgit2 trust the CA certificates in the PEM file `path` for https, besides the
/// system's roots. libgit2 keeps this process-wide, so it is set once, at startup, before
/// any fetch; a second, different file is refused rather than silently ignored.
pub fn trust_ca_file(path: &Path) -> Result<(), SourceError> {
    static SET: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let text = fs::read_to_string(path).map_err(|source| SourceError::Io {
        context: format!("cannot read --git-ca-file {}", path.display()),
        source,
    })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(SourceError::Config(format!(
            "--git-ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    let mut result = Ok(());
    let set = SET.get_or_init(|| {
        // SAFETY: libgit2 must not run a git operation concurrently with setting its TLS
        // options. This runs while the source flags are read, before the first fetch,
        // and the OnceLock makes it run once per process.
        result = unsafe { git2::opts::set_ssl_cert_file(path) }
            .map_err(|e| SourceError::Config(format!("--git-ca-file {}: {}", path.display(), e.message())));
        path.to_path_buf()
    });
    if set != path {
        return Err(SourceError::Config(format!(
            "--git-ca-file {} given after {}: one CA file per process",
            path.display(),
            set.display()
        )));
    }
    result
}

/// Mirror every branch and tag; `--ref` is resolved locally afterwards.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

pub struct GitSource {
    cfg: GitConfig,
    mirror: PathBuf,
    checkouts: PathBuf,
    tracked: TrackedRef,
}

impl GitSource {
    /// Keeps its mirror in `<state_dir>/git/<digest of the URL>.git` and its checkouts in
    /// `<state_dir>/checkouts/`. Creates neither until the first fetch.
    pub fn new(cfg: GitConfig, state_dir: &Path) -> Result<Self, SourceError> {
        let digest = hex::encode(Sha256::digest(cfg.url.as_bytes()));
        let tracked = TrackedRef::default();
        if let Some(r) = &cfg.reference {
            if looks_like_commit(r) {
                tracked.set(Tracked::Pinned);
            }
        }
        Ok(Self {
            mirror: state_dir.join("git").join(format!("{}.git", &digest[..16])),
            checkouts: state_dir.join("checkouts"),
            cfg,
            tracked,
        })
    }

    fn git_err(&self, what: &str, e: &git2::Error) -> SourceError {
        SourceError::Git(format!("{what} {}: {}", self.cfg.display_url(), e.message()))
    }

    fn open_mirror(&self) -> Result<Repository, SourceError> {
        if self.mirror.join("HEAD").is_file() {
            if let Ok(r) = Repository::open_bare(&self.mirror) {
                return Ok(r);
            }
            // A mirror left corrupt (killed mid-init): start it again.
            let _ = fs::remove_dir_all(&self.mirror);
        }
        fs::create_dir_all(&self.mirror).map_err(|source| SourceError::Io {
            context: format!("cannot create {}", self.mirror.display()),
            source,
        })?;
        Repository::init_bare(&self.mirror).map_err(|e| self.git_err("cannot create the mirror of", &e))
    }

    /// Fetches into the mirror; returns the remote's HEAD branch (`refs/heads/main`) when
    /// the remote advertises one.
    fn fetch_mirror(&self, repo: &Repository) -> Result<Option<String>, SourceError> {
        let mut remote = repo
            .remote_anonymous(&self.cfg.url)
            .map_err(|e| self.git_err("bad URL", &e))?;
        let refusal = std::cell::RefCell::new(None);
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(auth::callbacks(&self.cfg.auth, &self.cfg.url, &refusal))
            .download_tags(AutotagOption::None)
            .prune(FetchPrune::On);
        remote
            .fetch(&REFSPECS, Some(&mut opts), None)
            .map_err(|e| match refusal.take() {
                // Ours says why; libgit2 may have replaced it with a generic message.
                Some(why) => SourceError::Git(format!("cannot fetch {}: {why}", self.cfg.display_url())),
                None if e.class() == git2::ErrorClass::Ssl || e.code() == git2::ErrorCode::Certificate => {
                    SourceError::Git(format!(
                        "cannot fetch {}: the server's TLS certificate is not trusted ({}); if it is \
                         signed by your own CA, give --git-ca-file",
                        self.cfg.display_url(),
                        e.message()
                    ))
                }
                None => self.git_err("cannot fetch", &e),
            })?;
        // The advertised refs outlive the fetch's connection, so this needs no second one.
        Ok(remote
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_owned)))
    }

    /// The commit `--ref` (or the remote's HEAD branch) names in the mirror.
    fn resolve(
        &self,
        repo: &Repository,
        default_branch: Option<String>,
    ) -> Result<(Oid, Tracked), SourceError> {
        let url = self.cfg.display_url();
        let Some(r) = self.cfg.reference.as_deref() else {
            let branch = default_branch
                .ok_or_else(|| SourceError::Git(format!("{url} advertises no HEAD branch; give --ref")))?;
            let oid =
                peel(repo, &branch).map_err(|e| self.git_err(&format!("cannot read {branch} of"), &e))?;
            return Ok((oid, Tracked::Ref(branch)));
        };
        let candidates = [format!("refs/heads/{r}"), format!("refs/tags/{r}"), r.to_owned()];
        for name in candidates.iter().filter(|n| n.starts_with("refs/")) {
            if repo.find_reference(name).is_ok() {
                let oid =
                    peel(repo, name).map_err(|e| self.git_err(&format!("cannot read {name} of"), &e))?;
                return Ok((oid, Tracked::Ref(name.clone())));
            }
        }
        if looks_like_commit(r) {
            if let Ok(c) = repo.revparse_single(r).and_then(|o| o.peel_to_commit()) {
                return Ok((c.id(), Tracked::Pinned));
            }
        }
        // The remote answered: the flag is wrong (a usage error), not the remote.
        Err(SourceError::Config(format!(
            "--ref {r}: no branch, tag or commit of that name in {url}"
        )))
    }

    /// `<checkouts>/<commit>/`, written now unless it exists.
    fn checkout(&self, repo: &Repository, oid: Oid) -> Result<PathBuf, SourceError> {
        let dir = self.checkouts.join(oid.to_string());
        if dir.is_dir() {
            return Ok(dir);
        }
        let io = |context: String| move |source| SourceError::Io { context, source };
        let tmp = self.checkouts.join(format!(".tmp-{oid}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
        let tree = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| self.git_err(&format!("cannot read commit {oid} of"), &e))?;
        let mut cb = CheckoutBuilder::new();
        cb.target_dir(&tmp)
            .force()
            .recreate_missing(true)
            .update_index(false);
        repo.checkout_tree(tree.as_object(), Some(&mut cb))
            .map_err(|e| self.git_err(&format!("cannot check out {oid} of"), &e))?;
        fs::rename(&tmp, &dir).map_err(io(format!("cannot move the checkout to {}", dir.display())))?;
        Ok(dir)
    }
}

impl GitSource {
    /// `--path` inside the checkout `dir`, resolved within it: a committed symlink named by
    /// `--path` that leads outside the checkout would otherwise make that outside directory
    /// the source root.
    fn subdir(&self, dir: &Path) -> Result<PathBuf, SourceError> {
        let checkout = super::SourceRoot::open(dir)
            .map_err(|e| SourceError::Git(format!("{} at {}: {e}", self.cfg.describe(), &dir.display())))?;
        checkout
            .top()
            .subdir(&self.cfg.path)
            .map(|d| d.path())
            .map_err(|e| SourceError::Git(format!("--path {e} ({})", self.cfg.describe())))
    }
}

impl Source for GitSource {
    fn describe(&self) -> String {
        self.cfg.describe()
    }

    fn fetch(&self) -> Result<Revision, SourceError> {
        let repo = self.open_mirror()?;
        let default_branch = self.fetch_mirror(&repo)?;
        let (oid, tracked) = self.resolve(&repo, default_branch)?;
        self.tracked.set(tracked);
        let dir = self.checkout(&repo, oid)?;
        Ok(Revision {
            id: oid.to_string(),
            root: self.subdir(&dir)?,
        })
    }

    fn retain(&self, keep: &[&str]) {
        let Ok(entries) = fs::read_dir(&self.checkouts) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name.as_str()) {
                if let Err(err) = fs::remove_dir_all(e.path()) {
                    tracing::warn!("cannot remove the old checkout {}: {err}", e.path().display());
                }
            }
        }
    }

    fn tracked(&self) -> TrackedRef {
        self.tracked.clone()
    }
}

fn peel(repo: &Repository, name: &str) -> Result<Oid, git2::Error> {
    Ok(repo.find_reference(name)?.peel_to_commit()?.id())
}

/// 7 to 40 hex digits: what `--ref` must look like to be taken as a commit pin.
fn looks_like_commit(r: &str) -> bool {
    (7..=40).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
