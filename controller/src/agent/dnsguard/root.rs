//! A directory the agent treats as `/`, the way a chroot would.
//!
//! The agent runs in a container with the host's `/etc` mounted under `--root` (e.g.
//! `/host/etc`). `/etc/resolv.conf` is often a symlink, and its target is written for the host
//! (`/run/systemd/resolve/stub-resolv.conf`, or `../run/...`). Following it naively from inside
//! the container would land on the container's own files, or, with a crafted link, anywhere.
//! So every path is resolved here component by component: an absolute link target restarts at
//! the root, `..` stops at the root, and a path can never leave it.
//!
//! Writes are atomic: a temporary file in the same directory, flushed, then renamed over the
//! target. Renaming replaces the directory entry itself, so when `/etc/resolv.conf` is a
//! symlink the link is replaced by a regular file and its target (systemd-resolved's stub,
//! which resolved owns) is never written through. Readers see the old file or the new one,
//! never a half-written one.

use std::{
    collections::VecDeque,
    ffi::{OsStr, OsString},
    fs,
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Component, Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// How many symlinks one resolution may follow (Linux's own limit, `ELOOP`).
const MAX_LINKS: usize = 40;

/// What is at a path, without following a symlink in its last component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Missing,
    File,
    /// A symlink, with its target as written.
    Symlink(PathBuf),
    /// A directory, socket, device...
    Other,
}

/// A directory treated as the filesystem root.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// `dir` must exist; it is canonicalized once, so later resolution compares real paths.
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = fs::canonicalize(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("root `{}`: {e}", dir.display())))?;
        Ok(Root { dir })
    }

    /// The real directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The real location of `path` (written as seen inside the root, e.g. `/etc/resolv.conf`),
    /// following every symlink, all inside the root. A missing component is kept as written.
    pub fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        self.walk(path, true)
    }

    /// Like [`Root::resolve`], but a symlink in the last component is not followed: the
    /// directory entry itself, which a rename replaces.
    pub fn entry_path(&self, path: &Path) -> io::Result<PathBuf> {
        self.walk(path, false)
    }

    /// What is at `path` (last component not followed).
    pub fn entry(&self, path: &Path) -> io::Result<Entry> {
        let real = self.entry_path(path)?;
        match fs::symlink_metadata(&real) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Entry::Missing),
            Err(e) => Err(e),
            Ok(m) if m.file_type().is_symlink() => Ok(Entry::Symlink(fs::read_link(&real)?)),
            Ok(m) if m.is_file() => Ok(Entry::File),
            Ok(_) => Ok(Entry::Other),
        }
    }

    /// The content of `path` (symlinks followed inside the root), `None` when it does not exist.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let real = self.resolve(path)?;
        // O_NOFOLLOW: the last component was resolved above; if it has become a symlink since,
        // refuse rather than follow it out of the root.
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(nofollow())
            .open(&real);
        match file {
            Ok(mut f) => {
                let mut buf = Vec::new();
                io::Read::read_to_end(&mut f, &mut buf)?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces `path` with a regular file holding `content` (mode `mode`), atomically. A
    /// symlink at `path` is replaced, not written through.
    pub fn write_atomic(&self, path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
        let (dir, name) = self.parent_and_name(path)?;
        let tmp = dir.join(temp_name(&name));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(nofollow())
                .mode(mode)
                .open(&tmp)?;
            f.write_all(content)?;
            // create_new's mode is filtered by the umask; set it exactly.
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.sync_all()?;
            fs::rename(&tmp, dir.join(&name))?;
            sync_dir(&dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Replaces `path` with a symlink to `target` (written as given, e.g.
    /// `/run/systemd/resolve/stub-resolv.conf`), atomically.
    pub fn symlink_atomic(&self, path: &Path, target: &Path) -> io::Result<()> {
        let (dir, name) = self.parent_and_name(path)?;
        let tmp = dir.join(temp_name(&name));
        let result = (|| {
            std::os::unix::fs::symlink(target, &tmp)?;
            fs::rename(&tmp, dir.join(&name))?;
            sync_dir(&dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The real parent directory of `path` and its last component. The parent must exist.
    fn parent_and_name(&self, path: &Path) -> io::Result<(PathBuf, OsString)> {
        let name = path
            .file_name()
            .ok_or_else(|| invalid(format!("`{}` names no file", path.display())))?
            .to_os_string();
        let parent = path.parent().unwrap_or(Path::new("/"));
        let dir = self.resolve(parent)?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("directory `{}` does not exist under the root", parent.display()),
            ));
        }
        Ok((dir, name))
    }

    /// Component-by-component resolution inside the root (see the module doc).
    fn walk(&self, path: &Path, follow_last: bool) -> io::Result<PathBuf> {
        let mut todo: VecDeque<OsString> = components(path).collect();
        let mut done: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                done.pop();
                continue;
            }
            let here = self.join(&done).join(&c);
            let last = todo.is_empty();
            match fs::symlink_metadata(&here) {
                Ok(m) if m.file_type().is_symlink() && (follow_last || !last) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(invalid(format!(
                            "`{}`: too many levels of symbolic links",
                            path.display()
                        )));
                    }
                    let target = fs::read_link(&here)?;
                    if target.is_absolute() {
                        done.clear();
                    }
                    for t in components(&target).collect::<Vec<_>>().into_iter().rev() {
                        todo.push_front(t);
                    }
                }
                _ => done.push(c),
            }
        }
        Ok(self.join(&done))
    }

    fn join(&self, parts: &[OsString]) -> PathBuf {
        let mut p = self.dir.clone();
        p.extend(parts);
        p
    }
}

/// The components of `path` that matter for resolution: names and `..` (`/` and `.` dropped).
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// A fresh hidden name next to the target: same directory, so the rename is atomic.
fn temp_name(name: &OsStr) -> OsString {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut t = OsString::from(".");
    t.push(name);
    t.push(format!(
        ".aegis-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    t
}

/// Makes the rename durable: the directory entry is what changed.
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn nofollow() -> i32 {
    // O_NOFOLLOW on Linux (all architectures Docker runs on); std has no constant for it.
    0o400000
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("etc")).expect("etc");
        fs::create_dir_all(dir.path().join("run/systemd/resolve")).expect("run");
        let root = Root::new(dir.path()).expect("root");
        (dir, root)
    }

    #[test]
    fn absolute_and_relative_links_stay_inside_the_root() {
        let (dir, root) = scratch();
        let stub = dir.path().join("run/systemd/resolve/stub-resolv.conf");
        fs::write(&stub, "nameserver 127.0.0.53\n").expect("stub");
        let link = dir.path().join("etc/resolv.conf");
        std::os::unix::fs::symlink("/run/systemd/resolve/stub-resolv.conf", &link).expect("link");
        assert_eq!(
            root.read(Path::new("/etc/resolv.conf")).expect("read"),
            Some(b"nameserver 127.0.0.53\n".to_vec())
        );
        fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink("../run/systemd/resolve/stub-resolv.conf", &link).expect("link");
        assert_eq!(
            root.resolve(Path::new("/etc/resolv.conf")).expect("resolve"),
            root.dir().join("run/systemd/resolve/stub-resolv.conf")
        );
    }

    #[test]
    fn dot_dot_and_escaping_links_are_clamped_at_the_root() {
        let (dir, root) = scratch();
        // A link that would leave the root on the host points, inside it, at /etc/passwd
        // under the root (missing here), never at the machine's own file.
        let link = dir.path().join("etc/evil");
        std::os::unix::fs::symlink("../../../../../../etc/passwd", &link).expect("link");
        assert_eq!(
            root.resolve(Path::new("/etc/evil")).expect("resolve"),
            root.dir().join("etc/passwd")
        );
        assert_eq!(root.read(Path::new("/etc/evil")).expect("read"), None);
        assert_eq!(
            root.resolve(Path::new("/../../etc/../etc/hosts"))
                .expect("resolve"),
            root.dir().join("etc/hosts")
        );
    }

    #[test]
    fn link_loops_are_an_error() {
        let (dir, root) = scratch();
        std::os::unix::fs::symlink("/etc/b", dir.path().join("etc/a")).expect("a");
        std::os::unix::fs::symlink("/etc/a", dir.path().join("etc/b")).expect("b");
        let e = root.read(Path::new("/etc/a")).expect_err("loop");
        assert!(e.to_string().contains("too many levels"), "{e}");
    }

    #[test]
    fn atomic_write_replaces_a_symlink_instead_of_writing_through_it() {
        let (dir, root) = scratch();
        let stub = dir.path().join("run/systemd/resolve/stub-resolv.conf");
        fs::write(&stub, "nameserver 127.0.0.53\n").expect("stub");
        std::os::unix::fs::symlink(
            "/run/systemd/resolve/stub-resolv.conf",
            dir.path().join("etc/resolv.conf"),
        )
        .expect("link");
        root.write_atomic(Path::new("/etc/resolv.conf"), b"nameserver 192.0.2.1\n", 0o644)
            .expect("write");
        assert_eq!(
            root.entry(Path::new("/etc/resolv.conf")).expect("entry"),
            Entry::File
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/resolv.conf")).expect("read"),
            "nameserver 192.0.2.1\n"
        );
        assert_eq!(
            fs::read_to_string(&stub).expect("stub"),
            "nameserver 127.0.0.53\n"
        );
        let mode = fs::metadata(dir.path().join("etc/resolv.conf"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("etc"))
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("resolv.conf")]);
    }

    #[test]
    fn atomic_symlink_replaces_a_file() {
        let (dir, root) = scratch();
        fs::write(dir.path().join("etc/resolv.conf"), "nameserver 100.96.128.1\n").expect("file");
        root.symlink_atomic(
            Path::new("/etc/resolv.conf"),
            Path::new("/run/systemd/resolve/stub-resolv.conf"),
        )
        .expect("link");
        assert_eq!(
            root.entry(Path::new("/etc/resolv.conf")).expect("entry"),
            Entry::Symlink(PathBuf::from("/run/systemd/resolve/stub-resolv.conf"))
        );
    }

    #[test]
    fn writing_into_a_missing_directory_fails_without_creating_it() {
        let (_dir, root) = scratch();
        let e = root
            .write_atomic(Path::new("/nope/resolv.conf"), b"x", 0o644)
            .expect_err("no dir");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(!root.dir().join("nope").exists());
    }
}
