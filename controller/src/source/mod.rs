//! Where desired state comes from: a local directory or a git repository, turned into
//! [`Revision`]s — one directory per revision, with an id — that
//! [`crate::resolve::load_source_at`] validates whole.
//!
//! - [`Location`] is what `--source`, `--ref`, `--path` and the credential flags
//!   ([`SourceArgs`]) name.
//! - [`Source`] is the one interface the controller's poller drives: [`DirSource`] digests a
//!   directory, [`GitSource`] fetches into a bare mirror under `--state-dir/git/` and checks
//!   each commit out into its own directory under `--state-dir/checkouts/<commit>/`.
//! - [`materialize`] is the one-shot form for `validate`, `apply` and `aegisctl diff`: a git
//!   source is cloned into a temporary directory that goes away with the returned guard.
//! - [`webhook`] verifies GitHub and GitLab push hooks and says whether the push concerns
//!   the ref this source follows.
//! - [`root`] is the trust boundary: every file a manifest names is read through a
//!   [`SourceRoot`], and resolves inside the revision's directory or not at all.
//!
//! Every git2 call blocks: callers in async code run [`Source::fetch`] through
//! `spawn_blocking`.

mod auth;
mod dir;
mod git;
mod location;
pub mod root;
pub mod webhook;

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
};

pub use auth::{check_host_key, select_credential, CredentialChoice, GitAuth, HostKeyVerdict};
pub use dir::DirSource;
pub use git::GitSource;
pub use location::{GitConfig, Location, SourceArgs};
pub use root::{RootDir, RootError, RootPath, SourceRoot};

/// One revision of the source, ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The full id: a commit id for git, the content digest for a directory.
    pub id: String,
    /// The directory to load: the checkout (or the source directory) joined with `--path`.
    pub root: PathBuf,
}

impl Revision {
    /// The 12-character form shown in status and container labels.
    pub fn short(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source directory (or `--path` in a checkout) is missing or unreadable.
    #[error("cannot read the source directory {0}")]
    Unreadable(PathBuf),
    /// Clone, fetch, ref lookup or checkout failed; the message names the URL (without
    /// credentials) and what git said.
    #[error("{0}")]
    Git(String),
    /// A flag combination or a credential file is wrong; found before any fetch.
    #[error("{0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Which pushes concern this source, learnt as it fetches: the webhook ignores the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    /// Not known yet (before the first fetch of a remote's default branch) or a directory:
    /// every push triggers a fetch.
    Any,
    /// This full ref name (`refs/heads/main`, `refs/tags/v1`).
    Ref(String),
    /// A commit pin: no push changes it.
    Pinned,
}

/// The [`Tracked`] ref, shared between a source and the webhook.
#[derive(Debug, Clone)]
pub struct TrackedRef(Arc<RwLock<Tracked>>);

impl Default for TrackedRef {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(Tracked::Any)))
    }
}

impl TrackedRef {
    pub fn get(&self) -> Tracked {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, t: Tracked) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = t;
    }
}

/// A source of revisions. Both methods block (git2, file system): call them through
/// `spawn_blocking`.
pub trait Source: Send + Sync + 'static {
    /// For logs: the directory, or the URL without credentials plus ref and path.
    fn describe(&self) -> String;

    /// Fetches (if remote) and materializes the newest revision. The same id means the
    /// same content, so the caller can skip loading a revision it has already judged.
    fn fetch(&self) -> Result<Revision, SourceError>;

    /// Drops materialized revisions other than `keep` (ids). A directory keeps nothing.
    fn retain(&self, keep: &[&str]) {
        let _ = keep;
    }

    /// The ref whose pushes concern this source.
    fn tracked(&self) -> TrackedRef {
        TrackedRef::default()
    }
}

/// The long-running [`Source`] for `location`: a git source keeps its mirror and
/// checkouts under `state_dir`.
pub fn open(location: &Location, state_dir: &std::path::Path) -> Result<Arc<dyn Source>, SourceError> {
    Ok(match location {
        Location::Dir(root) => Arc::new(DirSource::new(root.clone())),
        Location::Git(cfg) => Arc::new(GitSource::new(cfg.clone(), state_dir)?),
    })
}

/// A revision for a one-shot command. Keeps a git clone's temporary directory alive.
pub struct Materialized {
    pub revision: Revision,
    _scratch: Option<tempfile::TempDir>,
}

/// Fetches `location` once: a directory as it is, a git source cloned into a temporary
/// directory that is removed when the result is dropped. Blocks.
pub fn materialize(location: &Location) -> Result<Materialized, SourceError> {
    match location {
        Location::Dir(root) => Ok(Materialized {
            revision: DirSource::new(root.clone()).fetch()?,
            _scratch: None,
        }),
        Location::Git(cfg) => {
            let scratch = tempfile::Builder::new()
                .prefix("aegis-clone-")
                .tempdir()
                .map_err(|source| SourceError::Io {
                    context: "cannot create a temporary directory for the clone".into(),
                    source,
                })?;
            let revision = GitSource::new(cfg.clone(), scratch.path())?.fetch()?;
            Ok(Materialized {
                revision,
                _scratch: Some(scratch),
            })
        }
    }
}

/// Why a one-shot load found nothing to work with.
#[derive(Debug)]
pub enum LoadError {
    /// The source could not be fetched or read.
    Source(SourceError),
    /// The revision is invalid: every reason.
    Invalid(crate::diagnostic::Diagnostics),
}

/// [`materialize`] then [`crate::resolve::load_source_at`]: the one-shot commands' way in.
/// Keep the [`Materialized`] alive while the result's compose files are in use.
pub fn load_once(location: &Location) -> Result<(Materialized, crate::resolve::Resolved), LoadError> {
    let m = materialize(location).map_err(LoadError::Source)?;
    let resolved =
        crate::resolve::load_source_at(&m.revision.root, m.revision.short()).map_err(LoadError::Invalid)?;
    Ok((m, resolved))
}

/// For messages: the directory, or the URL (without credentials) with ref and path.
pub fn describe(location: &Location) -> String {
    match location {
        Location::Dir(d) => d.display().to_string(),
        Location::Git(cfg) => cfg.describe(),
    }
}
