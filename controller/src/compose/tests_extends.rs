//! `extends` and `include` through [`load`](super::load): files read from a repository,
//! merged with Compose v2's rules, and errors that name the file that wrote the problem.

use std::{fs, path::Path};

use super::tests::load_in;
use crate::desired::{BindSource, MountKind};

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(p, text).expect("write");
}

fn env<'a>(c: &'a crate::desired::ContainerSpec, k: &str) -> Option<&'a str> {
    c.env.get(k).and_then(|v| v.as_plain())
}

fn repo_source(c: &crate::desired::ContainerSpec, target: &str) -> std::path::PathBuf {
    let m = c.mounts.iter().find(|m| m.target == target).expect("mount");
    match &m.kind {
        MountKind::Bind {
            source: BindSource::Repo(f),
            ..
        } => f.local.clone(),
        other => panic!("not a repo bind: {other:?}"),
    }
}

#[test]
fn same_file_extends_merges_under_the_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = r#"
services:
  base:
    image: busybox:1.36
    restart: always
    environment: {A: "1", B: "2"}
    ports: ["8001:80"]
    labels: [x=1]
  web:
    extends: base
    environment: [B=3]
    ports: ["8002:81"]
    labels: {y: "2"}
"#;
    let stack = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    let web = stack
        .containers
        .iter()
        .find(|c| c.name == "demo-web-1")
        .expect("web");
    assert_eq!(web.image, "busybox:1.36");
    assert_eq!(env(web, "A"), Some("1"));
    assert_eq!(env(web, "B"), Some("3"));
    assert_eq!(web.ports.len(), 2, "{:?}", web.ports);
    assert_eq!(web.labels.get("x").map(String::as_str), Some("1"));
    assert_eq!(web.labels.get("y").map(String::as_str), Some("2"));
    assert_eq!(stack.containers.len(), 2);
}

#[test]
fn other_file_extends_keeps_that_files_relative_paths_and_chains() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "common/app.env", "FROM_FILE=yes\n");
    write(dir.path(), "common/app.conf", "x=1\n");
    write(
        dir.path(),
        "common/base.yaml",
        "services:\n  root:\n    image: busybox:1.36\n    user: \"1000\"\n  app:\n    extends: root\n    env_file: app.env\n    volumes: [./app.conf:/etc/app.conf:ro]\n",
    );
    let src = "services:\n  web:\n    extends: {file: common/base.yaml, service: app}\n    command: [sleep, \"1\"]\n";
    let stack = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    let web = &stack.containers[0];
    assert_eq!(web.image, "busybox:1.36");
    assert_eq!(web.user.as_deref(), Some("1000"));
    assert_eq!(env(web, "FROM_FILE"), Some("yes"));
    let local = repo_source(web, "/etc/app.conf");
    assert!(local.ends_with("common/app.conf"), "{}", local.display());
}

#[test]
fn an_error_in_an_inherited_key_names_the_base_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "base.yaml",
        "services:\n  app:\n    image: busybox:1.36\n    restart: sometimes\n",
    );
    let src = "services:\n  web:\n    extends:\n      file: base.yaml\n      service: app\n";
    let err = load_in(dir.path(), src, &[])
        .expect_err("bad restart")
        .to_string();
    assert!(err.contains("base.yaml:4: services.app.restart"), "{err}");
}

#[test]
fn a_cycle_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n";
    let err = load_in(dir.path(), src, &[]).expect_err("cycle").to_string();
    assert!(
        err.contains("stacks/demo/compose.yaml:6: services.b.extends: `extends` makes a cycle: `a` in stacks/demo/compose.yaml extends `b` in stacks/demo/compose.yaml extends `a`"),
        "{err}"
    );
    assert_eq!(err.matches("makes a cycle").count(), 1, "{err}");
}

#[test]
fn extends_file_outside_the_repository_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    fs::create_dir(&repo).expect("mkdir");
    write(dir.path(), "outside.yaml", "services:\n  app:\n    image: x\n");
    for file in ["../outside.yaml", "/etc/hostname"] {
        let src = format!("services:\n  web:\n    extends:\n      service: app\n      file: {file}\n");
        let err = load_in(&repo, &src, &[]).expect_err("outside").to_string();
        assert!(err.contains("compose.yaml:5: services.web.extends.file"), "{err}");
        assert!(err.contains("outside the repository"), "{err}");
    }
    let err = load_in(&repo, "services:\n  web:\n    extends: nope\n", &[])
        .expect_err("missing")
        .to_string();
    assert!(
        err.contains(":3: services.web.extends: service `nope` is not declared"),
        "{err}"
    );
}

#[test]
fn include_adds_resources_with_their_own_directory_and_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "db/.env", "DB_TAG=1.36\n");
    write(dir.path(), "db/init.sql", "select 1;\n");
    write(
        dir.path(),
        "db/compose.yaml",
        "services:\n  db:\n    image: busybox:${DB_TAG}\n    volumes: [./init.sql:/init.sql, data:/data]\n    networks: [back]\nnetworks:\n  back: {}\nvolumes:\n  data: {}\n",
    );
    let src = "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: busybox:1.36\n    depends_on: [db]\n    networks: [back]\n";
    let stack = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    let db = stack
        .containers
        .iter()
        .find(|c| c.name == "demo-db-1")
        .expect("db");
    assert_eq!(db.image, "busybox:1.36");
    assert!(repo_source(db, "/init.sql").ends_with("db/init.sql"));
    assert!(stack.networks.iter().any(|n| n.name == "demo_back"));
    assert!(stack.volumes.iter().any(|v| v.name == "demo_data"));
}

#[test]
fn include_conflict_and_errors_name_the_included_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "inc/compose.yaml",
        "services:\n  web:\n    image: other\n  db:\n    image: busybox\n    restart: sometimes\n",
    );
    let src = "include:\n  - path: inc/compose.yaml\nservices:\n  web:\n    image: busybox\n";
    let err = load_in(dir.path(), src, &[]).expect_err("conflict").to_string();
    assert!(
        err.contains(
            "inc/compose.yaml:2: services.web: services.web is also declared in stacks/demo/compose.yaml:4"
        ),
        "{err}"
    );
    assert!(err.contains("inc/compose.yaml:6: services.db.restart"), "{err}");
}

#[test]
fn include_cycles_and_paths_outside_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    write(&repo, "a.yaml", "include: [b.yaml]\nservices: {}\n");
    write(&repo, "b.yaml", "include: [a.yaml]\n");
    let err = load_in(&repo, "include: [a.yaml]\n", &[])
        .expect_err("cycle")
        .to_string();
    assert!(err.contains("`include` makes a cycle"), "{err}");
    assert!(err.contains("b.yaml:1: include[0]"), "{err}");
    write(dir.path(), "outside.yaml", "services: {}\n");
    let err = load_in(&repo, "include:\n  - ../outside.yaml\n", &[])
        .expect_err("outside")
        .to_string();
    assert!(err.contains(":2: include[0]"), "{err}");
    assert!(err.contains("outside the repository"), "{err}");
}

#[test]
fn an_includes_project_directory_is_the_base_of_its_paths_extends_and_includes() {
    // As Compose v2 does: with `project_directory: data`, the included file's relative paths,
    // its `extends.file` and its own `include` resolve in data/, not beside the file.
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "vars.env", "TAG=1.36\n");
    write(dir.path(), "data/seed.txt", "x\n");
    write(dir.path(), "data/tmpl.env", "FROM=data\n");
    write(dir.path(), "parts/tmpl.env", "FROM=parts\n");
    let base = "services:\n  tmpl:\n    image: IMG:${TAG}\n    env_file: [tmpl.env]\n";
    write(dir.path(), "data/base.yaml", &base.replace("IMG", "fromdata"));
    write(dir.path(), "parts/base.yaml", &base.replace("IMG", "fromparts"));
    write(
        dir.path(),
        "data/more.yaml",
        "services:\n  more:\n    image: moredata:${TAG}\n",
    );
    write(
        dir.path(),
        "parts/more.yaml",
        "services:\n  more:\n    image: moreparts:${TAG}\n",
    );
    write(
        dir.path(),
        "parts/app.yaml",
        "include: [more.yaml]\nservices:\n  app:\n    extends: {file: base.yaml, service: tmpl}\n    volumes: [./seed.txt:/seed.txt]\n",
    );
    let src = "include:\n  - path: parts/app.yaml\n    project_directory: data\n    env_file: vars.env\nservices: {}\n";
    let stack = load_in(dir.path(), src, &[]).unwrap_or_else(|e| panic!("{e}"));
    let app = stack
        .containers
        .iter()
        .find(|c| c.name == "demo-app-1")
        .expect("app");
    assert_eq!(app.image, "fromdata:1.36");
    assert_eq!(env(app, "FROM"), Some("data"));
    assert!(repo_source(app, "/seed.txt").ends_with("data/seed.txt"));
    let more = stack
        .containers
        .iter()
        .find(|c| c.name == "demo-more-1")
        .expect("more");
    assert_eq!(more.image, "moredata:1.36");
}

#[test]
fn the_stacks_variables_win_over_an_includes_env_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "inc/.env", "TAG=from-env-file\n");
    write(
        dir.path(),
        "inc/compose.yaml",
        "services:\n  a:\n    image: busybox:${TAG}\n",
    );
    let stack = load_in(
        dir.path(),
        "include: [inc/compose.yaml]\n",
        &[("TAG", "from-stack")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stack.containers[0].image, "busybox:from-stack");
}

#[test]
fn an_identical_resource_from_two_includes_is_not_a_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "net.yaml", "networks:\n  shared: {}\n");
    write(
        dir.path(),
        "a.yaml",
        "include: [net.yaml]\nservices:\n  a:\n    image: busybox\n    networks: [shared]\n",
    );
    write(
        dir.path(),
        "b.yaml",
        "include: [net.yaml]\nservices:\n  b:\n    image: busybox\n    networks: [shared]\n",
    );
    let stack = load_in(dir.path(), "include: [a.yaml, b.yaml]\n", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stack.containers.len(), 2);
    assert_eq!(
        stack.networks.iter().filter(|n| n.name == "demo_shared").count(),
        1
    );
}

#[test]
fn an_error_in_an_item_of_a_merged_list_names_the_file_that_wrote_the_item() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "mine.conf", "x\n");
    write(
        dir.path(),
        "lib/base.yaml",
        "services:\n  app:\n    image: busybox\n    volumes:\n      - ./ok.conf:/ok\n      - ./ok.conf:/m:bogus\n",
    );
    write(dir.path(), "lib/ok.conf", "x\n");
    let src = "services:\n  web:\n    extends: {file: lib/base.yaml, service: app}\n    volumes:\n      - ./mine.conf:/mine\n      - ./mine.conf:/gone:bogus\n";
    let err = load_in(dir.path(), src, &[])
        .expect_err("unknown volume options")
        .to_string();
    assert!(err.contains("lib/base.yaml:6: services.app.volumes[1]"), "{err}");
    assert!(
        err.contains("stacks/demo/compose.yaml:6: services.web.volumes[1]"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
}

#[test]
fn a_base_in_another_file_that_is_not_a_mapping_is_an_error_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "lib.yaml", "services:\n  app: busybox\n");
    let src = "services:\n  web:\n    extends: {file: lib.yaml, service: app}\n";
    let err = load_in(dir.path(), src, &[])
        .expect_err("not a mapping")
        .to_string();
    assert!(
        err.contains("lib.yaml:2: services.app: service `app` must be a mapping"),
        "{err}"
    );
}

#[test]
fn includes_that_multiply_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..12 {
        let next = format!("l{}.yaml", i + 1);
        write(
            dir.path(),
            &format!("l{i}.yaml"),
            &format!("include: [{next}, {next}]\n"),
        );
    }
    write(dir.path(), "l12.yaml", "services: {}\n");
    let err = load_in(dir.path(), "include: [l0.yaml]\n", &[])
        .expect_err("too many")
        .to_string();
    assert!(err.contains("more than 256 compose files"), "{err}");
    assert_eq!(err.matches("more than 256").count(), 1, "{err}");
}
