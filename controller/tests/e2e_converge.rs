//! End to end against the real Docker engine: `aegis apply` converges a host and then leaves
//! it alone; changes recreate exactly what changed; removed things are pruned.

mod support;

use support::*;

/// A Network and a Stack (inline compose) with unique names.
struct Fixture {
    src: Source,
    net: String,
    stack: String,
    _cleanup: Cleanup,
}

impl Fixture {
    fn new() -> Self {
        ensure_image();
        let net = unique("e2enet");
        let stack = unique("e2e");
        let cleanup = Cleanup::new(&[format!("Network/{net}"), format!("Stack/{stack}")]);
        let f = Self {
            src: Source::new(),
            net,
            stack,
            _cleanup: cleanup,
        };
        f.write_stack("A: \"1\"", true);
        f.src.write("files/motd.txt", "hello\n");
        f
    }

    fn write_network(&self, internal: bool) {
        self.src.write(
            "net.yaml",
            &format!("{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {}}}\nspec: {{driver: bridge, internal: {internal}}}\n", self.net),
        );
    }

    /// `web` mounts a repo file; `api` has env `env`; `extra` present when `with_extra`.
    fn write_stack(&self, env: &str, with_extra: bool) {
        self.write_network(false);
        let extra = if with_extra {
            "    extra:\n      image: busybox:1.36\n      command: [sleep, \"3600\"]\n      networks: [net]\n"
        } else {
            ""
        };
        self.src.write(
            "stack.yaml",
            &format!(
                "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  dependsOn: [Network/{net}]\n  networks:\n    net: {{external: true, name: {net}}}\n  services:\n    web:\n      image: busybox:1.36\n      command: [sleep, \"3600\"]\n      volumes: [\"./files/motd.txt:/etc/motd.txt:ro\"]\n      networks: [net]\n    api:\n      image: busybox:1.36\n      command: [sleep, \"3600\"]\n      environment: {{{env}}}\n      networks: [net]\n{extra}",
                stack = self.stack,
                net = self.net
            ),
        );
    }

    fn name(&self, service: &str) -> String {
        format!("{}-{service}-1", self.stack)
    }
}

#[test]
fn converge_then_noop_then_recreate_only_what_changed_then_prune() {
    let f = Fixture::new();
    // 1. From empty.
    let out = apply(&f.src);
    assert!(
        out.contains(&format!("Stack/{}", f.stack)) && out.contains("created 3"),
        "{out}"
    );
    for s in ["web", "api", "extra"] {
        assert_eq!(inspect(&f.name(s), "{{.State.Running}}"), "true", "{s} running");
        assert_eq!(
            inspect(&f.name(s), "{{index .Config.Labels \"aegis.dev/managed-by\"}}"),
            "aegis"
        );
        assert_eq!(
            inspect(
                &f.name(s),
                "{{index .Config.Labels \"com.docker.compose.project\"}}"
            ),
            f.stack
        );
    }
    assert_eq!(docker(&["exec", &f.name("web"), "cat", "/etc/motd.txt"]), "hello");
    let ids: Vec<String> = ["web", "api", "extra"]
        .iter()
        .map(|s| container_id(&f.name(s)))
        .collect();

    // 2. A second apply changes nothing.
    let out = apply(&f.src);
    assert!(out.contains("unchanged 3"), "{out}");
    let again: Vec<String> = ["web", "api", "extra"]
        .iter()
        .map(|s| container_id(&f.name(s)))
        .collect();
    assert_eq!(ids, again, "no container was touched");

    // 3. An env change recreates only `api`; diff names the field first.
    f.write_stack("A: \"2\"", true);
    let d = aegisctl(&f.src.args("diff"));
    assert_eq!(d.status.code(), Some(1), "diff exits 1 on changes: {}", text(&d));
    assert!(
        text(&d).contains("recreate") && text(&d).contains("env.A: \"1\" -> \"2\""),
        "{}",
        text(&d)
    );
    let out = apply(&f.src);
    assert!(out.contains("recreated 1, unchanged 2"), "{out}");
    assert_ne!(container_id(&f.name("api")), ids[1]);
    assert_eq!(container_id(&f.name("web")), ids[0]);
    assert_eq!(container_id(&f.name("extra")), ids[2]);
    assert!(inspect(&f.name("api"), "{{.Config.Env}}").contains("A=2"));
    let d = aegisctl(&f.src.args("diff"));
    assert_eq!(
        d.status.code(),
        Some(0),
        "diff exits 0 when converged: {}",
        text(&d)
    );

    // 4. A content change in the bind-mounted repo file recreates `web` only.
    let api_id = container_id(&f.name("api"));
    f.src.write("files/motd.txt", "changed\n");
    let out = apply(&f.src);
    assert!(out.contains("recreated 1, unchanged 2"), "{out}");
    assert_ne!(container_id(&f.name("web")), ids[0]);
    assert_eq!(container_id(&f.name("api")), api_id);
    assert_eq!(
        docker(&["exec", &f.name("web"), "cat", "/etc/motd.txt"]),
        "changed"
    );

    // 5. A removed service is pruned; an unlabelled container is left alone.
    let stranger = unique("e2e-unlabelled");
    let mut guard = Cleanup::default();
    guard.containers.push(stranger.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &stranger,
        "--network",
        &f.net,
        IMAGE,
        "sleep",
        "3600",
    ]);
    f.write_stack("A: \"2\"", false);
    let out = apply(&f.src);
    assert!(out.contains("pruned 1"), "{out}");
    assert!(!docker_ok(&["inspect", &f.name("extra")]), "extra was pruned");
    assert_eq!(
        inspect(&stranger, "{{.State.Running}}"),
        "true",
        "unlabelled container untouched"
    );
    docker(&["rm", "-f", &stranger]);
}

#[test]
fn drifted_network_is_recreated_and_containers_reconnected() {
    let f = Fixture::new();
    apply(&f.src);
    let net_id = docker(&["network", "inspect", "-f", "{{.Id}}", &f.net]);
    let web_id = container_id(&f.name("web"));
    f.write_network(true);
    let out = apply(&f.src);
    assert!(
        out.contains(&format!("Network/{}", f.net)) && out.contains("recreated 1"),
        "{out}"
    );
    let new_id = docker(&["network", "inspect", "-f", "{{.Id}}", &f.net]);
    assert_ne!(net_id, new_id, "network recreated");
    assert_eq!(
        docker(&["network", "inspect", "-f", "{{.Internal}}", &f.net]),
        "true"
    );
    assert_eq!(container_id(&f.name("web")), web_id, "container kept");
    let nets = inspect(
        &f.name("web"),
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.NetworkID}} {{end}}",
    );
    assert!(
        nets.contains(&format!("{}={new_id}", f.net)),
        "reconnected to the new network: {nets}"
    );
    // and the pass after is a no-op
    let out = apply(&f.src);
    assert!(!out.contains("recreated"), "{out}");
}
