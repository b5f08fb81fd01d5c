//! End to end: invalid sources are rejected with file:line and the key's name, and nothing
//! is applied.

mod support;

use support::*;

#[test]
fn bad_yaml_gives_file_and_line() {
    let src = Source::new();
    src.write(
        "ok.yaml",
        &format!("{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: n1}}\nspec: {{}}\n"),
    );
    src.write(
        "broken.yaml",
        "apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: [x\nspec: {}\n",
    );
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "an invalid revision exits 3: {t}");
    assert!(t.contains("broken.yaml:"), "{t}");
    assert!(t.contains("nothing was applied"), "{t}");
}

#[test]
fn unknown_compose_key_names_the_key_and_line() {
    let src = Source::new();
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: badkey}}\nspec:\n  compose: app/compose.yaml\n"
        ),
    );
    src.write(
        "app/compose.yaml",
        "services:\n  web:\n    image: busybox:1.36\n    restart_policy: always\n",
    );
    for cmd in ["validate", "apply"] {
        let o = if cmd == "apply" {
            aegis(&src.args(cmd))
        } else {
            validate(src.path())
        };
        let t = text(&o);
        assert_eq!(o.status.code(), Some(3), "{cmd}: {t}");
        assert!(t.contains("app/compose.yaml:4"), "{cmd}: {t}");
        assert!(t.contains("restart_policy"), "{cmd}: {t}");
    }
}

#[test]
fn dependency_cycle_is_rejected() {
    let src = Source::new();
    src.write(
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: cyc}}\nspec:\n  services:\n    a:\n      image: busybox:1.36\n      depends_on: [b]\n    b:\n      image: busybox:1.36\n      depends_on: [a]\n"
        ),
    );
    let o = validate(src.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "an invalid revision exits 3: {t}");
    assert!(t.contains("cycle"), "{t}");
    assert!(t.contains("stack.yaml:"), "{t}");
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let src = Source::new();
    src.write(
        "a.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: s1}}\nspec:\n  dependsOn: [Network/missing]\n  services: {{web: {{image: busybox:1.36}}}}\n---\n{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: n}}\nspec: {{drvier: bridge}}\n"
        ),
    );
    let o = validate(src.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "an invalid revision exits 3: {t}");
    assert!(t.contains("Network/missing is not declared"), "{t}");
    assert!(t.contains("drvier"), "{t}");
}

#[test]
fn seed_deployment_validates() {
    // The tunnel clients' credentials are SOPS files encrypted to the example's own key.
    let dir = repo_root().join("examples/racknerd-aegis");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["validate", "--source"])
        .arg(&dir)
        .env("SOPS_AGE_KEY_FILE", dir.join("example-age-key.txt"))
        .env_remove("SOPS_AGE_KEY")
        .output()
        .expect("run aegis");
    assert!(o.status.success(), "{}", text(&o));
    let dir = repo_root().join("examples/quickstart");
    let o = validate(&dir);
    assert!(o.status.success(), "{}", text(&o));
}
