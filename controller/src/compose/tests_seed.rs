//! The seed deployment's compose files load unchanged.
//!
//! Copies live in `testdata/seed/` (each with the empty `.env` their `env_file:` names);
//! when the shared seed plan is present, its compose blocks are also loaded straight from it.

use std::{collections::BTreeMap, fs, path::Path};

use super::{load, ComposeInput, ComposeStack};
use crate::{
    desired::{BindSource, MountKind, NetworkMode, RestartPolicy},
    diagnostic::Diagnostics,
    yaml::{parse_documents, FieldPath},
};

const SEED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/compose/testdata/seed");
const SEED_PLAN: &str = "/work/shared/seed/racknerd-aegis-plan.md";

fn load_file(dir: &Path, name: &str, src: &str) -> Result<ComposeStack, Diagnostics> {
    let file = dir.join(name);
    let docs = parse_documents(&file, src)?;
    let vars = BTreeMap::new();
    load(&ComposeInput {
        stack: name.trim_end_matches(".yaml"),
        file: &file,
        value: &docs[0].value,
        map: &docs[0].map,
        base: FieldPath::root(),
        project_dir: &crate::source::SourceRoot::open(dir).expect("root").top(),
        host_project_dir: &super::state_dir::project_dir(name.trim_end_matches(".yaml"), None),
        home_dir: super::home::DEFAULT_HOME_DIR,
        vars: &vars,
        secrets: &Default::default(),
    })
}

fn load_seed(name: &str) -> ComposeStack {
    let dir = Path::new(SEED_DIR);
    let src = fs::read_to_string(dir.join(name)).expect("seed copy exists");
    load_file(dir, name, &src).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

#[test]
fn periphery() {
    let s = load_seed("periphery.yaml");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let c = &s.containers[0];
    assert_eq!(c.name, "periphery");
    assert_eq!(c.image, "mohitsharma44/komodo-periphery-sops:latest");
    assert_eq!(c.restart, RestartPolicy::UnlessStopped);
    assert_eq!(c.labels.len(), 3);
    assert_eq!(c.networks.len(), 1);
    assert_eq!(c.networks[0].network, "newt-periphery");
    assert_eq!(c.networks[0].aliases, vec!["periphery"]);
    assert!(c.ports.is_empty());
    assert_eq!(c.mounts.len(), 2);
    assert!(c.mounts[0].read_only, "{:?}", c.mounts);
    assert_eq!(c.mounts[0].target, "/etc/sops/age");
    assert!(
        matches!(&c.mounts[1].kind, MountKind::Bind { source: BindSource::Host(p), .. } if p == "/var/run/docker.sock")
    );
    assert_eq!(
        c.env.get("SOPS_AGE_KEY_FILE").and_then(|v| v.as_plain()),
        Some("/etc/sops/age/keys.txt")
    );
    assert!(s.networks.is_empty());
    assert_eq!(s.external_networks[0].0, "newt-periphery");
}

#[test]
fn newt() {
    let s = load_seed("newt.yaml");
    let c = &s.containers[0];
    assert_eq!(c.name, "pangolin-newt");
    assert_eq!(c.image, "fosrl/newt:1.9.0");
    assert_eq!(c.networks[0].network, "newt-periphery");
    assert!(c.env.is_empty());
    assert!(s.networks.is_empty());
}

#[test]
fn pangolin_clients() {
    for (file, name) in [
        ("pangolin-cli.yaml", "pangolin-cli"),
        ("pangolin-obs-client.yaml", "pangolin-obs-client"),
    ] {
        let s = load_seed(file);
        let c = &s.containers[0];
        assert_eq!(c.name, name);
        assert_eq!(c.network_mode, NetworkMode::Host);
        assert!(c.networks.is_empty());
        assert_eq!(c.cap_add, vec!["NET_ADMIN"]);
        assert_eq!(c.devices[0].host, "/dev/net/tun");
        assert_eq!(c.devices[0].permissions, "rwm");
        assert!(
            matches!(&c.mounts[0].kind, MountKind::Bind { source: BindSource::Host(p), .. } if p == "/etc/resolv.conf")
        );
        assert!(!c.mounts[0].read_only);
        assert!(
            s.networks.is_empty(),
            "host networking creates no default network"
        );
        assert!(s.external_networks.is_empty());
    }
}

/// The compose blocks of the seed plan itself, as written there.
#[test]
fn seed_plan_blocks_load() {
    let Ok(plan) = fs::read_to_string(SEED_PLAN) else {
        eprintln!("skipping: {SEED_PLAN} is not present");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join(".env"), "").expect("write");
    let mut loaded = 0;
    for block in plan.split("```yaml\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        let indent = body.lines().next().map_or(0, |l| l.len() - l.trim_start().len());
        let src: String = body
            .lines()
            .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
            .collect::<Vec<_>>()
            .join("\n");
        if !src.contains("services:") {
            continue;
        }
        let stack = load_file(dir.path(), "compose.yaml", &src).unwrap_or_else(|e| panic!("{src}\n{e}"));
        assert_eq!(stack.containers.len(), 1);
        loaded += 1;
    }
    assert_eq!(loaded, 4, "the seed has four compose files");
}
