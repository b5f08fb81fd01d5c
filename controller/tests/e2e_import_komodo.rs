//! `aegisctl import komodo` on the seed's own resource-sync TOML, against a repository laid
//! out as the seed's (`docker/stacks/...`) and holding the example deployment's compose and
//! SOPS files: the output validates with `aegis validate`, and every field that did not map
//! is on stderr with its file:line.

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use support::{repo_root, text};

fn testdata(name: &str) -> PathBuf {
    repo_root()
        .join("controller/src/import/komodo/testdata")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// The seed's repository layout (Phase 4d): the VPS stacks from
/// `examples/racknerd-aegis/stacks`; Newt and the two machine clients, which the example runs
/// as TunnelClients, from the seed's own compose blocks (the compose loader's seed testdata)
/// with the example's SOPS files for their credentials.
fn seed_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tempdir");
    let example = repo_root().join("examples/racknerd-aegis");
    let stacks = repo.path().join("docker/stacks");
    for (from, to) in [
        ("aegis-gateway", "racknerd-aegis/aegis-gateway"),
        ("pangolin", "racknerd-aegis/pangolin"),
        ("identity", "racknerd-aegis/identity"),
        ("periphery", "racknerd-aegis/periphery"),
        ("alloy", "shared/alloy"),
    ] {
        copy_dir(&example.join("stacks").join(from), &stacks.join(to));
    }
    let seed = repo_root().join("controller/src/compose/testdata/seed");
    for (compose, sops, to) in [
        ("newt.yaml", "newt.sops.env", "racknerd-aegis/newt"),
        (
            "pangolin-obs-client.yaml",
            "racknerd-aegis-obs.sops.env",
            "racknerd-aegis/pangolin-obs-client",
        ),
        (
            "pangolin-cli.yaml",
            "komodo-mgmt.sops.env",
            "komodo/pangolin-client",
        ),
    ] {
        let dir = stacks.join(to);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::copy(seed.join(compose), dir.join("compose.yaml")).expect("copy compose");
        std::fs::copy(example.join("tunnels").join(sops), dir.join(".sops.env")).expect("copy sops");
    }
    repo
}

fn import(repo: &Path, out: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegisctl"));
    cmd.args(["import", "komodo", "--servers"])
        .arg(testdata("servers.toml"))
        .arg("--stacks")
        .arg(testdata("stacks-racknerd-aegis.toml"))
        .arg("--stacks")
        .arg(testdata("stacks-komodo.toml"))
        .arg("--repo-root")
        .arg(repo);
    if let Some(o) = out {
        cmd.arg("-o").arg(o);
    }
    cmd.output().expect("run aegisctl import")
}

fn validate(repo: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["validate", "--source"])
        .arg(repo)
        .env(
            "SOPS_AGE_KEY_FILE",
            repo_root().join("examples/racknerd-aegis/example-age-key.txt"),
        )
        .env_remove("SOPS_AGE_KEY")
        .output()
        .expect("run aegis validate")
}

#[test]
fn the_seed_toml_imports_into_manifests_that_validate() {
    let repo = seed_repo();
    let out_dir = repo.path().join("aegis");
    let o = import(repo.path(), Some(&out_dir));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // The findings, with file:line, on stderr.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("servers.toml:8: server[racknerd-aegis].config.address: not mapped: `https://periphery.private.homelab.example:8120` is Komodo Periphery's API, not a Docker endpoint"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stacks-komodo.toml:8: stack[komodo-pangolin-client].config.server: not mapped"),
        "{stderr}"
    );
    assert!(stderr.contains("2 field(s) not mapped"), "{stderr}");
    let mut written: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("output dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["servers.yaml", "stacks-komodo.yaml", "stacks-racknerd-aegis.yaml"]
    );
    let stacks = std::fs::read_to_string(out_dir.join("stacks-racknerd-aegis.yaml")).expect("read");
    assert!(
        stacks.contains("compose: ../docker/stacks/racknerd-aegis/aegis-gateway/compose.yaml"),
        "{stacks}"
    );
    assert!(
        stacks.contains("sopsEnv: ../docker/stacks/racknerd-aegis/newt/.sops.env"),
        "{stacks}"
    );

    // aegis accepts the whole revision: 2 hosts, the 7 VPS stacks' and komodo's containers.
    let v = validate(repo.path());
    let vt = text(&v);
    assert!(v.status.success(), "{vt}\n--- imported:\n{stacks}");
    assert!(vt.contains("(10 manifests, 2 hosts, 12 containers"), "{vt}");

    // Without -o: one stream on stdout, paths relative to the repository root.
    let o = import(repo.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    let stream = String::from_utf8_lossy(&o.stdout);
    assert!(
        stream.contains("compose: docker/stacks/shared/alloy/compose.yaml"),
        "{stream}"
    );
    assert_eq!(stream.matches("kind: Stack").count(), 8, "{stream}");
}

#[test]
fn an_output_directory_outside_the_repository_is_refused() {
    let repo = seed_repo();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let o = import(repo.path(), Some(elsewhere.path()));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is outside --repo-root"), "{}", text(&o));
}
