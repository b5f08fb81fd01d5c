//! End to end against the real Docker engine: a relative bind source that the repository
//! does not hold (`./data`) is the service's state, kept in the Stack's project directory on
//! the host. It survives a new revision that recreates the container, and the stack's
//! removal (aegis never deletes anything there) (issue 11, part 3).
//!
//! The engine is local, so the test reads the project directory directly. It removes what it
//! made: its containers (by instance label, see `support`), and the project directories
//! (`spec.projectDir` under a temporary directory, and the default one under
//! `/var/lib/aegis/stacks/<stack>`, whose stack name is unique to the run).

mod support;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use support::*;

/// The service writes one line to `/data/log` each time it starts. No network: nothing here
/// needs one. With `spec.projectDir`, `./data` is written in the long syntax (no `bind:`
/// block: created like the short syntax's, as Compose v2 does).
fn write_stack(src: &Source, stack: &str, project_dir: Option<&Path>, rev: &str) {
    let dir = project_dir.map_or(String::new(), |d| format!("  projectDir: {}\n", d.display()));
    let data = if project_dir.is_some() {
        "{type: bind, source: ./data, target: /data}"
    } else {
        "\"./data:/data\""
    };
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n{dir}  services:\n    app:\n      image: {IMAGE}\n      network_mode: none\n      command: [sh, -c, \"date >> /data/log; sleep 3600\"]\n      environment: {{REV: \"{rev}\"}}\n      volumes: [{data}, \"./conf/motd:/etc/motd:ro\"]\n"
        ),
    );
}

/// The lines of `log` once there are `n` of them (the container writes on start).
fn wait_lines(log: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<String> = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes a directory this test made on the host, even when the test fails.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A revision that recreates the container keeps what the first container wrote; removing
/// the stack prunes its container and leaves its project directory alone.
fn state_survives(src: &Source, stack: &str, project_dir: Option<&Path>, host_dir: &Path) {
    src.write("conf/motd", "hello\n");
    let name = format!("{stack}-app-1");
    let log = host_dir.join("data/log");

    write_stack(src, stack, project_dir, "1");
    let out = apply(src);
    assert!(out.contains("created 1"), "{out}");
    assert!(
        !src.path().join("data").exists(),
        "nothing is created in the repository"
    );
    let mounts = inspect(&name, "{{json .HostConfig.Binds}}");
    assert!(
        mounts.contains(&format!("\"{}:/data:rw\"", host_dir.join("data").display())),
        "{mounts}"
    );
    assert!(
        mounts.contains("/var/lib/aegis/files/"),
        "the repo file is delivered: {mounts}"
    );
    assert_eq!(wait_lines(&log, 1).len(), 1, "the first container wrote its line");
    let first = container_id(&name);

    // A new revision changes the service: the container is recreated on the same state.
    write_stack(src, stack, project_dir, "2");
    let out = apply(src);
    assert!(out.contains("recreated 1"), "{out}");
    assert_ne!(container_id(&name), first, "recreated");
    assert!(inspect(&name, "{{.Config.Env}}").contains("REV=2"));
    let lines = wait_lines(&log, 2);
    assert_eq!(lines.len(), 2, "the first line is still there: {lines:?}");
    assert_eq!(
        docker(&["exec", &name, "cat", "/data/log"]).lines().count(),
        2,
        "and the new container sees it"
    );

    // The same revision again is a no-op (the state path is stable).
    let out = apply(src);
    assert!(out.contains("unchanged 1"), "{out}");

    // The stack removed: its container is pruned, its project directory kept as it was.
    src.write(
        "stack.yaml",
        &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  services: {{}}\n"),
    );
    let out = apply(src);
    assert!(out.contains("pruned 1"), "{out}");
    assert!(!docker_ok(&["inspect", &name]), "the container is gone");
    assert_eq!(
        wait_lines(&log, 2).len(),
        2,
        "pruning left the state directory alone"
    );
}

#[test]
fn state_dir_in_a_given_project_dir_survives_recreate_and_prune() {
    ensure_image();
    // Declared before the source: dropped after it, once its containers are gone.
    let host = tempfile::tempdir().expect("tempdir");
    let stack = unique("statedir");
    let _files = RemoveDir(Path::new("/var/lib/aegis/files").join(&stack));
    let src = Source::new();
    let project_dir = host.path().join("komodo-like").join(&stack);
    state_survives(&src, &stack, Some(&project_dir), &project_dir);
}

#[test]
fn state_dir_in_the_default_project_dir_survives_recreate_and_prune() {
    ensure_image();
    let stack = unique("statedir");
    let default = Path::new("/var/lib/aegis/stacks").join(&stack);
    // Declared before the source: dropped after it, once its containers are gone.
    let _remove = RemoveDir(default.clone());
    let _files = RemoveDir(Path::new("/var/lib/aegis/files").join(&stack));
    let src = Source::new();
    state_survives(&src, &stack, None, &default);
    // Never inside the content-addressed files tree.
    let files = Path::new("/var/lib/aegis/files").join(&stack);
    let in_files: Vec<String> = std::fs::read_dir(&files)
        .map(|d| {
            d.flatten()
                .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(in_files, ["motd"], "only the repo file is in {}", files.display());
}
