//! Against real repositories made with the `git` CLI, served as `file://`.

use std::{path::Path, process::Command};

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A bare repository with a work clone that commits and pushes to it.
struct Repo {
    _dir: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("repo.git");
        let work = dir.path().join("work");
        git(dir.path(), &["init", "-q", "--bare", "-b", "main", "repo.git"]);
        git(dir.path(), &["init", "-q", "-b", "main", "work"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Self {
            _dir: dir,
            bare,
            work,
        }
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn commit(&self, files: &[(&str, &str)]) -> String {
        for (rel, body) in files {
            let p = self.work.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", "c"]);
        git(&self.work, &["push", "-q", "origin", "HEAD:main", "--tags"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn source(repo: &Repo, state: &Path, reference: Option<&str>, path: &str) -> GitSource {
    let mut cfg = GitConfig::new(repo.url());
    cfg.reference = reference.map(str::to_owned);
    cfg.path = path.into();
    GitSource::new(cfg, state).unwrap()
}

#[test]
fn follows_the_remote_head_branch_commit_by_commit() {
    let repo = Repo::new();
    let state = tempfile::tempdir().unwrap();
    let c1 = repo.commit(&[("a.yaml", "one\n")]);
    let src = source(&repo, state.path(), None, "");
    let r1 = src.fetch().unwrap();
    assert_eq!(r1.id, c1);
    assert_eq!(r1.short().len(), 12);
    assert_eq!(r1.root, state.path().join("checkouts").join(&c1));
    assert_eq!(fs::read_to_string(r1.root.join("a.yaml")).unwrap(), "one\n");
    assert_eq!(src.tracked().get(), Tracked::Ref("refs/heads/main".into()));
    assert!(state.path().join("git").is_dir(), "the mirror lives under git/");

    let c2 = repo.commit(&[("a.yaml", "two\n"), ("sub/b.yaml", "b\n")]);
    let r2 = src.fetch().unwrap();
    assert_eq!(r2.id, c2);
    assert_eq!(fs::read_to_string(r2.root.join("a.yaml")).unwrap(), "two\n");
    assert_eq!(
        fs::read_to_string(r1.root.join("a.yaml")).unwrap(),
        "one\n",
        "old checkout untouched"
    );

    src.retain(&[&c2]);
    assert!(!r1.root.exists());
    assert!(r2.root.exists());
    // Unchanged remote: same revision, same directory.
    assert_eq!(src.fetch().unwrap(), r2);
}

#[test]
fn tag_commit_pin_and_path() {
    let repo = Repo::new();
    let state = tempfile::tempdir().unwrap();
    let c1 = repo.commit(&[("hosts/a/x.yaml", "v1\n")]);
    git(&repo.work, &["tag", "v1"]);
    git(&repo.work, &["push", "-q", "origin", "v1"]);
    let c2 = repo.commit(&[("hosts/a/x.yaml", "v2\n")]);
    assert_ne!(c1, c2);

    let by_tag = source(&repo, state.path(), Some("v1"), "hosts/a")
        .fetch()
        .unwrap();
    assert_eq!(by_tag.id, c1);
    assert_eq!(fs::read_to_string(by_tag.root.join("x.yaml")).unwrap(), "v1\n");

    let pin = source(&repo, state.path(), Some(&c1[..10]), "hosts/a");
    assert_eq!(pin.tracked().get(), Tracked::Pinned);
    assert_eq!(pin.fetch().unwrap().id, c1);

    let branch = source(&repo, state.path(), Some("main"), "").fetch().unwrap();
    assert_eq!(branch.id, c2);

    let err = source(&repo, state.path(), Some("nope"), "").fetch().unwrap_err();
    assert!(err.to_string().contains("--ref nope"), "{err}");
}

#[test]
fn an_unreachable_remote_is_an_error_naming_the_url() {
    let state = tempfile::tempdir().unwrap();
    let src = GitSource::new(GitConfig::new("file:///nonexistent/aegis.git"), state.path()).unwrap();
    let err = src.fetch().unwrap_err().to_string();
    assert!(err.contains("file:///nonexistent/aegis.git"), "{err}");
}

#[test]
fn one_shot_clone_goes_away_with_its_guard() {
    let repo = Repo::new();
    let c1 = repo.commit(&[("a.yaml", "x\n")]);
    let m = crate::source::materialize(&crate::source::Location::Git(GitConfig::new(repo.url()))).unwrap();
    assert_eq!(m.revision.id, c1);
    let root = m.revision.root.clone();
    assert!(root.join("a.yaml").is_file());
    drop(m);
    assert!(!root.exists());
}
