//! Error reporting of [`load`](super::load): every problem, with file, line and path.

use std::{collections::BTreeMap, fs, path::Path};

use super::{
    load,
    tests::{load_err, load_in, load_ok},
    ComposeInput,
};
use crate::{
    desired::{MountKind, NetworkMode, RestartPolicy},
    yaml::{parse_documents, FieldPath},
};

#[test]
fn interpolation_errors_name_file_line_and_path() {
    let text =
        load_err("services:\n  app:\n    image: busybox\n    user: ${WHO:?set WHO}\n    hostname: a${ b\n");
    assert!(
        text.contains("compose.yaml:4: services.app.user: required variable WHO is missing a value: set WHO"),
        "{text}"
    );
    assert!(
        text.contains("compose.yaml:5: services.app.hostname: invalid interpolation format"),
        "{text}"
    );
}

#[test]
fn unknown_service_key_names_key_and_line() {
    let text = load_err("services:\n  app:\n    image: busybox\n    imagee: typo\n");
    assert!(
        text.contains("stacks/demo/compose.yaml:4: services.app.imagee: unknown key `imagee`"),
        "{text}"
    );
}

#[test]
fn unknown_nested_key_names_key_and_line() {
    let text = load_err(
        "services:\n  app:\n    image: busybox\n    healthcheck:\n      test: true\n      intervall: 5s\n",
    );
    assert!(text.contains("compose.yaml:6:"), "{text}");
    assert!(text.contains("intervall"), "{text}");
}

#[test]
fn independent_bad_services_are_all_reported() {
    let src = "services:\n  a:\n    image: x\n    build: .\n  b:\n    image: why\n    ports: [\"70000:80\"]\n  c:\n    image: z\n    privileged: sometimes\n";
    let text = load_err(src);
    assert!(
        text.contains("compose.yaml:4: services.a.build.dockerfile: `Dockerfile` does not exist"),
        "{text}"
    );
    assert!(text.contains("compose.yaml:7: services.b.ports[0]"), "{text}");
    assert!(text.contains("compose.yaml:10: services.c.privileged"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn unsupported_keys_have_hints() {
    let text = load_err("services:\n  a:\n    image: x\n    stop_timeout: 3\n    lifecycle: {}\n");
    assert!(
        text.contains("services.a.stop_timeout: `stop_timeout` is not supported (hint: not a compose key"),
        "{text}"
    );
    assert!(text.contains("compose.yaml:5: services.a.lifecycle"), "{text}");
}

#[test]
fn secrets_must_be_declared_files() {
    let text =
        load_err("services:\n  a:\n    image: x\n    secrets: [nope]\nsecrets:\n  e: {environment: X}\n");
    assert!(
        text.contains("services.a.secrets[0]: secret `nope` is not declared"),
        "{text}"
    );
    assert!(
        text.contains("secrets.e: only file secrets are supported"),
        "{text}"
    );
}

#[test]
fn extensions_version_and_name() {
    let src = r#"
version: "3.9"
name: other
x-common: &common
  restart: always
services:
  a:
    <<: *common
    image: x
    x-note: hello
networks:
  n:
    x-meta: 1
volumes:
  v:
    x-meta: 1
"#;
    let stack = load_ok(src);
    assert_eq!(stack.containers[0].restart, RestartPolicy::Always);
    let w: Vec<String> = stack.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("compose.yaml:2: version: `version` is obsolete")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("compose.yaml:3: name:")), "{w:?}");
    // unused networks and volumes are not created, as in compose
    assert_eq!(stack.networks.len(), 1);
    assert!(stack.volumes.is_empty());
}

#[test]
fn naming_networks_and_external() {
    let src = r#"
services:
  app:
    image: x
    networks: [edge, shared, default]
    volumes: [cache:/cache, ext:/ext]
  side:
    image: x
    network_mode: service:app
  bridged:
    image: x
    network_mode: bridge
  hosted:
    image: x
    network_mode: host
networks:
  edge:
    name: edge-net
  shared:
    external: true
  default:
    driver_opts: {com.docker.network.bridge.name: br-demo}
volumes:
  cache:
    name: my-cache
  ext:
    external: true
    name: pre-existing
"#;
    let stack = load_ok(src);
    let app = &stack.containers[0];
    let nets: Vec<_> = app.networks.iter().map(|n| n.network.as_str()).collect();
    assert_eq!(nets, vec!["demo_default", "edge-net", "shared"]);
    let side = &stack.containers[1];
    assert_eq!(side.network_mode, NetworkMode::Service("app".into()));
    assert!(side.networks.is_empty());
    assert_eq!(side.depends_on[0].service, "app");
    assert_eq!(stack.containers[2].networks[0].network, "bridge");
    assert_eq!(stack.containers[3].network_mode, NetworkMode::Host);
    let names: Vec<_> = stack.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["demo_default", "edge-net"]);
    assert_eq!(
        stack.networks[0]
            .options
            .get("com.docker.network.bridge.name")
            .map(String::as_str),
        Some("br-demo")
    );
    let ext: Vec<_> = stack
        .external_networks
        .iter()
        .map(|(n, p)| (n.as_str(), p.to_string()))
        .collect();
    assert_eq!(
        ext,
        vec![
            ("shared", "networks.shared".to_string()),
            ("bridge", "services.bridged.network_mode".to_string())
        ]
    );
    assert!(matches!(&app.mounts[1].kind, MountKind::Volume { name: Some(n), .. } if n == "pre-existing"));
    let vols: Vec<_> = stack.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(vols, vec!["my-cache"]);
}

#[test]
fn cross_service_errors() {
    let src = r#"
services:
  a:
    image: x
    depends_on: [b, ghost]
  b:
    image: x
    network_mode: service:c
  c:
    image: x
    depends_on:
      a: {condition: service_started}
  d:
    image: x
    networks: [undeclared]
    volumes: [nope:/x]
  e:
    network_mode: service:phantom
  f:
    image: x
    networks: [default]
    network_mode: host
"#;
    let text = load_err(src);
    assert!(
        text.contains("services.a.depends_on.ghost: service `a` depends on `ghost`"),
        "{text}"
    );
    assert!(text.contains("compose.yaml:5:"), "{text}");
    assert!(text.contains("dependency cycle: a -> b -> c -> a"), "{text}");
    assert!(
        text.contains("compose.yaml:15: services.d.networks.undeclared"),
        "{text}"
    );
    assert!(
        text.contains("compose.yaml:16: services.d.volumes[0]: named volume `nope`"),
        "{text}"
    );
    assert!(
        text.contains("compose.yaml:17: services.e: service `e` has no `image`"),
        "{text}"
    );
    assert!(
        text.contains(
            "compose.yaml:18: services.e.network_mode: service `e` shares the network of `phantom`"
        ),
        "{text}"
    );
    assert!(
        text.contains("services.f.networks: `network_mode` and `networks` cannot be combined"),
        "{text}"
    );
}

#[test]
fn optional_dependency_may_be_missing() {
    let stack = load_ok("services:\n  a:\n    image: x\n    depends_on:\n      gone: {condition: service_started, required: false}\n");
    assert!(!stack.containers[0].depends_on[0].required);
}

#[test]
fn escaping_bind_source_and_missing_env_file_are_errors() {
    // (A missing `./conf` is a state directory: see `volumes.rs`.)
    let text =
        load_err("services:\n  a:\n    image: x\n    volumes: [../conf:/conf]\n    env_file: .env.missing\n");
    assert!(
        text.contains(
            "compose.yaml:4: services.a.volumes[0]: bind source `../conf` is outside the repository"
        ),
        "{text}"
    );
    assert!(
        text.contains("compose.yaml:5: services.a.env_file[0]: env file `.env.missing` does not exist in the repository"),
        "{text}"
    );
}

#[test]
fn environment_overrides_env_files_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("one.env"), "A=1\nB=1\nC=1\n").expect("write");
    fs::write(
        dir.path().join("two.env"),
        "export B='2'\nC=\"2 # not a comment\"\n",
    )
    .expect("write");
    let src = "services:\n  a:\n    image: x\n    env_file: [one.env, two.env]\n    environment: [C=3, A]\n";
    let stack = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    let env = &stack.containers[0].env;
    assert_eq!(env.get("A").and_then(|v| v.as_plain()), Some("1"));
    assert_eq!(env.get("B").and_then(|v| v.as_plain()), Some("2"));
    assert_eq!(env.get("C").and_then(|v| v.as_plain()), Some("3"));
}

#[test]
fn inline_stack_services_use_the_base_path() {
    let src = "kind: Stack\nspec:\n  services:\n    a:\n      image: x\n      bogus: 1\n";
    let docs = parse_documents(Path::new("stack.yaml"), src).expect("valid YAML");
    let vars = BTreeMap::new();
    let err = load(&ComposeInput {
        stack: "demo",
        file: Path::new("stack.yaml"),
        value: &docs[0].value["spec"],
        map: &docs[0].map,
        base: FieldPath::parse("spec"),
        project_dir: &crate::source::SourceRoot::open(Path::new("."))
            .expect("root")
            .top(),
        host_project_dir: "/var/lib/aegis/stacks/demo",
        home_dir: "/root",
        vars: &vars,
        secrets: &Default::default(),
    })
    .expect_err("fails")
    .to_string();
    assert!(
        err.contains("stack.yaml:6: spec.services.a.bogus: unknown key `bogus`"),
        "{err}"
    );
}

#[test]
fn deploy_limits_must_agree_with_mem_limit() {
    let text = load_err("services:\n  a:\n    image: x\n    mem_limit: 1g\n    deploy:\n      resources:\n        limits:\n          memory: 2g\n");
    assert!(text.contains("deploy.resources.limits.memory"), "{text}");
}
