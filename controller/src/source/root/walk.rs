//! Walking a directory of the repository that is delivered to a host (a relative bind
//! source such as `./conf:/etc/app/conf`).
//!
//! The walk decides, once, what is delivered: the same list is hashed into the container's
//! spec and packed into the archive, so the hash always covers exactly what the host gets.
//!
//! **Symlinks are followed within the root**, like a symlink named directly as a bind source:
//! what the host receives is the content the link names in the repository, as regular files
//! and directories, never a link. A link that leaves the root makes the whole revision invalid
//! ([`RootError::SymlinkOut`]). Copying links as links instead would deliver links that mean
//! something else on the target host (an absolute target is the host's own file; a relative
//! one may dangle outside the delivered directory), and a change to a linked file's content
//! would not change the hash. A directory link that contains itself is a
//! [`RootError::SymlinkLoop`]. Devices, FIFOs and sockets are refused ([`RootError::Special`]).

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use super::{RootError, RootPath, SourceRoot};

/// At most this many entries are walked below one delivered directory (links to directories
/// can multiply a tree).
const MAX_ENTRIES: usize = 100_000;

/// One entry of a delivered tree, in delivery order (a directory before its contents, names
/// sorted within a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path below the delivered top (empty for the top itself).
    pub name: PathBuf,
    /// `st_mode` (type and permission bits) of what is delivered.
    pub mode: u32,
    /// The local, symlink-free file to copy; `None` for a directory.
    pub file: Option<PathBuf>,
}

impl SourceRoot {
    /// Every entry below `top` (a file gives one entry), symlinks followed within the root.
    pub fn tree(&self, top: &RootPath) -> Result<Vec<TreeEntry>, RootError> {
        let mut out = Vec::new();
        let mut ancestors = Vec::new();
        self.add(top, top, PathBuf::new(), &mut ancestors, &mut out)?;
        Ok(out)
    }

    /// Adds `at` (delivered as `name` below `top`) and, for a directory, everything below it.
    /// `ancestors` are the directories being walked, to catch a link back onto one of them.
    fn add(
        &self,
        top: &RootPath,
        at: &RootPath,
        name: PathBuf,
        ancestors: &mut Vec<PathBuf>,
        out: &mut Vec<TreeEntry>,
    ) -> Result<(), RootError> {
        let meta = fs::symlink_metadata(at.path()).map_err(|source| at.io(source))?;
        at.check_kind(&meta)?;
        if out.len() >= MAX_ENTRIES {
            return Err(RootError::TooMany {
                shown: top.rel.clone(),
                limit: MAX_ENTRIES,
            });
        }
        if !meta.is_dir() {
            out.push(TreeEntry {
                name,
                mode: meta.mode(),
                file: Some(at.path()),
            });
            return Ok(());
        }
        out.push(TreeEntry {
            name: name.clone(),
            mode: meta.mode(),
            file: None,
        });
        ancestors.push(at.rel.clone());
        let mut entries: Vec<_> = fs::read_dir(at.path())
            .and_then(|rd| rd.collect::<std::io::Result<Vec<_>>>())
            .map_err(|source| at.io(source))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let child_rel = at.rel.join(e.file_name());
            let is_link = e.file_type().map_err(|source| at.io(source))?.is_symlink();
            let child = if is_link {
                let resolved = self.resolve(Path::new(""), &child_rel)?;
                if ancestors.contains(&resolved.rel) {
                    return Err(RootError::SymlinkLoop {
                        written: top.rel.clone(),
                        link: child_rel,
                    });
                }
                resolved
            } else {
                RootPath {
                    root: self.clone(),
                    rel: child_rel,
                }
            };
            self.add(top, &child, name.join(e.file_name()), ancestors, out)?;
        }
        ancestors.pop();
        Ok(())
    }
}
