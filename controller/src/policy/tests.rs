//! Policy checks on whole revisions, loaded from scratch directories (no Docker): every rule
//! kind rejects a violating revision and names the rule, the resource, file:line and value.

use crate::resolve;

pub(super) const HEAD: &str = "apiVersion: aegis.dev/v1alpha1";

/// A revision made of `files`; `Ok(warnings)` or `Err(errors)`, both as text.
fn load(files: &[(&str, &str)]) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, body).expect("write");
    }
    match resolve::load_source(dir.path()) {
        Ok(r) => Ok(r
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect::<Vec<_>>()
            .join("\n")),
        Err(d) => Err(d.to_string()),
    }
}

fn rejected(files: &[(&str, &str)]) -> String {
    match load(files) {
        Err(e) => e,
        Ok(w) => panic!("expected the revision to be rejected; it was accepted with:\n{w}"),
    }
}

fn accepted(files: &[(&str, &str)]) -> String {
    load(files).unwrap_or_else(|e| panic!("expected the revision to be accepted:\n{e}"))
}

fn policy(name: &str, spec: &str) -> String {
    format!("{HEAD}\nkind: Policy\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

fn stack(name: &str, compose: &str) -> String {
    format!("{HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  compose: {compose}\n")
}

fn network(name: &str) -> String {
    format!("{HEAD}\nkind: Network\nmetadata: {{name: {name}}}\nspec: {{}}\n")
}

/// The seed's identity stack: lldap and pocketid, on the networks in `lldap_nets`.
fn identity(lldap_nets: &str) -> String {
    format!(
        "services:\n  pocketid:\n    image: ghcr.io/pocket-id/pocket-id:v2.2.0\n    networks: [pangolin-internal, identity-internal]\n  lldap:\n    image: lldap/lldap:v0.6.2\n    container_name: lldap\n    networks: {lldap_nets}\nnetworks:\n  pangolin-internal: {{external: true}}\n  identity-internal: {{external: true}}\n"
    )
}

fn nets() -> String {
    [
        network("pangolin-internal"),
        network("identity-internal"),
        network("traefik-public"),
    ]
    .join("---\n")
}

const SEGMENTATION: &str = "  networks:\n    - network: pangolin-internal\n      allow: [Stack/pangolin, Stack/identity/pocketid]\n      deny: [Container/lldap]\n    - network: traefik-public\n      allow: [Stack/gateway, Stack/pangolin/gerbil]\n";

#[test]
fn a_network_deny_rule_names_the_rule_the_service_and_the_compose_line() {
    let e = rejected(&[
        ("nets.yaml", &nets()),
        ("identity.yaml", &stack("identity", "identity/compose.yaml")),
        (
            "identity/compose.yaml",
            &identity("[identity-internal, pangolin-internal]"),
        ),
        ("policy.yaml", &policy("segmentation", SEGMENTATION)),
    ]);
    assert!(
        e.contains(
            "identity/compose.yaml:8: services.lldap.networks[1]: Stack/identity service lldap (container lldap) \
             joins network `pangolin-internal`, which policy rule Policy/segmentation \
             networks[pangolin-internal].deny (policy.yaml:8) forbids (`Container/lldap`)"
        ),
        "{e}"
    );
    assert_eq!(e.matches("error:").count(), 1, "{e}");
}

#[test]
fn deny_wins_over_allow() {
    let spec = "  networks:\n    - network: pangolin-internal\n      allow: [Stack/identity]\n      deny: [Stack/identity/lldap]\n";
    let e = rejected(&[
        ("nets.yaml", &nets()),
        ("identity.yaml", &stack("identity", "identity/compose.yaml")),
        ("identity/compose.yaml", &identity("[pangolin-internal]")),
        ("policy.yaml", &policy("p", spec)),
    ]);
    assert!(e.contains("networks[pangolin-internal].deny"), "{e}");
}

#[test]
fn a_network_allow_list_admits_only_the_named() {
    let e = rejected(&[
        ("nets.yaml", &nets()),
        (
            "s.yaml",
            &format!("{HEAD}\nkind: Stack\nmetadata: {{name: blog}}\nspec:\n  services:\n    web:\n      image: nginx:1.27\n      networks: [traefik-public]\n  networks:\n    traefik-public: {{external: true}}\n"),
        ),
        ("policy.yaml", &policy("segmentation", SEGMENTATION)),
    ]);
    assert!(
        e.contains(
            "s.yaml:8: spec.services.web.networks[0]: Stack/blog service web (container blog-web-1) joins network \
             `traefik-public`, but policy rule Policy/segmentation networks[traefik-public].allow (policy.yaml:10) \
             admits only `Stack/gateway`, `Stack/pangolin/gerbil`"
        ),
        "{e}"
    );
    assert!(e.contains("add `Stack/blog/web` to the rule's allow list"), "{e}");
}

#[test]
fn sharing_a_namespace_counts_as_being_on_its_networks() {
    // The seed's pangolin-traefik runs with `network_mode: service:gerbil`, so it is on
    // traefik-public although it joins nothing itself.
    let pangolin = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: pangolin}}\nspec:\n  services:\n    gerbil:\n      image: fosrl/gerbil:1.3.0\n      networks: [traefik-public, pangolin-internal]\n    pangolin-traefik:\n      image: traefik:v3.6.8\n      network_mode: service:gerbil\n  networks:\n    traefik-public: {{external: true}}\n    pangolin-internal: {{external: true}}\n"
    );
    let e = rejected(&[
        ("nets.yaml", &nets()),
        ("pangolin.yaml", &pangolin),
        ("policy.yaml", &policy("segmentation", SEGMENTATION)),
    ]);
    assert!(
        e.contains(
            "pangolin.yaml:11: spec.services.pangolin-traefik.network_mode: Stack/pangolin service pangolin-traefik \
             (container pangolin-pangolin-traefik-1) is on network `traefik-public` through `network_mode: service:gerbil`"
        ),
        "{e}"
    );
    let fixed = SEGMENTATION.replace(
        "Stack/pangolin/gerbil]",
        "Stack/pangolin/gerbil, Stack/pangolin/pangolin-traefik]",
    );
    accepted(&[
        ("nets.yaml", &nets()),
        ("pangolin.yaml", &pangolin),
        ("policy.yaml", &policy("segmentation", &fixed)),
    ]);
}

const PERIPHERY: &str = "services:\n  periphery:\n    image: mohitsharma44/komodo-periphery-sops:latest\n    container_name: periphery\n    networks:\n      - newt-periphery\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\nnetworks:\n  newt-periphery:\n    external: true\n";

const ISOLATED: &str = "  services:\n    - name: periphery-isolated\n      match: [Container/periphery]\n      networks: [newt-periphery]\n      publishOn: []\n  privileges:\n    dockerSocket: [Container/periphery]\n";

fn periphery(compose: &str) -> Vec<(&'static str, String)> {
    vec![
        ("nets.yaml", network("newt-periphery")),
        ("periphery.yaml", stack("periphery", "periphery/compose.yaml")),
        ("periphery/compose.yaml", compose.to_string()),
        ("policy.yaml", policy("vps", ISOLATED)),
    ]
}

fn refs<'a>(files: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    files.iter().map(|(n, b)| (*n, b.as_str())).collect()
}

#[test]
fn the_seed_periphery_keeps_its_policy_and_is_not_warned_about() {
    let w = accepted(&refs(&periphery(PERIPHERY)));
    assert_eq!(w, "", "an allowed socket mount is not warned about");
}

#[test]
fn a_service_rule_limits_networks() {
    let compose = PERIPHERY.replace(
        "      - newt-periphery\n",
        "      - newt-periphery\n      - default\n",
    );
    let e = rejected(&refs(&periphery(&compose)));
    assert!(
        e.contains(
            "periphery/compose.yaml:7: services.periphery.networks[1]: Stack/periphery service periphery (container \
             periphery) joins network `periphery_default`, but policy rule Policy/vps \
             services[periphery-isolated].networks (policy.yaml:8) allows only `newt-periphery`"
        ),
        "{e}"
    );
    let host = PERIPHERY.replace(
        "    networks:\n      - newt-periphery\n",
        "    network_mode: host\n",
    );
    let e = rejected(&refs(&periphery(&host)));
    assert!(e.contains("services.periphery.network_mode: Stack/periphery service periphery (container periphery) uses the host's network"), "{e}");
}

#[test]
fn publish_on_nothing_rejects_any_port_and_shows_it() {
    let compose = PERIPHERY.replace(
        "    volumes:\n",
        "    ports:\n      - \"8120:8120\"\n    volumes:\n",
    );
    let e = rejected(&refs(&periphery(&compose)));
    assert!(
        e.contains(
            "periphery/compose.yaml:8: services.periphery.ports[0]: Stack/periphery service periphery (container \
             periphery) publishes 0.0.0.0:8120->8120/tcp, but policy rule Policy/vps \
             services[periphery-isolated].publishOn (policy.yaml:9) allows no published ports"
        ),
        "{e}"
    );
}

#[test]
fn publish_on_loopback_sees_interpolated_addresses() {
    let spec = "  services:\n    - match: [\"Stack/*\"]\n      publishOn: [127.0.0.1, \"::1\"]\n";
    let app = |bind: &str| {
        format!(
            "{HEAD}\nkind: Stack\nmetadata: {{name: app}}\nspec:\n  environment: {{BIND: \"{bind}\"}}\n  services:\n    web:\n      image: busybox:1.36\n      ports: [\"${{BIND}}:8080:80\", \"[::1]:8443:443\"]\n"
        )
    };
    let ok = app("127.0.0.1");
    accepted(&[("app.yaml", &ok), ("p.yaml", &policy("local-only", spec))]);
    let open = app("0.0.0.0");
    let e = rejected(&[("app.yaml", &open), ("p.yaml", &policy("local-only", spec))]);
    assert!(
        e.contains(
            "app.yaml:9: spec.services.web.ports[0]: Stack/app service web (container app-web-1) publishes \
             0.0.0.0:8080->80/tcp, but policy rule Policy/local-only services[0].publishOn (p.yaml:7) allows ports \
             only on 127.0.0.1, ::1"
        ),
        "{e}"
    );
    assert!(
        e.contains("bind an allowed address, e.g. `127.0.0.1:8080:80`"),
        "{e}"
    );
    assert_eq!(e.matches("error:").count(), 1, "{e}");
}

#[test]
fn only_allowed_stacks_mount_the_docker_socket() {
    let other = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: portainer}}\nspec:\n  services:\n    ui:\n      image: portainer/portainer-ce:2.21.0\n      volumes:\n        - /data\n        - /run:/host/run:ro\n"
    );
    let mut files = periphery(PERIPHERY);
    files.push(("portainer.yaml", other));
    let e = rejected(&refs(&files));
    assert!(
        e.contains(
            "portainer.yaml:10: spec.services.ui.volumes[1]: Stack/portainer service ui (container portainer-ui-1) \
             mounts `/run`, which exposes the Docker socket (root on host local), but policy rule Policy/vps \
             privileges.dockerSocket (policy.yaml:11) admits only `Container/periphery`"
        ),
        "{e}"
    );
}

#[test]
fn privileged_host_network_and_capabilities_need_a_grant() {
    let spec = "  privileges:\n    privileged: []\n    hostNetwork: [Stack/vpn]\n    capAdd:\n      - match: [Stack/vpn]\n        capabilities: [NET_ADMIN]\n";
    let vpn = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: vpn}}\nspec:\n  services:\n    client:\n      image: fosrl/pangolin-cli:0.3.3\n      network_mode: host\n      cap_add: [cap_net_admin]\n"
    );
    accepted(&[("vpn.yaml", &vpn), ("p.yaml", &policy("privs", spec))]);
    let rogue = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: rogue}}\nspec:\n  services:\n    x:\n      image: busybox:1.36\n      privileged: true\n      network_mode: host\n      cap_add: [NET_ADMIN, SYS_ADMIN]\n"
    );
    let e = rejected(&[
        ("vpn.yaml", &vpn),
        ("rogue.yaml", &rogue),
        ("p.yaml", &policy("privs", spec)),
    ]);
    assert!(
        e.contains(
            "rogue.yaml:8: spec.services.x.privileged: Stack/rogue service x (container rogue-x-1) runs \
             `privileged: true`, but policy rule Policy/privs privileges.privileged (p.yaml:6) admits only nobody"
        ),
        "{e}"
    );
    assert!(
        e.contains("rogue.yaml:9: spec.services.x.network_mode: Stack/rogue service x (container rogue-x-1) uses `network_mode: host`, but policy rule Policy/privs privileges.hostNetwork (p.yaml:7) admits only `Stack/vpn`"),
        "{e}"
    );
    assert!(
        e.contains("rogue.yaml:10: spec.services.x.cap_add[0]: Stack/rogue service x (container rogue-x-1) adds capability `NET_ADMIN`, which policy rule Policy/privs privileges.capAdd (p.yaml:8) does not grant it"),
        "{e}"
    );
    assert!(e.contains("spec.services.x.cap_add[1]: Stack/rogue service x (container rogue-x-1) adds capability `SYS_ADMIN`"), "{e}");
    assert_eq!(e.matches("error:").count(), 4, "{e}");
}

#[test]
fn healthchecks_and_pinned_images_when_asked_for() {
    let spec = "  services:\n    - name: hygiene\n      match: [\"Stack/*\"]\n      exclude: [Stack/app/legacy]\n      requireHealthcheck: true\n      requirePinnedImage: true\n";
    let app = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: app}}\nspec:\n  services:\n    good:\n      image: busybox:1.36\n      healthcheck: {{test: [CMD, true]}}\n    nohc:\n      image: busybox:1.36\n    off:\n      image: busybox:1.36\n      healthcheck: {{disable: true}}\n    latest:\n      image: busybox:latest\n      healthcheck: {{test: [CMD, true]}}\n    untagged:\n      image: registry.example:5000/busybox\n      healthcheck: {{test: [CMD, true]}}\n    legacy:\n      image: busybox\n"
    );
    let e = rejected(&[("app.yaml", &app), ("p.yaml", &policy("hygiene", spec))]);
    assert!(
        e.contains("app.yaml:9: spec.services.nohc: Stack/app service nohc (container app-nohc-1) has no healthcheck, but policy rule Policy/hygiene services[hygiene].requireHealthcheck (p.yaml:9) requires one"),
        "{e}"
    );
    assert!(e.contains("app.yaml:13: spec.services.off.healthcheck: Stack/app service off (container app-off-1) has a disabled healthcheck"), "{e}");
    assert!(
        e.contains("app.yaml:15: spec.services.latest.image: Stack/app service latest (container app-latest-1) uses image `busybox:latest` (the tag `latest` moves), but policy rule Policy/hygiene services[hygiene].requirePinnedImage (p.yaml:10) requires a pinned tag"),
        "{e}"
    );
    assert!(e.contains("spec.services.untagged.image: Stack/app service untagged (container app-untagged-1) uses image `registry.example:5000/busybox` (no tag means `latest`"), "{e}");
    assert!(!e.contains("legacy"), "excluded: {e}");
    assert_eq!(e.matches("error:").count(), 4, "{e}");
}

#[test]
fn a_policy_covers_only_its_hosts() {
    let hosts = format!(
        "{HEAD}\nkind: Host\nmetadata: {{name: a}}\nspec: {{endpoint: unix:///a.sock}}\n---\n{HEAD}\nkind: Host\nmetadata: {{name: b}}\nspec: {{endpoint: unix:///b.sock}}\n"
    );
    let on = |host: &str| {
        format!(
            "{HEAD}\nkind: Stack\nmetadata: {{name: s-{host}}}\nspec:\n  host: {host}\n  services:\n    x:\n      image: busybox:1.36\n      privileged: true\n"
        )
    };
    let spec = "  hosts: [a]\n  privileges:\n    privileged: []\n";
    let e = rejected(&[
        ("h.yaml", &hosts),
        ("a.yaml", &on("a")),
        ("b.yaml", &on("b")),
        ("p.yaml", &policy("only-a", spec)),
    ]);
    assert!(e.contains("Stack/s-a service x"), "{e}");
    assert!(!e.contains("Stack/s-b"), "{e}");
    // b is not covered: it is warned about instead.
    let w = accepted(&[
        ("h.yaml", &hosts),
        ("b.yaml", &on("b")),
        ("p.yaml", &policy("only-a", spec)),
    ]);
    assert!(
        w.contains("Stack/s-b service x (container s-b-x-1) runs privileged"),
        "{w}"
    );
}

#[test]
fn without_a_policy_risky_settings_are_warnings() {
    let app = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: app}}\nspec:\n  services:\n    priv:\n      image: busybox:1.36\n      privileged: true\n    sock:\n      image: busybox:1.36\n      volumes: [\"/var/run/docker.sock:/var/run/docker.sock:ro\"]\n    hostnet:\n      image: busybox:1.36\n      network_mode: host\n    open:\n      image: busybox:1.36\n      ports: [\"127.0.0.1:8081:81\", \"8080:80\", \"[::]:8443:443\"]\n    local:\n      image: busybox:1.36\n      ports: [\"127.0.0.1:9090:90\"]\n"
    );
    let w = accepted(&[("app.yaml", &app)]);
    let lines: Vec<&str> = w.lines().collect();
    assert_eq!(lines.len(), 4, "{w}");
    assert!(lines[0].starts_with("warning: app.yaml:8: spec.services.priv.privileged: Stack/app service priv (container app-priv-1) runs privileged"), "{w}");
    assert!(lines[1].starts_with("warning: app.yaml:11: spec.services.sock.volumes[0]: Stack/app service sock (container app-sock-1) mounts `/var/run/docker.sock`, which exposes the Docker socket: root on host local"), "{w}");
    assert!(lines[2].starts_with("warning: app.yaml:14: spec.services.hostnet.network_mode: Stack/app service hostnet (container app-hostnet-1) uses `network_mode: host`"), "{w}");
    assert!(lines[3].starts_with("warning: app.yaml:17: spec.services.open.ports[1]: Stack/app service open (container app-open-1) publishes 0.0.0.0:8080->80/tcp, [::]:8443->443/tcp on every address of host local"), "{w}");
}

#[test]
fn explicit_allows_silence_the_warnings() {
    let app = format!(
        "{HEAD}\nkind: Stack\nmetadata: {{name: gateway}}\nspec:\n  services:\n    traefik:\n      image: traefik:v3.6.8\n      ports: [\"80:80\", \"443:443\"]\n      volumes: [\"/var/run/docker.sock:/var/run/docker.sock:ro\"]\n"
    );
    let spec = "  services:\n    - match: [Stack/gateway/traefik]\n      publishOn: [0.0.0.0]\n  privileges:\n    dockerSocket: [Stack/gateway]\n";
    assert_eq!(
        accepted(&[("g.yaml", &app), ("p.yaml", &policy("edge", spec))]),
        ""
    );
    // Governing only the socket leaves the ports warned about.
    let spec = "  privileges:\n    dockerSocket: [Stack/gateway]\n";
    let w = accepted(&[("g.yaml", &app), ("p.yaml", &policy("edge", spec))]);
    assert_eq!(w.lines().count(), 1, "{w}");
    assert!(
        w.contains("publishes 0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp on every address"),
        "{w}"
    );
}

#[test]
fn rules_that_match_nothing_are_warned_about_at_the_policy_line() {
    let spec = "  networks:\n    - network: pangolin-internl\n      deny: [Container/ldap]\n  services:\n    - match: [Stack/periphry]\n      publishOn: []\n";
    let w = accepted(&[("nets.yaml", &nets()), ("p.yaml", &policy("typos", spec))]);
    assert!(w.contains("warning: p.yaml:7: spec.networks[0].deny[0]: Policy/typos: `Container/ldap` matches no container on any host"), "{w}");
    assert!(w.contains("warning: p.yaml:9: spec.services[0].match[0]: Policy/typos: `Stack/periphry` matches no container"), "{w}");
    assert!(w.contains("warning: p.yaml:6: spec.networks[0].network: Policy/typos: no network `pangolin-internl` on any host"), "{w}");
}

#[test]
fn every_policy_must_hold() {
    let compose = PERIPHERY.replace("    volumes:\n", "    privileged: true\n    volumes:\n");
    let mut files = periphery(&compose);
    files.push((
        "strict.yaml",
        policy(
            "strict",
            "  privileges:\n    privileged: []\n    dockerSocket: []\n",
        ),
    ));
    let e = rejected(&refs(&files));
    assert!(e.contains("Policy/strict privileges.privileged"), "{e}");
    assert!(e.contains("Policy/strict privileges.dockerSocket"), "{e}");
    assert!(!e.contains("Policy/vps"), "Policy/vps allows the socket: {e}");
}
