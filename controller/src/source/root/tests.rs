//! Resolution inside a root, against real directories, files and symlinks.

use std::{fs, os::unix::fs::symlink, path::Path};

use super::{RootError, SourceRoot, TreeEntry};

/// `root/` inside a scratch directory that also holds `outside/secret.txt`.
struct Fixture {
    base: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let base = tempfile::tempdir().expect("tempdir");
        for d in ["root/app/conf", "root/shared", "outside"] {
            fs::create_dir_all(base.path().join(d)).expect("mkdir");
        }
        fs::write(base.path().join("outside/secret.txt"), "secret\n").expect("write");
        fs::write(base.path().join("root/shared/inner.txt"), "inner\n").expect("write");
        fs::write(base.path().join("root/app/conf/a.conf"), "a\n").expect("write");
        Self { base }
    }
    fn root(&self) -> SourceRoot {
        SourceRoot::open(&self.base.path().join("root")).expect("open")
    }
    fn link(&self, at: &str, target: impl AsRef<Path>) {
        symlink(target, self.base.path().join("root").join(at)).expect("symlink");
    }
    fn outside(&self) -> std::path::PathBuf {
        self.base.path().join("outside/secret.txt")
    }
}

fn app(f: &Fixture) -> super::RootDir {
    f.root().top().subdir("app").expect("app")
}

#[test]
fn plain_relative_paths_resolve_and_read() {
    let f = Fixture::new();
    let (at, bytes) = app(&f).read("conf/a.conf").expect("read");
    assert_eq!(bytes, b"a\n");
    assert_eq!(at.shown(), Path::new("app/conf/a.conf"));
    let (at, _) = app(&f).read("./../shared/inner.txt").expect("read");
    assert_eq!(at.shown(), Path::new("shared/inner.txt"));
}

#[test]
fn absolute_paths_are_refused() {
    let f = Fixture::new();
    let err = app(&f).read("/etc/hostname").expect_err("absolute");
    assert!(matches!(err, RootError::Absolute { .. }), "{err}");
    assert!(
        err.to_string().contains("absolute path, outside the repository"),
        "{err}"
    );
}

#[test]
fn dot_dot_above_the_root_is_refused_even_when_it_comes_back() {
    let f = Fixture::new();
    for p in [
        "../../outside/secret.txt",
        "../../root/shared/inner.txt",
        "conf/../../../x",
    ] {
        let err = app(&f).resolve(p).expect_err(p);
        assert!(matches!(err, RootError::Escapes { .. }), "{p}: {err}");
        assert!(err.to_string().contains("outside the repository"), "{err}");
    }
}

#[test]
fn symlinks_out_are_refused_at_any_component() {
    let f = Fixture::new();
    f.link("app/leak.txt", f.outside());
    f.link("app/rel-leak.txt", "../../outside/secret.txt");
    f.link("app/dir", f.base.path().join("outside"));
    f.link("app/hop.txt", "leak.txt");
    f.link("app/etc", "/etc");
    for (p, link) in [
        ("leak.txt", "app/leak.txt"),
        ("rel-leak.txt", "app/rel-leak.txt"),
        ("dir/secret.txt", "app/dir"),
        ("./hop.txt", "app/leak.txt"),
        ("etc/hostname", "app/etc"),
    ] {
        let err = app(&f).read(p).expect_err(p);
        match &err {
            RootError::SymlinkOut { link: l, .. } => assert_eq!(l, Path::new(link), "{p}"),
            other => panic!("{p}: {other}"),
        }
        assert!(err.to_string().contains("outside the repository"), "{err}");
        assert!(!err.hint().is_empty());
    }
}

#[test]
fn symlinks_inside_are_followed() {
    let f = Fixture::new();
    f.link("app/in.txt", "../shared/inner.txt");
    f.link("app/shared", "../shared");
    let abs_target = f.root().path().join("shared/inner.txt");
    f.link("app/abs-in.txt", &abs_target);
    for p in ["in.txt", "shared/inner.txt", "abs-in.txt", "shared/../app/in.txt"] {
        let (at, bytes) = app(&f).read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(bytes, b"inner\n", "{p}");
        assert_eq!(at.shown(), Path::new("shared/inner.txt"), "{p}");
    }
}

#[test]
fn a_dot_dot_in_a_link_target_that_climbs_out_names_the_link() {
    let f = Fixture::new();
    // `up` -> `..` from the top: the link's `..` leaves the root.
    f.link("up", "..");
    let err = f.root().top().resolve("up/outside/secret.txt").expect_err("out");
    assert!(
        matches!(err, RootError::SymlinkOut { ref link, .. } if link == Path::new("up")),
        "{err}"
    );
}

#[test]
fn symlink_loops_end() {
    let f = Fixture::new();
    f.link("app/a", "b");
    f.link("app/b", "a");
    let err = app(&f).read("a").expect_err("loop");
    assert!(matches!(err, RootError::SymlinkLoop { .. }), "{err}");
}

#[test]
fn missing_files_are_not_found() {
    let f = Fixture::new();
    let err = app(&f).read("nope.env").expect_err("missing");
    assert!(err.is_not_found(), "{err}");
    let err = app(&f).read("conf/a.conf/x").expect_err("not a dir");
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn special_files_and_directories_are_not_read() {
    let f = Fixture::new();
    let fifo = f.base.path().join("root/app/pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let err = app(&f).read("pipe").expect_err("fifo");
    assert!(matches!(err, RootError::Special { kind: "FIFO", .. }), "{err}");
    let _sock = std::os::unix::net::UnixListener::bind(f.base.path().join("root/app/s")).expect("bind");
    let err = app(&f).read("s").expect_err("socket");
    assert!(matches!(err, RootError::Special { kind: "socket", .. }), "{err}");
    let err = app(&f).read("conf").expect_err("dir");
    assert!(matches!(err, RootError::Directory { .. }), "{err}");
    // A device reached through a link is refused as what it is, not as outside.
    f.link("app/null", "/dev/null");
    let err = app(&f).read("null").expect_err("device");
    assert!(matches!(err, RootError::SymlinkOut { .. }), "{err}");
}

#[test]
fn a_root_reached_through_a_symlink_works() {
    let f = Fixture::new();
    let alias = f.base.path().join("alias");
    symlink(f.base.path().join("root"), &alias).expect("symlink");
    let root = SourceRoot::open(&alias).expect("open");
    // An absolute link written against the root as given is inside too.
    f.link("app/via-alias.txt", alias.join("shared/inner.txt"));
    let (_, bytes) = root
        .top()
        .subdir("app")
        .expect("app")
        .read("via-alias.txt")
        .expect("read");
    assert_eq!(bytes, b"inner\n");
    let dir = root.dir(&alias.join("app")).expect("dir");
    assert_eq!(dir.shown(".env"), Path::new("app/.env"));
    assert!(root.dir(f.base.path()).is_err());
}

fn names(tree: &[TreeEntry]) -> Vec<(String, bool)> {
    tree.iter()
        .map(|e| (e.name.display().to_string(), e.file.is_some()))
        .collect()
}

#[test]
fn a_tree_follows_inside_links_and_keeps_order() {
    let f = Fixture::new();
    f.link("app/conf/link.txt", "../../shared/inner.txt");
    f.link("app/conf/sub", "../../shared");
    fs::create_dir(f.base.path().join("root/app/conf/d")).expect("mkdir");
    fs::write(f.base.path().join("root/app/conf/d/x"), "x").expect("write");
    let root = f.root();
    let top = root.top().resolve("app/conf").expect("conf");
    let tree = root.tree(&top).expect("tree");
    assert_eq!(
        names(&tree),
        [
            ("", false),
            ("a.conf", true),
            ("d", false),
            ("d/x", true),
            ("link.txt", true),
            ("sub", false),
            ("sub/inner.txt", true),
        ]
        .map(|(n, f)| (n.to_string(), f))
    );
    let link = tree
        .iter()
        .find(|e| e.name == Path::new("link.txt"))
        .expect("link");
    assert_eq!(
        link.file.as_deref(),
        Some(root.path().join("shared/inner.txt").as_path())
    );
    // A single file is a one-entry tree.
    let one = root
        .tree(&root.top().resolve("shared/inner.txt").expect("file"))
        .expect("tree");
    assert_eq!(names(&one), [(String::new(), true)]);
}

#[test]
fn a_tree_refuses_links_out_special_files_and_loops() {
    let f = Fixture::new();
    let root = f.root();
    let conf = || root.top().resolve("app/conf").expect("conf");

    f.link("app/conf/evil", f.outside());
    let err = root.tree(&conf()).expect_err("link out");
    assert!(
        matches!(err, RootError::SymlinkOut { ref link, .. } if link == Path::new("app/conf/evil")),
        "{err}"
    );
    fs::remove_file(f.base.path().join("root/app/conf/evil")).expect("rm");

    assert!(std::process::Command::new("mkfifo")
        .arg(f.base.path().join("root/app/conf/pipe"))
        .status()
        .expect("mkfifo")
        .success());
    let err = root.tree(&conf()).expect_err("fifo");
    assert!(matches!(err, RootError::Special { kind: "FIFO", .. }), "{err}");
    assert!(err.to_string().contains("app/conf/pipe"), "{err}");
    fs::remove_file(f.base.path().join("root/app/conf/pipe")).expect("rm");

    f.link("app/conf/again", "..");
    let err = root.tree(&conf()).expect_err("loop");
    assert!(matches!(err, RootError::SymlinkLoop { .. }), "{err}");
}
