//! The example deployment's policies (`examples/racknerd-aegis/policy.yaml`): they hold for
//! the example, and they reject what the seed forbids.

use crate::resolve;

/// The example's own key (committed on purpose and marked EXAMPLE ONLY, see its README): the
/// TunnelClients' and Stacks' SOPS placeholders decrypt with it. Set once per test process.
fn example_key() {
    crate::secrets::keys::set_key_file(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/racknerd-aegis/example-age-key.txt"),
    );
}

/// The example's policy holds, and leaves no warning: every container the seed's tables name
/// is declared, and every risky setting it uses is governed.
#[test]
fn the_racknerd_example_keeps_its_policy() {
    example_key();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/racknerd-aegis");
    let r = resolve::load_source(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        r.manifests.of_kind(crate::desired::Kind::Policy).count() >= 1,
        "the example carries the seed's segmentation table as a Policy"
    );
    let warnings: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// A copy of `examples/racknerd-aegis` (hidden `.env` files included) to break on purpose.
fn example_copy() -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read example") {
            let e = e.expect("entry");
            let target = to.join(e.file_name());
            if e.file_type().expect("file type").is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/racknerd-aegis"),
        dir.path(),
    );
    dir
}

fn load_dir(dir: &std::path::Path) -> Result<String, String> {
    example_key();
    match resolve::load_source(dir) {
        Ok(r) => Ok(r
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")),
        Err(d) => Err(d.to_string()),
    }
}

#[test]
fn the_example_policy_rejects_what_the_seed_forbids() {
    example_key();
    // LLDAP on pangolin-internal: the seed's "NOT on pangolin - LDAP isolated".
    let dir = example_copy();
    let compose = dir.path().join("stacks/identity/compose.yaml");
    let text = std::fs::read_to_string(&compose).expect("read");
    std::fs::write(
        &compose,
        text.replace(
            "    networks:\n      - identity-internal\n    volumes:\n      - /opt/aegis/identity/lldap:/data\n",
            "    networks:\n      - identity-internal\n      - pangolin-internal\n    volumes:\n      - /opt/aegis/identity/lldap:/data\n",
        ),
    )
    .expect("write");
    let e = load_dir(dir.path()).expect_err("lldap on pangolin-internal must be rejected");
    assert!(
        e.contains("stacks/identity/compose.yaml:14: services.lldap.networks[1]: Stack/identity service lldap (container lldap) joins network `pangolin-internal`, which policy rule Policy/racknerd-aegis-segmentation networks[pangolin-internal].deny (policy.yaml:34) forbids (`Container/lldap`)"),
        "{e}"
    );
    assert!(e.contains("services[lldap-isolated].networks"), "{e}");

    // Periphery publishing its port: "NOT exposed to host network or internet".
    let dir = example_copy();
    let compose = dir.path().join("stacks/periphery/compose.yaml");
    let text = std::fs::read_to_string(&compose).expect("read");
    std::fs::write(
        &compose,
        text.replace(
            "    networks:\n      - newt-periphery\n",
            "    ports: [\"8120:8120\"]\n    networks:\n      - newt-periphery\n",
        ),
    )
    .expect("write");
    let e = load_dir(dir.path()).expect_err("a published Periphery port must be rejected");
    assert!(
        e.contains("services.periphery.ports[0]: Stack/periphery service periphery (container periphery) publishes 0.0.0.0:8120->8120/tcp, but policy rule Policy/racknerd-aegis-segmentation services[periphery-isolated].publishOn"),
        "{e}"
    );

    // Newt on pangolin-internal: "reaches Periphery, not Pangolin's internals". Policies see
    // a TunnelClient's container like a Stack's, and point at its manifest.
    let dir = example_copy();
    let tunnels = dir.path().join("tunnels.yaml");
    let text = std::fs::read_to_string(&tunnels).expect("read");
    std::fs::write(
        &tunnels,
        text.replace(
            "  networks: [newt-periphery]\n",
            "  networks: [newt-periphery, pangolin-internal]\n",
        ),
    )
    .expect("write");
    let e = load_dir(dir.path()).expect_err("newt on pangolin-internal must be rejected");
    assert!(
        e.contains(
            "TunnelClient/newt service newt (container pangolin-newt) joins network `pangolin-internal`"
        ),
        "{e}"
    );
    assert!(e.contains("tunnels.yaml:"), "{e}");

    // Another container mounting the Docker socket: only Periphery's is an accepted risk.
    let dir = example_copy();
    let compose = dir.path().join("stacks/alloy/compose.yaml");
    let text = std::fs::read_to_string(&compose).expect("read");
    std::fs::write(
        &compose,
        text.replace(
            "      - /var/log:/var/log:ro\n",
            "      - /var/log:/var/log:ro\n      - /var/run/docker.sock:/var/run/docker.sock\n",
        ),
    )
    .expect("write");
    let e = load_dir(dir.path()).expect_err("alloy with the Docker socket must be rejected");
    assert!(
        e.contains("Stack/alloy service alloy (container alloy) mounts `/var/run/docker.sock`"),
        "{e}"
    );
    assert!(e.contains("Policy/accepted-risks privileges.dockerSocket"), "{e}");
}
