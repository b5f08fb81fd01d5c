//! examples/racknerd-aegis resolves to the seed's tunnel layer: both DnsGuard agents with
//! their hosts' fallbacks, both machine clients and the Newt site with the seed's container
//! names and privileges, credentials from SOPS (digests only in the spec), the critical flag
//! on the clients that carry management, and the Pangolin API checks.
//!
//! One test in its own binary: it points `SOPS_AGE_KEY_FILE` at the example's key for the
//! whole process.

use aegis::desired::{BindSource, MountKind, NetworkMode, PangolinObject, StackSpec};

#[test]
fn the_seed_tunnel_layer_resolves() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .join("examples/racknerd-aegis");
    std::env::set_var("SOPS_AGE_KEY_FILE", dir.join("example-age-key.txt"));
    std::env::remove_var("SOPS_AGE_KEY");
    let r = aegis::resolve::load_source(&dir).unwrap_or_else(|e| panic!("{e}"));
    let find = |owner: &str| -> (String, StackSpec) {
        r.state
            .hosts
            .iter()
            .find_map(|h| {
                h.stacks
                    .iter()
                    .find(|s| s.owner().to_string() == owner)
                    .map(|s| (h.host.name.clone(), s.clone()))
            })
            .unwrap_or_else(|| panic!("{owner} not resolved"))
    };

    for (guard, host, fallback) in [
        ("komodo-dns", "komodo", "192.0.2.1"),
        ("racknerd-aegis-dns", "racknerd-aegis", "8.8.8.8,8.8.4.4"),
    ] {
        let (on, s) = find(&format!("DnsGuard/{guard}"));
        assert_eq!(on, host);
        let c = &s.containers[0];
        assert_eq!(c.name, format!("aegis-dnsguard-{guard}"));
        assert_eq!(c.network_mode, NetworkMode::Host);
        let cmd = c.command.clone().unwrap_or_default().join(" ");
        assert!(cmd.contains(&format!("--fallback {fallback}")), "{cmd}");
        assert!(cmd.contains("--backup /etc/resolv.conf.pre-pangolin"), "{cmd}");
    }

    for (client, host, container, guard, upstream, critical) in [
        (
            "komodo-mgmt",
            "komodo",
            "pangolin-cli",
            "komodo-dns",
            "192.0.2.1:53",
            true,
        ),
        (
            "racknerd-aegis-obs",
            "racknerd-aegis",
            "pangolin-obs-client",
            "racknerd-aegis-dns",
            "8.8.8.8:53,8.8.4.4:53",
            false,
        ),
    ] {
        let (on, s) = find(&format!("TunnelClient/{client}"));
        assert_eq!(on, host);
        assert_eq!(s.critical, critical, "{client}");
        assert_eq!(
            s.depends_on.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!("DnsGuard/{guard}")]
        );
        let c = &s.containers[0];
        assert_eq!(c.name, container);
        assert_eq!(c.image, "fosrl/pangolin-cli:0.3.3");
        assert_eq!(c.network_mode, NetworkMode::Host);
        assert_eq!(c.cap_add, ["NET_ADMIN"]);
        assert_eq!(c.devices[0].host, "/dev/net/tun");
        assert!(
            matches!(&c.mounts[0].kind, MountKind::Bind { source: BindSource::Host(p), .. } if p == "/etc/resolv.conf")
        );
        assert_eq!(
            c.command.clone().unwrap_or_default(),
            ["--upstream-dns", upstream]
        );
        for k in ["PANGOLIN_ENDPOINT", "CLIENT_ID", "CLIENT_SECRET"] {
            assert!(c.env.get(k).is_some_and(|v| v.is_secret()), "{client}: {k}");
        }
    }

    let (on, s) = find("TunnelClient/newt");
    assert_eq!(on, "racknerd-aegis");
    assert!(s.critical);
    let c = &s.containers[0];
    assert_eq!(
        (c.name.as_str(), c.image.as_str()),
        ("pangolin-newt", "fosrl/newt:1.9.0")
    );
    assert_eq!(c.networks[0].network, "newt-periphery");
    assert!(c.healthcheck.is_some());
    assert!(c.env["NEWT_SECRET"].is_secret());

    // The spec that is hashed and labelled holds digests, never the placeholder values.
    let json = serde_json::to_string(&c).expect("json");
    assert!(!json.contains("example-newt-secret"), "{json}");

    let checks: Vec<(String, PangolinObject, Vec<u64>)> = r
        .pangolin_checks
        .iter()
        .map(|c| (c.name.clone(), c.object, c.resources.clone()))
        .collect();
    assert_eq!(
        checks,
        [
            ("komodo-mgmt".to_string(), PangolinObject::Client, vec![1]),
            (
                "racknerd-aegis-obs".to_string(),
                PangolinObject::Client,
                vec![2, 3]
            ),
            ("racknerd-aegis".to_string(), PangolinObject::Site, vec![]),
        ]
    );
    assert_eq!(
        r.pangolin_checks[0].api_key.expose_str(),
        Some("example-api-key-id.example-api-key-secret")
    );
}
