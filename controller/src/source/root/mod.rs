//! The source root: the one way aegis reads a file that a manifest names.
//!
//! The repository is a trust boundary. Whoever can push to it must not make aegis read a file
//! of the controller's host (its age identities, API token, TLS keys): Argo CD
//! (CVE-2022-24348, CVE-2022-24730) and Flux (CVE-2022-24817) had that bug through symlinks
//! and `..`. So every path written in a manifest or compose file — compose files, relative
//! bind sources, `env_file`, the `.env` next to a compose file, SOPS files, compose
//! `secrets:` files, and the manifests themselves — is resolved here, and resolves inside
//! the root or not at all:
//!
//! - an absolute path is refused ([`RootError::Absolute`]);
//! - `..` may not climb above the root ([`RootError::Escapes`]);
//! - symlinks are followed one component at a time, the way the kernel would, but a target
//!   that leaves the root is refused ([`RootError::SymlinkOut`]) before anything outside is
//!   touched; a symlink inside the repository that points inside it is fine;
//! - devices, FIFOs and sockets are refused ([`RootError::Special`]): reading a FIFO would
//!   block the controller, and none of them is content a repository can carry.
//!
//! Resolution never calls `canonicalize` on a written path: it only `lstat`s and
//! `readlink`s entries below the root, so nothing outside it is even looked up. The result,
//! a [`RootPath`], is symlink-free. Reads then open it and check that the file opened is the
//! one that was checked (device and inode), so a swap between check and open is refused too.
//! (A git checkout never changes after it is written; a local directory source belongs to
//! the operator.)
//!
//! Directories delivered to hosts are walked by [`SourceRoot::tree`] (in `walk.rs`): the same
//! rules for every entry, with symlinks followed within the root.
//!
//! Relative paths resolve against a [`RootDir`]: the directory of the manifest, or of the
//! compose file as the Stack names it (compose's project directory).

mod walk;

#[cfg(test)]
mod tests;

use std::{
    ffi::OsString,
    fs::{self, File, Metadata},
    io::{self, Read},
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Component, Path, PathBuf},
    sync::Arc,
};

pub use walk::TreeEntry;

/// At most this many symlinks are followed to resolve one path (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// The root directory of one revision, canonicalized once.
#[derive(Debug, Clone)]
pub struct SourceRoot(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The root with every symlink resolved: all resolution happens below it.
    canonical: PathBuf,
    /// The root as given, made absolute: an absolute symlink target written against it
    /// (rather than the canonical form) is still recognized as inside.
    given: PathBuf,
}

/// A directory inside a [`SourceRoot`]: relative paths written in a file resolve against it.
#[derive(Debug, Clone)]
pub struct RootDir {
    root: SourceRoot,
    /// Relative to the root, symlink-free.
    rel: PathBuf,
}

/// A resolved path inside a [`SourceRoot`]: no `..`, no symlink in any component.
#[derive(Debug, Clone)]
pub struct RootPath {
    root: SourceRoot,
    /// Relative to the root, symlink-free.
    rel: PathBuf,
}

/// Why a path cannot be read from the repository. Each message names the path as written
/// (and, for symlinks, which link leads where); [`RootError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The source directory itself cannot be opened.
    #[error("cannot open the source directory {}: {source}", root.display())]
    Root {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An absolute path where a file of the repository is expected.
    #[error("`{}` is an absolute path, outside the repository", written.display())]
    Absolute { written: PathBuf },
    /// `..` climbs above the root.
    #[error("`{}` is outside the repository: `..` climbs above its root", written.display())]
    Escapes { written: PathBuf },
    /// A symlink on the way (or a `..` in its target) leads outside the root.
    #[error("{}", symlink_out(written, link, target))]
    SymlinkOut {
        written: PathBuf,
        /// The symlink, relative to the root.
        link: PathBuf,
        /// What it points to, as stored in the link.
        target: PathBuf,
    },
    /// Too many symlinks to follow, or a directory symlink that contains itself.
    #[error("`{}`: the symlink `{}` makes a loop", written.display(), link.display())]
    SymlinkLoop { written: PathBuf, link: PathBuf },
    /// Nothing at that path.
    #[error("`{}` does not exist in the repository (looked for {})", written.display(), shown.display())]
    NotFound { written: PathBuf, shown: PathBuf },
    /// A device, FIFO or socket.
    #[error("`{}` is a {kind}: only regular files, directories and symlinks are read from the repository", shown.display())]
    Special { shown: PathBuf, kind: &'static str },
    /// A directory where a file is expected.
    #[error("`{}` is a directory, not a file", shown.display())]
    Directory { shown: PathBuf },
    /// A directory to deliver holds more entries than aegis walks.
    #[error("`{}` holds more than {limit} entries", shown.display())]
    TooMany { shown: PathBuf, limit: usize },
    /// Any other I/O error (permissions, a file where a directory is expected).
    #[error("`{}` cannot be read: {source}", shown.display())]
    Io {
        shown: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn symlink_out(written: &Path, link: &Path, target: &Path) -> String {
    if written == link {
        format!(
            "`{}` is a symlink to `{}`, outside the repository",
            written.display(),
            target.display()
        )
    } else {
        format!(
            "`{}` is outside the repository: `{}` is a symlink to `{}`",
            written.display(),
            link.display(),
            target.display()
        )
    }
}

impl RootError {
    /// What the person who wrote the path should do.
    pub fn hint(&self) -> &'static str {
        match self {
            RootError::Root { .. } => "check that --source names a directory you can read",
            RootError::Absolute { .. } => {
                "files come from the repository: write the path relative to this file's directory"
            }
            RootError::Escapes { .. } => "keep the path inside the repository; `..` may not climb above its root",
            RootError::SymlinkOut { .. } => {
                "aegis reads only files inside the repository: commit the file itself, or point the symlink at a file in the repository"
            }
            RootError::SymlinkLoop { .. } => "fix the symlink so that it ends at a file or directory",
            RootError::NotFound { .. } => "commit the file; the path is relative to this file's directory",
            RootError::Special { .. } => "commit a regular file instead; devices, FIFOs and sockets are refused",
            RootError::Directory { .. } => "name a file, not a directory",
            RootError::TooMany { .. } => "bind-mount a smaller directory",
            RootError::Io { .. } => "check the file's permissions",
        }
    }

    /// The path does not exist (an optional file, such as `.env`, may be absent).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RootError::NotFound { .. })
    }
}

impl SourceRoot {
    /// The root at `root` (which may itself be reached through a symlink: the operator chose
    /// it).
    pub fn open(root: &Path) -> Result<Self, RootError> {
        let err = |source| RootError::Root {
            root: root.to_path_buf(),
            source,
        };
        let canonical = fs::canonicalize(root).map_err(err)?;
        if !canonical.is_dir() {
            return Err(err(io::Error::other("not a directory")));
        }
        let given = std::path::absolute(root).map_err(err)?;
        Ok(Self(Arc::new(Inner { canonical, given })))
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.0.canonical
    }

    /// The root directory itself, as a base for relative paths.
    pub fn top(&self) -> RootDir {
        RootDir {
            root: self.clone(),
            rel: PathBuf::new(),
        }
    }

    /// `dir` as a base for relative paths. `dir` is relative to the root, or absolute below
    /// it (as the root was given, or canonical); it is resolved like any other path.
    pub fn dir(&self, dir: &Path) -> Result<RootDir, RootError> {
        let rel = if dir.is_absolute() {
            dir.strip_prefix(&self.0.canonical)
                .or_else(|_| dir.strip_prefix(&self.0.given))
                .map_err(|_| RootError::Escapes {
                    written: dir.to_path_buf(),
                })?
        } else {
            dir
        };
        let at = self.resolve(Path::new(""), rel)?;
        at.check_dir()?;
        Ok(RootDir {
            root: self.clone(),
            rel: at.rel,
        })
    }

    /// Resolves `written` against `base` (relative to the root, symlink-free).
    fn resolve(&self, base: &Path, written: &Path) -> Result<RootPath, RootError> {
        if written.has_root() {
            return Err(RootError::Absolute {
                written: written.to_path_buf(),
            });
        }
        // A stack of what is left to walk; the next step is at the end.
        let mut todo: Vec<Step> = Vec::new();
        push_steps(&mut todo, written, None);
        push_steps(&mut todo, base, None);
        let mut done = PathBuf::new();
        let mut followed = 0;
        while let Some(step) = todo.pop() {
            let name = match step {
                Step::Parent(via) => {
                    if !done.pop() {
                        return Err(match via {
                            Some(via) => RootError::SymlinkOut {
                                written: written.to_path_buf(),
                                link: via.0.clone(),
                                target: via.1.clone(),
                            },
                            None => RootError::Escapes {
                                written: written.to_path_buf(),
                            },
                        });
                    }
                    continue;
                }
                Step::Name(name) => name,
            };
            let rel = done.join(&name);
            let abs = self.0.canonical.join(&rel);
            let meta = fs::symlink_metadata(&abs).map_err(|source| lookup_error(written, &rel, source))?;
            if !meta.file_type().is_symlink() {
                done = rel;
                continue;
            }
            followed += 1;
            if followed > MAX_SYMLINKS {
                return Err(RootError::SymlinkLoop {
                    written: written.to_path_buf(),
                    link: rel,
                });
            }
            let target = fs::read_link(&abs).map_err(|source| RootError::Io {
                shown: rel.clone(),
                source,
            })?;
            let out = || RootError::SymlinkOut {
                written: written.to_path_buf(),
                link: rel.clone(),
                target: target.clone(),
            };
            let via = Arc::new((rel.clone(), target.clone()));
            if target.has_root() {
                // Absolute targets are fine only when they name a place below the root.
                let inside = target
                    .strip_prefix(&self.0.canonical)
                    .or_else(|_| target.strip_prefix(&self.0.given))
                    .map_err(|_| out())?;
                push_steps(&mut todo, inside, Some(&via));
                done = PathBuf::new();
            } else {
                // Relative targets continue from the link's own directory: `done`.
                push_steps(&mut todo, &target, Some(&via));
            }
        }
        Ok(RootPath {
            root: self.clone(),
            rel: done,
        })
    }
}

/// One component left to walk. A `..` that came from a symlink's target remembers the link,
/// so that climbing out through it is reported as that symlink's doing.
enum Step {
    Name(OsString),
    Parent(Option<Arc<(PathBuf, PathBuf)>>),
}

/// Pushes `path`'s components so that its first one is walked next.
fn push_steps(todo: &mut Vec<Step>, path: &Path, via: Option<&Arc<(PathBuf, PathBuf)>>) {
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => todo.push(Step::Name(n.to_os_string())),
            Component::ParentDir => todo.push(Step::Parent(via.cloned())),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

fn lookup_error(written: &Path, rel: &Path, source: io::Error) -> RootError {
    // A file where the path needs a directory: there is no such path either.
    if matches!(
        source.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) {
        RootError::NotFound {
            written: written.to_path_buf(),
            shown: rel.to_path_buf(),
        }
    } else {
        RootError::Io {
            shown: rel.to_path_buf(),
            source,
        }
    }
}

/// The kind of a special file (device, FIFO, socket) for messages; `None` for a regular
/// file, directory or symlink.
pub(crate) fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_fifo() {
        Some("FIFO")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_block_device() {
        Some("block device")
    } else if t.is_char_device() {
        Some("character device")
    } else {
        None
    }
}

/// Opens `path` for reading only if it is a regular file now (not a symlink, FIFO, device,
/// socket or directory), and is still the same file once open. Used for every read of a
/// resolved path, including at delivery time, when the revision was resolved earlier.
pub fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    let before = fs::symlink_metadata(path)?;
    if !before.file_type().is_file() {
        let what = special_kind(&before).unwrap_or(if before.is_dir() { "directory" } else { "symlink" });
        return Err(io::Error::other(format!("is a {what}, not a regular file")));
    }
    let file = File::open(path)?;
    let after = file.metadata()?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(io::Error::other("changed while being opened"));
    }
    Ok((file, after))
}

impl RootDir {
    /// Resolves `written` (as written in a file in this directory).
    pub fn resolve(&self, written: impl AsRef<Path>) -> Result<RootPath, RootError> {
        self.root.resolve(&self.rel, written.as_ref())
    }

    /// Resolves and reads the regular file `written`.
    pub fn read(&self, written: impl AsRef<Path>) -> Result<(RootPath, Vec<u8>), RootError> {
        let at = self.resolve(written)?;
        let bytes = at.read()?;
        Ok((at, bytes))
    }

    /// [`RootDir::read`] as UTF-8 text.
    pub fn read_to_string(&self, written: impl AsRef<Path>) -> Result<(RootPath, String), RootError> {
        let (at, bytes) = self.read(written)?;
        let text = String::from_utf8(bytes).map_err(|e| RootError::Io {
            shown: at.rel.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()),
        })?;
        Ok((at, text))
    }

    /// The directory `written` names, resolved, as a new base.
    pub fn subdir(&self, written: impl AsRef<Path>) -> Result<RootDir, RootError> {
        let at = self.resolve(written)?;
        at.check_dir()?;
        Ok(RootDir {
            root: self.root.clone(),
            rel: at.rel,
        })
    }

    /// `name` in this directory, relative to the root: how messages show it.
    pub fn shown(&self, name: impl AsRef<Path>) -> PathBuf {
        self.rel.join(name)
    }

    /// The absolute path of this directory.
    pub fn path(&self) -> PathBuf {
        self.root.path().join(&self.rel)
    }

    pub fn root(&self) -> &SourceRoot {
        &self.root
    }
}

impl RootPath {
    /// The absolute, symlink-free path.
    pub fn path(&self) -> PathBuf {
        self.root.path().join(&self.rel)
    }

    /// Relative to the root: how messages show it.
    pub fn shown(&self) -> &Path {
        &self.rel
    }

    /// The regular file's bytes.
    pub fn read(&self) -> Result<Vec<u8>, RootError> {
        let meta = fs::symlink_metadata(self.path()).map_err(|source| self.io(source))?;
        self.check_kind(&meta)?;
        if meta.is_dir() {
            return Err(RootError::Directory {
                shown: self.rel.clone(),
            });
        }
        let (mut file, meta) = open_regular(&self.path()).map_err(|source| self.io(source))?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(|source| self.io(source))?;
        Ok(bytes)
    }

    fn io(&self, source: io::Error) -> RootError {
        RootError::Io {
            shown: self.rel.clone(),
            source,
        }
    }

    fn check_kind(&self, meta: &Metadata) -> Result<(), RootError> {
        match special_kind(meta) {
            Some(kind) => Err(RootError::Special {
                shown: self.rel.clone(),
                kind,
            }),
            None => Ok(()),
        }
    }

    fn check_dir(&self) -> Result<(), RootError> {
        let meta = fs::symlink_metadata(self.path()).map_err(|source| self.io(source))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(self.io(io::Error::other("not a directory")))
        }
    }

    pub fn root(&self) -> &SourceRoot {
        &self.root
    }

    /// The directory this path is in.
    pub fn parent(&self) -> RootDir {
        RootDir {
            root: self.root.clone(),
            rel: self.rel.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    /// The last component (the root's own name for the root itself).
    pub fn file_name(&self) -> Option<&std::ffi::OsStr> {
        self.rel.file_name().or_else(|| self.root.path().file_name())
    }
}
