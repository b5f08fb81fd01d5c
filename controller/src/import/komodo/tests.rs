//! The importer on the seed's own Komodo TOML (testdata/, copied from the seed plan).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use super::*;

fn input_file(name: &str) -> InputFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/import/komodo/testdata")
        .join(name);
    InputFile {
        text: std::fs::read_to_string(&path).expect("testdata"),
        path: PathBuf::from(name),
    }
}

/// A repository holding the seed's compose files (reading `env_file: .env` where the seed's
/// hook writes one) and `.sops.env` files.
fn seed_repo() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let reads_env = "services:\n  app:\n    image: busybox:1.36\n    env_file: .env\n";
    for dir in [
        "racknerd-aegis/aegis-gateway",
        "racknerd-aegis/pangolin",
        "racknerd-aegis/identity",
        "racknerd-aegis/newt",
        "racknerd-aegis/pangolin-obs-client",
        "komodo/pangolin-client",
        "shared/alloy",
    ] {
        files.insert(format!("docker/stacks/{dir}/compose.yaml"), reads_env.to_string());
        files.insert(
            format!("docker/stacks/{dir}/.sops.env"),
            "K=ENC[...]\n".to_string(),
        );
    }
    files.insert(
        "docker/stacks/racknerd-aegis/periphery/compose.yaml".into(),
        "services:\n  periphery:\n    image: busybox:1.36\n".into(),
    );
    files
}

fn convert_seed(manifest_dir: &str, endpoints: &BTreeMap<String, String>) -> Conversion {
    let repo = seed_repo();
    let read = move |p: &str| repo.get(p).cloned();
    let servers = input_file("servers.toml");
    let stacks = [
        input_file("stacks-racknerd-aegis.toml"),
        input_file("stacks-komodo.toml"),
    ];
    convert(&Input {
        servers: Some(&servers),
        stacks: &stacks,
        repo: &read,
        manifest_dir: Path::new(manifest_dir),
        endpoints,
    })
    .expect("the seed's TOML converts")
}

fn docs(c: &Conversion) -> Vec<serde_json::Value> {
    c.files
        .iter()
        .flat_map(|f| f.yaml.split("\n---\n").map(|d| d.to_string()).collect::<Vec<_>>())
        .map(|d| serde_saphyr::from_str(&d).unwrap_or_else(|e| panic!("{e}:\n{d}")))
        .collect()
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {docs:#?}"))
}

#[test]
fn the_seed_toml_becomes_hosts_and_stacks() {
    let c = convert_seed("", &BTreeMap::new());
    let names: Vec<&str> = c.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["servers.yaml", "stacks-racknerd-aegis.yaml", "stacks-komodo.yaml"]
    );
    let d = docs(&c);
    assert_eq!(d.len(), 2 + 8, "{d:#?}");

    let vps = find(&d, "Host", "racknerd-aegis");
    assert_eq!(vps["apiVersion"], "aegis.dev/v1alpha1");
    assert_eq!(
        vps["spec"]["endpoint"],
        "tcp://periphery.private.homelab.example:2376"
    );
    assert_eq!(vps["spec"]["tls"]["ca"], "/etc/aegis/tls/racknerd-aegis/ca.pem");
    assert_eq!(
        vps["metadata"]["labels"],
        serde_json::json!({"gateway": "true", "region": "VPS", "vps": "true"})
    );
    assert!(vps["metadata"]["annotations"]["description"]
        .as_str()
        .unwrap()
        .starts_with("RackNerd VPS"));
    // `komodo` is named by a stack but not declared: a Host on the local socket, reported.
    assert_eq!(
        find(&d, "Host", "komodo")["spec"]["endpoint"],
        "unix:///var/run/docker.sock"
    );

    let gw = find(&d, "Stack", "aegis-gateway");
    assert_eq!(gw["spec"]["host"], "racknerd-aegis");
    assert_eq!(
        gw["spec"]["compose"],
        "docker/stacks/racknerd-aegis/aegis-gateway/compose.yaml"
    );
    assert_eq!(
        gw["spec"]["secrets"],
        serde_json::json!([{"sopsEnv": "docker/stacks/racknerd-aegis/aegis-gateway/.sops.env", "envFile": ".env"}])
    );
    assert_eq!(gw["metadata"]["labels"]["racknerd-aegis"], "true");
    let periphery = find(&d, "Stack", "aegis-periphery");
    assert!(
        periphery["spec"].get("secrets").is_none(),
        "no pre_deploy, no secrets: {periphery}"
    );
    let alloy = find(&d, "Stack", "racknerd-aegis-alloy");
    assert_eq!(
        alloy["spec"]["environment"],
        serde_json::json!({"HOSTNAME": "racknerd-aegis"})
    );
    assert_eq!(
        alloy["spec"]["compose"],
        "docker/stacks/shared/alloy/compose.yaml"
    );
    assert_eq!(
        find(&d, "Stack", "komodo-pangolin-client")["spec"]["host"],
        "komodo"
    );
}

#[test]
fn every_unmapped_field_is_reported_with_file_and_line() {
    let c = convert_seed("", &BTreeMap::new());
    let lines: Vec<String> = c.findings.iter().map(ToString::to_string).collect();
    let has = |s: &str| assert!(lines.iter().any(|l| l.contains(s)), "no `{s}` in {lines:#?}");
    // Periphery's address is not a Docker endpoint (servers.toml line 9 with the 2-line header).
    has("servers.toml:8: server[racknerd-aegis].config.address: not mapped: `https://periphery.private.homelab.example:8120` is Komodo Periphery's API, not a Docker endpoint");
    has("stacks-komodo.toml:8: stack[komodo-pangolin-client].config.server: not mapped: server `komodo` is not declared in --servers");
    // One note for the repository the stacks come from, not one per stack.
    let notes: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("stacks come from repository"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("`mohitsharma44/homeops` (branch `main`)"),
        "{}",
        notes[0]
    );
    // Nothing else: every other field of the seed's TOML maps.
    let unmapped: BTreeSet<&str> = c
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Unmapped)
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(
        unmapped,
        BTreeSet::from([
            "server[racknerd-aegis].config.address",
            "stack[komodo-pangolin-client].config.server"
        ])
    );
}

#[test]
fn unknown_fields_hooks_and_variables_are_reported_at_their_line() {
    let toml = r#"[[stack]]
name = "app"
poll_for_updates = true
[stack.config]
server = "local"
run_directory = "stacks/app"
file_paths = ["compose.yaml", "compose.prod.yaml"]
environment = """
DOMAIN=app.example
TOKEN=[[APP_TOKEN]]
"""
webhook_enabled = false
auto_update = true
[stack.config.pre_deploy]
path = "stacks/app"
command = "./migrate.sh"

[[procedure]]
name = "deploy-all"
"#;
    let stacks = [InputFile {
        path: "stacks.toml".into(),
        text: toml.into(),
    }];
    let read = |p: &str| (p == "stacks/app/compose.yaml").then(|| "services: {}\n".to_string());
    let c = convert(&Input {
        servers: None,
        stacks: &stacks,
        repo: &read,
        manifest_dir: Path::new("aegis"),
        endpoints: &BTreeMap::from([("local".to_string(), "unix:///run/docker.sock".to_string())]),
    })
    .unwrap();
    let lines: Vec<String> = c.findings.iter().map(ToString::to_string).collect();
    let has = |s: &str| assert!(lines.iter().any(|l| l.contains(s)), "no `{s}` in {lines:#?}");
    has("stacks.toml:3: stack[app].poll_for_updates: not mapped");
    has("stacks.toml:7: stack[app].config.file_paths: not mapped: `compose.prod.yaml`");
    has("stacks.toml:10: stack[app].config.environment: not mapped: `TOKEN` uses a Komodo variable");
    has("stacks.toml:13: stack[app].config.auto_update: not mapped");
    has("stacks.toml:14: stack[app].config.pre_deploy.command: not mapped: `./migrate.sh`");
    has("stacks.toml:18: procedure: not mapped");
    assert!(
        !lines.iter().any(|l| l.contains("webhook_enabled")),
        "a default is no finding: {lines:#?}"
    );
    let d = docs(&c);
    let app = find(&d, "Stack", "app");
    // Relative to the manifests' directory `aegis/`.
    assert_eq!(app["spec"]["compose"], "../stacks/app/compose.yaml");
    assert_eq!(
        app["spec"]["environment"],
        serde_json::json!({"DOMAIN": "app.example"})
    );
    assert_eq!(
        find(&d, "Host", "local")["spec"]["endpoint"],
        "unix:///run/docker.sock"
    );
}

#[test]
fn not_toml_is_an_error_with_its_line() {
    let stacks = [InputFile {
        path: "bad.toml".into(),
        text: "[[stack]]\nname = \"x\nother = 1\n".into(),
    }];
    let read = |_: &str| None;
    let e = convert(&Input {
        servers: None,
        stacks: &stacks,
        repo: &read,
        manifest_dir: Path::new(""),
        endpoints: &BTreeMap::new(),
    })
    .unwrap_err();
    assert!(e.starts_with("bad.toml:2: not valid TOML"), "{e}");
}
