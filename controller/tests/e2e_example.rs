//! `examples/racknerd-aegis`, the seed's whole deployment, is valid as committed: every
//! manifest, compose file and policy, and every `.sops.env` decrypts with the example's own
//! (committed, EXAMPLE ONLY) age key.

mod support;

use std::process::Command;

use support::{repo_root, text};

#[test]
fn the_seed_deployment_validates_with_its_test_key() {
    let dir = repo_root().join("examples/racknerd-aegis");
    let key = dir.join("example-age-key.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["validate", "--source"])
        .arg(&dir)
        .env("SOPS_AGE_KEY_FILE", &key)
        .env_remove("SOPS_AGE_KEY")
        .output()
        .expect("run aegis validate");
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // Two hosts: on the VPS nine stack containers, Newt, the obs client and a DnsGuard
    // agent; on komodo the machine client and its DnsGuard agent.
    assert!(t.contains("2 hosts, 14 containers"), "{t}");
    assert!(
        !t.contains("warning:"),
        "the policy governs every risky setting: {t}"
    );

    // Without the key the revision is rejected whole (exit 3: an invalid source), naming a
    // SOPS file.
    let o = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(["validate", "--source"])
        .arg(&dir)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", dir.join("no-such-home"))
        .env("XDG_CONFIG_HOME", dir.join("no-such-home"))
        .output()
        .expect("run aegis validate");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("stacks/pangolin/.sops.env` cannot be decrypted"),
        "{t}"
    );
}
