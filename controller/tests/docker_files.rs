//! Delivering repository files to a host through a never-started helper container.

mod common;

use std::os::unix::fs::PermissionsExt;

use aegis::{
    desired::{BindSource, ContainerSpec, Mount, MountKind, RepoFile},
    docker::{containers, create_body, files, wait, CreateContext},
    labels,
    source::SourceRoot,
};
use common::*;

#[tokio::test]
async fn a_delivered_file_is_readable_in_a_started_container() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let stack = unique("aegis-t-stack");
    let name = unique("aegis-t-files");
    cleanup
        .container(&name)
        .dir(format!("{}/{stack}", files::FILES_ROOT));

    let repo = tempfile::tempdir().unwrap();
    let conf = repo.path().join("app.conf");
    std::fs::write(&conf, "greeting = hello from git\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();
    let dir = repo.path().join("scripts");
    std::fs::create_dir(&dir).unwrap();
    let script = dir.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho script-ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let root = SourceRoot::open(repo.path()).unwrap();
    let resolved = |rel: &str| root.tree(&root.top().resolve(rel).unwrap()).unwrap();
    let file = RepoFile {
        local: conf,
        content_hash: "0123abcd".into(),
        is_dir: false,
        tree: resolved("app.conf"),
    };
    let tree = RepoFile {
        local: dir,
        content_hash: "4567ef".into(),
        is_dir: true,
        tree: resolved("scripts"),
    };
    let before = host.api_calls();
    files::deliver(&host, &stack, IMAGE, &[&file, &tree], &Default::default())
        .await
        .unwrap();
    assert_eq!(
        host.api_calls() - before,
        3,
        "create helper, upload, remove helper"
    );

    // No helper is left behind.
    let helpers = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={}", labels::HELPER),
        "--filter",
        &format!("label={}={}", labels::HOST, host.host()),
    ]);
    assert_eq!(helpers, "");

    let bind = |target: &str, f: &RepoFile| Mount {
        target: target.into(),
        read_only: true,
        kind: MountKind::Bind {
            source: BindSource::Repo(f.clone()),
            propagation: None,
            create_host_path: true,
            relabel: None,
        },
    };
    let spec = ContainerSpec {
        name: name.clone(),
        stack: stack.clone(),
        service: "app".into(),
        image: IMAGE.into(),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            "cat /etc/app.conf && stat -c %a /etc/app.conf /opt/scripts/run.sh && /opt/scripts/run.sh".into(),
        ]),
        mounts: vec![bind("/etc/app.conf", &file), bind("/opt/scripts", &tree)],
        ..Default::default()
    };
    let ctx = CreateContext::with_labels(owner_labels(&host));
    let id = containers::create_container(&host, &name, create_body(&spec, &ctx), &[], &[])
        .await
        .unwrap();
    containers::start(&host, &id).await.unwrap();
    wait::wait_exited_ok(&host, &id, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let logs = docker_ok(&["logs", &name]);
    assert_eq!(logs, "greeting = hello from git\n640\n755\nscript-ran");
    let sources = inspect(&name, "{{range .Mounts}}{{.Source}} {{end}}");
    assert!(sources.contains(&files::host_path(&stack, &file)), "{sources}");
}
