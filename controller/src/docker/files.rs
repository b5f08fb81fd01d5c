//! Delivering repository files (`BindSource::Repo`) to a host, without pulling anything.
//!
//! Files land in a content-addressed directory, `/var/lib/aegis/files/<stack>/<hash>/<name>`,
//! so a changed file gets a new path (and the container a new spec hash), and a container
//! still running on the old content keeps it until it is replaced.
//!
//! The host may be remote, so there is no `cp`: aegis creates a helper container from the
//! service's own image (already on the host, so nothing is pulled) with the files root bind
//! mounted, never starts it, uploads a tar into the bind mount (`PUT /archive` works on a
//! created container: the engine mounts its volumes for the copy), and removes it.
//!
//! What is packed is the [`RepoFile::tree`] decided when the revision was resolved (inside
//! the source root, symlinks already followed there): this module follows no symlink and
//! walks no directory itself. Each file is opened only if it is still a regular file, so a
//! path swapped for a link, FIFO or device since then is refused instead of read.

use std::{
    collections::HashMap,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use bollard::{
    body_full,
    models::{ContainerCreateBody, HostConfig},
    query_parameters::UploadToContainerOptionsBuilder,
};

use super::{
    client::DockerHost,
    containers,
    error::{engine_message, DockerError, Result},
};
use crate::{
    desired::RepoFile,
    labels,
    source::root::{open_regular, TreeEntry},
};

/// Root of delivered files on every host.
pub const FILES_ROOT: &str = "/var/lib/aegis/files";
/// Where [`FILES_ROOT`] is mounted inside the helper container.
const HELPER_MOUNT: &str = "/aegis-files";
/// Value of the [`labels::HELPER`] label on file-delivery helpers.
pub const HELPER_KIND: &str = "files";

/// Where `file` of `stack` lives on the host: `/var/lib/aegis/files/<stack>/<hash>/<name>`.
pub fn host_path(stack: &str, file: &RepoFile) -> String {
    format!("{FILES_ROOT}/{stack}/{}/{}", file.content_hash, file.file_name())
}

/// Copies `files` of `stack` to their [`host_path`]s on the host, using a helper container
/// made from `image` (which must already be on the host). File modes are kept; owner is root.
/// Costs three API calls (create, upload, remove) whatever the number of files.
///
/// `owner` are the ownership labels of the Stack the files are for: a helper left behind by a
/// crash between create and remove is then an owned, undeclared container of that Stack, and
/// its next pass prunes it.
pub async fn deliver(
    host: &DockerHost,
    stack: &str,
    image: &str,
    files: &[&RepoFile],
    owner: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let fail = |path: &str, reason: String| DockerError::Files {
        host: host.host().into(),
        stack: stack.into(),
        path: path.into(),
        reason,
    };
    check_name(stack).map_err(|r| fail(stack, format!("stack name: {r}")))?;
    let owned: Vec<RepoFile> = files.iter().map(|f| (*f).clone()).collect();
    let stack_owned = stack.to_string();
    let tar = tokio::task::spawn_blocking(move || build_tar(&stack_owned, &owned))
        .await
        .map_err(|e| fail(stack, format!("packing task failed: {e}")))?
        .map_err(|(path, reason)| fail(&path, reason))?;

    let helper = helper_name(stack);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        // Never run: only needed because an image without CMD cannot be created.
        entrypoint: Some(vec!["/aegis-files-helper-never-started".into()]),
        labels: Some({
            let mut l: HashMap<String, String> = owner.clone().into_iter().collect();
            l.insert(
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            );
            l.insert(labels::HOST.to_string(), host.host().to_string());
            l.insert(labels::HELPER.to_string(), HELPER_KIND.to_string());
            l
        }),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{FILES_ROOT}:{HELPER_MOUNT}:rw")]),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = containers::create_container(host, &helper, body, &[], &[]).await?;
    let opts = UploadToContainerOptionsBuilder::new().path(HELPER_MOUNT).build();
    let upload = host
        .api("upload_to_container", |d| {
            d.upload_to_container(&id, Some(opts), body_full(tar.into()))
        })
        .await
        .map_err(|e| {
            fail(
                stack,
                format!("upload into helper container failed: {}", engine_message(&e)),
            )
        });
    let removed = containers::remove(host, &id, true).await;
    upload?;
    removed
}

/// A helper name that is unique enough to never collide between concurrent deliveries.
fn helper_name(stack: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("aegis-files-{stack}-{:x}-{nanos:x}", std::process::id())
}

/// A path component must not climb out of the files root.
fn check_name(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        Err(format!("`{s}` is not a safe path component"))
    } else {
        Ok(())
    }
}

/// The tar uploaded into [`HELPER_MOUNT`]: `<stack>/<hash>/<name>[/...]`. Errors carry the
/// offending local path.
fn build_tar(stack: &str, files: &[RepoFile]) -> std::result::Result<Vec<u8>, (String, String)> {
    let mut b = tar::Builder::new(Vec::new());
    let io = |p: &Path, e: std::io::Error| (p.display().to_string(), e.to_string());
    append_dir_header(&mut b, stack, 0o755).map_err(|e| (stack.to_string(), e.to_string()))?;
    let mut seen_hash = std::collections::BTreeSet::new();
    for f in files {
        let local = f.local.display().to_string();
        if !f.content_hash.chars().all(|c| c.is_ascii_hexdigit()) || f.content_hash.is_empty() {
            return Err((local, format!("content hash `{}` is not hex", f.content_hash)));
        }
        check_name(&f.file_name()).map_err(|r| (local.clone(), r))?;
        let dir = format!("{stack}/{}", f.content_hash);
        if seen_hash.insert(dir.clone()) {
            append_dir_header(&mut b, &dir, 0o755).map_err(|e| (local.clone(), e.to_string()))?;
        }
        let top = format!("{dir}/{}", f.file_name());
        if f.tree.is_empty() {
            return Err((local, "nothing to deliver (the file was not resolved)".into()));
        }
        for entry in &f.tree {
            let name = if entry.name.as_os_str().is_empty() {
                top.clone()
            } else {
                format!("{top}/{}", entry.name.display())
            };
            append_entry(&mut b, entry, &name).map_err(|e| match &entry.file {
                Some(p) => io(p, e),
                None => io(&f.local, e),
            })?;
        }
    }
    b.into_inner().map_err(|e| (stack.to_string(), e.to_string()))
}

fn append_dir_header(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(mode);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, format!("{name}/"), std::io::empty())
}

/// Appends one entry of a resolved tree: a directory header, or a regular file's content,
/// keeping permission bits, owned by root.
fn append_entry(b: &mut tar::Builder<Vec<u8>>, entry: &TreeEntry, name: &str) -> std::io::Result<()> {
    let mode = entry.mode & 0o7777;
    let Some(local) = &entry.file else {
        return append_dir_header(b, name, mode);
    };
    let (file, meta) = open_regular(local)?;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_size(meta.len());
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(
        meta.modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    // `take`: the header's size is what was checked; a file growing meanwhile cannot
    // overrun it.
    use std::io::Read;
    b.append_data(&mut h, name, file.take(meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceRoot;

    #[test]
    fn host_path_is_content_addressed() {
        let f = RepoFile {
            local: "/repo/stacks/web/nginx.conf".into(),
            content_hash: "ab12".into(),
            is_dir: false,
            tree: Vec::new(),
        };
        assert_eq!(host_path("web", &f), "/var/lib/aegis/files/web/ab12/nginx.conf");
    }

    #[test]
    fn tar_keeps_modes_and_nests_under_stack_and_hash() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
        let root = SourceRoot::open(dir.path()).unwrap();
        let f = RepoFile {
            local: script,
            content_hash: "beef".into(),
            is_dir: false,
            tree: root.tree(&root.top().resolve("run.sh").unwrap()).unwrap(),
        };
        let tar = build_tar("s", &[f]).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, u32)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("s/".to_string(), 0o755),
                ("s/beef/".to_string(), 0o755),
                ("s/beef/run.sh".to_string(), 0o750)
            ]
        );
    }

    #[test]
    fn unsafe_names_are_refused() {
        let f = RepoFile {
            local: "/x/a".into(),
            content_hash: "../..".into(),
            is_dir: false,
            tree: Vec::new(),
        };
        assert!(build_tar("s", &[f]).is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("a/b").is_err());
    }

    /// A file swapped for a FIFO or a symlink after the revision was resolved is refused at
    /// delivery, not read (a FIFO would block, a link could lead anywhere).
    #[test]
    fn files_swapped_since_resolution_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/a"), "a").unwrap();
        std::fs::write(dir.path().join("conf/b"), "b").unwrap();
        let root = SourceRoot::open(dir.path()).unwrap();
        let f = RepoFile {
            local: dir.path().join("conf"),
            content_hash: "beef".into(),
            is_dir: true,
            tree: root.tree(&root.top().resolve("conf").unwrap()).unwrap(),
        };
        assert!(build_tar("s", std::slice::from_ref(&f)).is_ok());

        std::fs::remove_file(dir.path().join("conf/a")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("conf/a")).unwrap();
        let (path, reason) = build_tar("s", std::slice::from_ref(&f)).unwrap_err();
        assert!(
            path.ends_with("conf/a") && reason.contains("symlink"),
            "{path}: {reason}"
        );

        std::fs::remove_file(dir.path().join("conf/b")).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(dir.path().join("conf/b"))
            .status()
            .unwrap()
            .success());
        std::fs::remove_file(dir.path().join("conf/a")).unwrap();
        std::fs::write(dir.path().join("conf/a"), "a").unwrap();
        let (path, reason) = build_tar("s", std::slice::from_ref(&f)).unwrap_err();
        assert!(
            path.ends_with("conf/b") && reason.contains("FIFO"),
            "{path}: {reason}"
        );
    }
}
