//! `spec.projectDir` and the state directories of a Stack, through the whole resolve.

use std::fs;

use super::test_support::{bind_source, first_container};
use crate::{
    desired::{BindSource, ContainerSpec},
    plan::hash,
};

const HEAD: &str = "apiVersion: aegis.dev/v1alpha1\nkind: Stack\n";

fn stack(project_dir: Option<&str>) -> String {
    let dir = project_dir.map_or(String::new(), |d| format!("  projectDir: {d}\n"));
    format!(
        "{HEAD}metadata: {{name: keep}}\nspec:\n{dir}  services:\n    app:\n      image: busybox:1.36\n      volumes: [./data:/data, ./conf/app.conf:/etc/app.conf:ro]\n"
    )
}

/// Loads a source holding `stack.yaml` (and `conf/app.conf`); its one container.
fn container(manifest: &str) -> Result<ContainerSpec, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("conf")).expect("mkdir");
    fs::write(dir.path().join("conf/app.conf"), "a=1\n").expect("write");
    fs::write(dir.path().join("stack.yaml"), manifest).expect("write");
    first_container(dir.path())
}

#[test]
fn state_dirs_live_in_the_default_or_the_given_project_dir() {
    let c = container(&stack(None)).expect("loads");
    assert_eq!(
        bind_source(&c, "/data"),
        BindSource::Host("/var/lib/aegis/stacks/keep/data".into())
    );
    // What the repository holds is still delivered by content.
    assert!(matches!(bind_source(&c, "/etc/app.conf"), BindSource::Repo(_)));

    let c = container(&stack(Some("/etc/komodo/stacks/keep"))).expect("loads");
    assert_eq!(
        bind_source(&c, "/data"),
        BindSource::Host("/etc/komodo/stacks/keep/data".into())
    );
}

/// The spec hash follows the resolved host path, and nothing else of `projectDir`.
#[test]
fn the_spec_hash_changes_only_with_the_host_path() {
    let h = |m: &str| hash::container(&container(m).expect("loads"), "sha256:img").0;
    let default = h(&stack(None));
    assert_eq!(default, h(&stack(Some("/var/lib/aegis/stacks/keep/"))));
    assert_ne!(default, h(&stack(Some("/srv/keep"))));
    // No state directory: `projectDir` does not matter at all.
    let plain = |d: Option<&str>| {
        let dir = d.map_or(String::new(), |d| format!("  projectDir: {d}\n"));
        h(&format!(
            "{HEAD}metadata: {{name: keep}}\nspec:\n{dir}  services:\n    app:\n      image: busybox:1.36\n"
        ))
    };
    assert_eq!(plain(None), plain(Some("/srv/elsewhere")));
}

#[test]
fn a_bad_project_dir_is_an_error_with_file_line_and_field() {
    for (dir, says) in [
        ("relative/keep", "is not an absolute path"),
        ("/srv/../etc", "contains `..`"),
        ("/var/lib/aegis/files/keep", "is inside /var/lib/aegis/files"),
    ] {
        let e = container(&stack(Some(dir))).expect_err(dir);
        assert!(
            e.contains(&format!(
                "stack.yaml:5: spec.projectDir: projectDir `{dir}` {says}"
            )),
            "{e}"
        );
        assert!(e.contains("(hint: write an absolute path"), "{e}");
    }
}

#[test]
fn a_stack_name_that_is_no_path_component_needs_a_project_dir() {
    let m = |dir: Option<&str>| stack(dir).replace("metadata: {name: keep}", "metadata: {name: \"../etc\"}");
    let e = container(&m(None)).expect_err("refused");
    assert!(
        e.contains(
            "stack.yaml:3: metadata.name: the stack name `../etc` cannot name the stack's project directory"
        ),
        "{e}"
    );
}
