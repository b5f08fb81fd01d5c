//! Service `volumes:` entries → mounts: host binds, repo files, named volumes and tmpfs.
//!
//! A relative bind source is a file of the GitOps repository, not a path on the target host:
//! it is resolved against the compose file's directory, inside the source root (symlinks
//! followed only while they stay inside; see [`crate::source::root`]), must exist, and its
//! content hash becomes part of the container spec, so that a change to the file recreates
//! the container. A relative bind source that the repository does not hold is state: it is
//! bound from the Stack's project directory on its host (see [`super::state_dir`]). An
//! absolute bind source is a path on the target host: aegis never reads it, so it stays
//! allowed.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{home, model::VolumeLong, state_dir, units::parse_bytes};
use crate::{
    desired::{BindSource, Mount, MountKind, RepoFile},
    source::{
        root::{open_regular, TreeEntry},
        RootDir, RootError, RootPath,
    },
};

/// What a mount needs to know about the rest of the compose file.
pub struct MountContext<'a> {
    pub project_dir: &'a RootDir,
    /// The Stack's project directory on its host, where relative bind sources that the
    /// repository does not hold live (see [`state_dir`]).
    pub host_project_dir: &'a str,
    /// The home directory on the host, for `~` (see [`super::home`]).
    pub home_dir: &'a str,
    /// Top-level volume key → Docker volume name.
    pub volumes: &'a BTreeMap<String, String>,
}

const PROPAGATIONS: &[&str] = &["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// Short syntax: `target`, `source:target` or `source:target:options`.
pub fn parse_short(spec: &str, cx: &MountContext) -> Result<Mount, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err(format!("`{spec}` is not `source:target[:options]`")),
    };
    check_target(target)?;
    let mut read_only = false;
    let mut nocopy = false;
    let mut propagation = None;
    let mut relabel = None;
    for opt in options.into_iter().flat_map(|o| o.split(',')) {
        match opt {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => nocopy = true,
            // macOS consistency hints; compose accepts them and Linux engines ignore them.
            "cached" | "delegated" | "consistent" => {}
            // SELinux relabelling: Docker does it, as with compose.
            "z" | "Z" => relabel = Some(opt.to_string()),
            p if PROPAGATIONS.contains(&p) => propagation = Some(p.to_string()),
            other => return Err(format!("`{spec}`: unknown volume option `{other}`")),
        }
    }
    let kind = match source {
        None | Some("") => MountKind::Volume {
            name: None,
            nocopy,
            relabel: None,
        },
        Some(src) if is_path(src) => {
            if nocopy {
                return Err(format!("`{spec}`: `nocopy` applies to volumes, not bind mounts"));
            }
            MountKind::Bind {
                source: bind_source(src, cx)?,
                propagation,
                create_host_path: true,
                relabel,
            }
        }
        Some(name) => {
            if propagation.is_some() {
                return Err(format!(
                    "`{spec}`: propagation applies to bind mounts, not volumes"
                ));
            }
            MountKind::Volume {
                name: Some(named_volume(name, cx)?),
                nocopy,
                // Compose v2 passes `z`/`Z` on in the bind string; the engine relabels.
                relabel,
            }
        }
    };
    Ok(Mount {
        target: target.to_string(),
        read_only,
        kind,
    })
}

/// Long syntax: `{type, source, target, read_only, bind, volume, tmpfs}`.
pub fn parse_long(v: &VolumeLong, cx: &MountContext) -> Result<Mount, String> {
    check_target(&v.target)?;
    let read_only = v.read_only.is_some_and(|b| b.0);
    let misplaced = |opt: &str| format!("`{opt}` options do not apply to a `{}` mount", v.kind);
    if v.bind.is_some() && v.kind != "bind" {
        return Err(misplaced("bind"));
    }
    if v.volume.is_some() && v.kind != "volume" {
        return Err(misplaced("volume"));
    }
    if v.tmpfs.is_some() && v.kind != "tmpfs" {
        return Err(misplaced("tmpfs"));
    }
    let source = v.source.as_deref().filter(|s| !s.is_empty());
    let kind = match v.kind.as_str() {
        "bind" => {
            let src = source.ok_or("a bind mount needs a `source`")?;
            let opts = v.bind.as_ref();
            let propagation = opts.and_then(|b| b.propagation.clone());
            if let Some(p) = &propagation {
                if !PROPAGATIONS.contains(&p.as_str()) {
                    return Err(format!("unknown bind propagation `{p}`"));
                }
            }
            let relabel = opts.and_then(|b| b.selinux.clone());
            if relabel.as_deref().is_some_and(|r| r != "z" && r != "Z") {
                return Err("`bind.selinux` must be `z` (shared) or `Z` (private)".into());
            }
            MountKind::Bind {
                source: bind_source(src, cx)?,
                propagation,
                // compose-go: without a `bind:` block the source is created like the short
                // syntax's (Compose v2 sends it through `Binds`); with one, only when
                // `create_host_path: true` says so.
                create_host_path: opts.is_none_or(|b| b.create_host_path.is_some_and(|b| b.0)),
                relabel,
            }
        }
        "volume" => MountKind::Volume {
            name: source.map(|s| named_volume(s, cx)).transpose()?,
            nocopy: v.volume.as_ref().and_then(|o| o.nocopy).is_some_and(|b| b.0),
            relabel: None,
        },
        "tmpfs" => {
            if source.is_some() {
                return Err("a tmpfs mount has no `source`".into());
            }
            let opts = v.tmpfs.as_ref();
            MountKind::Tmpfs {
                size: opts
                    .and_then(|t| t.size.as_ref())
                    .map(|s| parse_bytes(&s.0))
                    .transpose()?,
                mode: opts
                    .and_then(|t| t.mode.as_ref())
                    .map(|m| parse_mode(&m.0))
                    .transpose()?,
            }
        }
        other => {
            return Err(format!(
                "mount type `{other}` is not supported; use bind, volume or tmpfs"
            ))
        }
    };
    Ok(Mount {
        target: v.target.clone(),
        read_only,
        kind,
    })
}

/// File mode in octal digits (`1777`, `0o755`), as written for tmpfs.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8).map_err(|_| format!("`{s}` is not an octal file mode"))
}

fn check_target(target: &str) -> Result<(), String> {
    if target.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "mount target `{target}` must be an absolute path in the container"
        ))
    }
}

/// compose's rule: a source that looks like a path is a bind mount, anything else a volume.
fn is_path(source: &str) -> bool {
    source.starts_with(['/', '.', '~']) || source.contains('/')
}

fn named_volume(name: &str, cx: &MountContext) -> Result<String, String> {
    cx.volumes
        .get(name)
        .cloned()
        .ok_or_else(|| format!("named volume `{name}` is used but not declared in the top-level `volumes:`"))
}

fn bind_source(src: &str, cx: &MountContext) -> Result<BindSource, String> {
    if src.starts_with('/') {
        return Ok(BindSource::Host(src.to_string()));
    }
    if let Some(expanded) = home::expand(src, cx.home_dir) {
        return expanded
            .map(BindSource::Host)
            .map_err(|e| format!("{e} (hint: write `~/...` or an absolute path on the host)"));
    }
    let local = match cx.project_dir.resolve(src) {
        Ok(local) => local,
        // Not in the repository: a state directory on the host, as Compose makes it.
        Err(e) if e.is_not_found() => return state_bind_source(src, cx),
        Err(e) => return Err(format!("bind source {e} (hint: {})", e.hint())),
    };
    repo_file(&local)
        .map(BindSource::Repo)
        .map_err(|e| format!("bind source `{src}`: {e} (hint: {})", e.hint()))
}

/// A relative source the repository does not hold: its state directory on the host.
fn state_bind_source(src: &str, cx: &MountContext) -> Result<BindSource, String> {
    const HINT: &str = "commit the path to deliver it, or bind a path inside the project directory";
    state_dir::state_source(cx.host_project_dir, src)
        .map(BindSource::Host)
        .map_err(|m| format!("{m} (hint: {HINT})"))
}

/// A repository file or directory to deliver, with what is delivered (symlinks followed
/// within the root) and its hash (see [`RepoFile::content_hash`]).
pub fn repo_file(at: &RootPath) -> Result<RepoFile, RootError> {
    let tree = at.root().tree(at)?;
    let is_dir = tree.first().is_some_and(|e| e.file.is_none());
    let content_hash = if is_dir {
        hash_dir(&tree)
    } else {
        at.read().map(|bytes| hex::encode(Sha256::digest(bytes)))
    }?;
    Ok(RepoFile {
        local: at.path(),
        content_hash,
        is_dir,
        tree,
    })
}

/// SHA-256 over every file of a directory tree, in sorted relative-path order: for each, the
/// path, its mode bits and its content. Length prefixes keep the encoding unambiguous.
pub(super) fn hash_dir(tree: &[TreeEntry]) -> Result<String, RootError> {
    let mut files: Vec<&TreeEntry> = tree.iter().filter(|e| e.file.is_some()).collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = Sha256::new();
    for e in files {
        let Some(path) = &e.file else { continue };
        let content = read_entry(path)?;
        let rel = e.name.to_string_lossy();
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update(e.mode.to_le_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(&content);
    }
    Ok(hex::encode(h.finalize()))
}

fn read_entry(path: &std::path::Path) -> Result<Vec<u8>, RootError> {
    use std::io::Read;
    let io = |source| RootError::Io {
        shown: path.to_path_buf(),
        source,
    };
    let (mut f, _) = open_regular(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    use super::*;
    use crate::source::SourceRoot;

    fn with_dir<T>(f: impl FnOnce(&MountContext) -> T) -> (tempfile::TempDir, T) {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("app.conf"), "a=1\n").expect("write");
        fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
        fs::write(dir.path().join("conf.d/x.conf"), "x\n").expect("write");
        let volumes = BTreeMap::from([("data".to_string(), "demo_data".to_string())]);
        let top = SourceRoot::open(dir.path()).expect("root").top();
        let cx = MountContext {
            project_dir: &top,
            host_project_dir: "/var/lib/aegis/stacks/demo",
            home_dir: "/root",
            volumes: &volumes,
        };
        let out = f(&cx);
        (dir, out)
    }

    #[test]
    fn host_bind_and_volume_short() {
        let (_d, (bind, vol, anon)) = with_dir(|cx| {
            (
                parse_short("/etc/resolv.conf:/etc/resolv.conf:ro", cx),
                parse_short("data:/var/lib/data:nocopy", cx),
                parse_short("/cache", cx),
            )
        });
        let bind = bind.expect("bind");
        assert!(bind.read_only);
        assert_eq!(
            bind.kind,
            MountKind::Bind {
                source: BindSource::Host("/etc/resolv.conf".into()),
                propagation: None,
                create_host_path: true,
                relabel: None,
            }
        );
        assert_eq!(
            vol.expect("vol").kind,
            MountKind::Volume {
                name: Some("demo_data".into()),
                nocopy: true,
                relabel: None,
            }
        );
        assert_eq!(
            anon.expect("anon").kind,
            MountKind::Volume {
                name: None,
                nocopy: false,
                relabel: None,
            }
        );
    }

    #[test]
    fn repo_binds_are_hashed() {
        let (_d, (file, dir)) = with_dir(|cx| {
            (
                parse_short("./app.conf:/etc/app.conf:ro,rslave", cx),
                parse_short("conf.d/:/etc/conf.d", cx),
            )
        });
        let MountKind::Bind {
            source: BindSource::Repo(f),
            propagation,
            ..
        } = file.expect("file").kind
        else {
            panic!("not a repo bind")
        };
        assert_eq!(propagation.as_deref(), Some("rslave"));
        assert!(!f.is_dir);
        assert_eq!(f.content_hash, hex::encode(Sha256::digest(b"a=1\n")));
        let MountKind::Bind {
            source: BindSource::Repo(d),
            ..
        } = dir.expect("dir").kind
        else {
            panic!("not a repo bind")
        };
        assert!(d.is_dir);
        assert_eq!(d.content_hash.len(), 64);
    }

    fn hash_of(dir: &Path) -> String {
        let root = SourceRoot::open(dir).expect("root");
        repo_file(&root.top().resolve("").expect("top"))
            .expect("hash")
            .content_hash
    }

    #[test]
    fn dir_hash_changes_with_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("a"), "1").expect("write");
        let h1 = hash_of(dir.path());
        fs::write(dir.path().join("a"), "2").expect("write");
        assert_ne!(h1, hash_of(dir.path()));
    }

    /// The encoding of a directory's hash is the one aegis used before symlinks were
    /// followed: an unchanged directory keeps its hash (and its containers) across upgrades.
    #[test]
    fn dir_hash_encoding_is_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        fs::write(dir.path().join("sub/b"), "bb").expect("write");
        fs::write(dir.path().join("a"), "a").expect("write");
        for f in ["a", "sub/b"] {
            fs::set_permissions(dir.path().join(f), fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let mut h = Sha256::new();
        for (rel, content) in [("a", "a"), ("sub/b", "bb")] {
            h.update((rel.len() as u64).to_le_bytes());
            h.update(rel.as_bytes());
            h.update(0o100_644_u32.to_le_bytes());
            h.update((content.len() as u64).to_le_bytes());
            h.update(content.as_bytes());
        }
        assert_eq!(hash_of(dir.path()), hex::encode(h.finalize()));
    }

    /// A linked file inside the repository is hashed by its content: editing the target
    /// changes the hash of the directory that links to it.
    #[test]
    fn dir_hash_follows_inside_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("conf")).expect("mkdir");
        fs::write(dir.path().join("target.txt"), "1").expect("write");
        std::os::unix::fs::symlink("../target.txt", dir.path().join("conf/link")).expect("symlink");
        let root = SourceRoot::open(dir.path()).expect("root");
        let hash = || {
            repo_file(&root.top().resolve("conf").expect("conf"))
                .expect("hash")
                .content_hash
        };
        let h1 = hash();
        fs::write(dir.path().join("target.txt"), "2").expect("write");
        assert_ne!(h1, hash());
    }

    #[test]
    fn bind_sources_outside_the_root_are_refused() {
        let outside = tempfile::tempdir().expect("tempdir");
        fs::write(outside.path().join("secret"), "s").expect("write");
        let (_d, results) = with_dir(|cx| {
            let root = cx.project_dir.path();
            std::os::unix::fs::symlink(outside.path().join("secret"), root.join("leak.txt"))
                .expect("symlink");
            fs::create_dir(root.join("d")).expect("mkdir");
            std::os::unix::fs::symlink(outside.path(), root.join("d/out")).expect("symlink");
            ["./leak.txt:/l", "../../etc/hostname:/h", "./d:/d"].map(|s| parse_short(s, cx))
        });
        for r in &results {
            let e = r.as_ref().expect_err("refused");
            assert!(e.contains("outside the repository"), "{e}");
            assert!(e.contains("hint:"), "{e}");
        }
    }

    #[test]
    fn errors() {
        let (_d, results) = with_dir(|cx| {
            [
                "../missing:/x",
                "~bob/x:/x",
                "undeclared:/x",
                "/a:relative",
                "/a:/b:bogus",
                "a:b:c:d",
            ]
            .map(|s| parse_short(s, cx))
        });
        for r in &results {
            assert!(r.is_err(), "{r:?}");
        }
        assert!(results[0]
            .as_ref()
            .unwrap_err()
            .contains("outside the repository"));
        assert!(results[2].as_ref().unwrap_err().contains("not declared"));
    }

    fn state_bind(source: &str, create_host_path: bool) -> MountKind {
        MountKind::Bind {
            source: BindSource::Host(source.into()),
            propagation: None,
            create_host_path,
            relabel: None,
        }
    }

    /// A relative source the repository does not hold is a state directory in the stack's
    /// project directory on the host; one it holds is still delivered by content.
    #[test]
    fn missing_relative_sources_are_state_dirs() {
        let (_d, (short, nested, held, long, long_no_create, long_default)) = with_dir(|cx| {
            let long = |bind: serde_json::Value| -> VolumeLong {
                let mut v = serde_json::json!({"type": "bind", "source": "./data", "target": "/data"});
                if !bind.is_null() {
                    v["bind"] = bind;
                }
                serde_json::from_value(v).expect("decodes")
            };
            (
                parse_short("./data:/data", cx),
                parse_short("./state/./db/:/db:ro", cx),
                parse_short("./conf.d:/etc/conf.d", cx),
                parse_long(&long(serde_json::json!({"create_host_path": true})), cx),
                parse_long(&long(serde_json::json!({"create_host_path": false})), cx),
                parse_long(&long(serde_json::Value::Null), cx),
            )
        });
        assert_eq!(
            short.expect("short").kind,
            state_bind("/var/lib/aegis/stacks/demo/data", true)
        );
        let nested = nested.expect("nested");
        assert!(nested.read_only);
        assert_eq!(
            nested.kind,
            state_bind("/var/lib/aegis/stacks/demo/state/db", true)
        );
        assert!(matches!(
            held.expect("held").kind,
            MountKind::Bind {
                source: BindSource::Repo(_),
                ..
            }
        ));
        assert_eq!(
            long.expect("long").kind,
            state_bind("/var/lib/aegis/stacks/demo/data", true)
        );
        // `create_host_path` is honoured: the engine then refuses a missing source, as with
        // Compose.
        assert_eq!(
            long_no_create.expect("long").kind,
            state_bind("/var/lib/aegis/stacks/demo/data", false)
        );
        // No `bind:` block: created like the short syntax's, as Compose v2 does.
        assert_eq!(
            long_default.expect("long").kind,
            state_bind("/var/lib/aegis/stacks/demo/data", true)
        );
    }

    #[test]
    fn state_dirs_may_not_climb_out_of_the_project_dir() {
        // The compose file in `app/` of the repository: `../x` is inside the repository,
        // but not there, and as state it would leave the project directory.
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("app")).expect("mkdir");
        let root = SourceRoot::open(dir.path()).expect("root");
        let app = root.top().subdir("app").expect("app");
        let volumes = BTreeMap::new();
        let cx = MountContext {
            project_dir: &app,
            host_project_dir: "/var/lib/aegis/stacks/demo",
            home_dir: "/root",
            volumes: &volumes,
        };
        let long: VolumeLong = serde_json::from_value(serde_json::json!({
            "type": "bind", "source": "./a/../../x", "target": "/x"
        }))
        .expect("decodes");
        let results = [parse_short("../x:/x", &cx), parse_long(&long, &cx)];
        for r in &results {
            let e = r.as_ref().expect_err("refused");
            assert!(
                e.contains("climb above the stack's project directory (/var/lib/aegis/stacks/demo)"),
                "{e}"
            );
            assert!(e.contains("hint:"), "{e}");
        }
    }

    #[test]
    fn long_syntax() {
        let (_d, out) = with_dir(|cx| {
            let tmpfs: VolumeLong = serde_json::from_value(serde_json::json!({
                "type": "tmpfs", "target": "/run", "tmpfs": {"size": "64m", "mode": 1777}
            }))
            .expect("decodes");
            let bind: VolumeLong = serde_json::from_value(serde_json::json!({
                "type": "bind", "source": "/srv", "target": "/srv", "read_only": true,
                "bind": {"propagation": "rshared", "create_host_path": false}
            }))
            .expect("decodes");
            (parse_long(&tmpfs, cx), parse_long(&bind, cx))
        });
        assert_eq!(
            out.0.expect("tmpfs").kind,
            MountKind::Tmpfs {
                size: Some(64 << 20),
                mode: Some(0o1777)
            }
        );
        let bind = out.1.expect("bind");
        assert!(bind.read_only);
        assert_eq!(
            bind.kind,
            MountKind::Bind {
                source: BindSource::Host("/srv".into()),
                propagation: Some("rshared".into()),
                create_host_path: false,
                relabel: None,
            }
        );
    }
}
