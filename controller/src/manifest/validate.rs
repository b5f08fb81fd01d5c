//! Cross-reference checks over a whole revision: duplicate names, references to hosts and
//! resources that don't exist, `dependsOn` across hosts, and dependency cycles.

use std::collections::BTreeMap;

use super::{
    kinds::Manifest,
    load::{AnyManifest, Located, ManifestSet},
};
use crate::{
    desired::{Kind, ResourceRef},
    diagnostic::Diagnostics,
    graph,
    yaml::FieldPath,
};

/// The host name used when a source declares no `Host`.
pub const IMPLICIT_HOST: &str = "local";

impl ManifestSet {
    /// Names of the hosts of this revision: the `Host` manifests, or the implicit `local`.
    pub fn host_names(&self) -> Vec<String> {
        let hosts: Vec<String> = self
            .of_kind(Kind::Host)
            .map(|m| m.value.name().to_string())
            .collect();
        if hosts.is_empty() {
            vec![IMPLICIT_HOST.to_string()]
        } else {
            hosts
        }
    }

    /// The host a manifest lives on: its `spec.host`, or the only host there is. A `Policy`
    /// lives on no host (it covers hosts), so it has none.
    pub fn host_of(&self, m: &AnyManifest) -> Result<String, String> {
        if m.kind() == Kind::Policy {
            return Err("a Policy lives on no host; its `spec.hosts` names the hosts it covers".into());
        }
        let hosts = self.host_names();
        match m.host() {
            Some(h) if hosts.iter().any(|x| x == h) => Ok(h.to_string()),
            Some(h) => Err(format!(
                "host `{h}` is not declared (hosts: {})",
                hosts.join(", ")
            )),
            None if hosts.len() == 1 => Ok(hosts[0].clone()),
            None => Err(format!(
                "there are several hosts ({}); set spec.host",
                hosts.join(", ")
            )),
        }
    }
}

/// Checks every cross-reference of the revision. Reports every problem found.
pub fn validate(set: &ManifestSet) -> Diagnostics {
    let mut diags = Diagnostics::default();
    check_duplicates(set, &mut diags);
    for m in &set.items {
        if !matches!(m.value.kind(), Kind::Host | Kind::Policy) {
            if let Err(e) = set.host_of(&m.value) {
                diags.push(
                    m.diag(FieldPath::parse("spec.host"), e)
                        .with_hint("name a Host declared in the source"),
                );
            }
        }
        match &m.value {
            AnyManifest::Host(h) => check_host(m, h, set, &mut diags),
            AnyManifest::Stack(s) => check_stack(m, s, set, &mut diags),
            // Checked in validate_agents.rs.
            AnyManifest::DnsGuard(_) | AnyManifest::TunnelClient(_) => {}
            AnyManifest::Network(_) => {}
            AnyManifest::Policy(p) => super::validate_policy::check(m, p, set, &mut diags),
        }
    }
    check_cycles(set, &mut diags);
    super::validate_agents::check(set, &mut diags);
    super::management::check(set, &mut diags);
    diags
}

fn check_duplicates(set: &ManifestSet, diags: &mut Diagnostics) {
    let mut seen: BTreeMap<ResourceRef, &Located<AnyManifest>> = BTreeMap::new();
    for m in &set.items {
        let r = m.value.reference();
        if let Some(first) = seen.get(&r) {
            let at = format!(
                "{}:{}",
                first.file.display(),
                first.line_of(&FieldPath::parse("metadata.name")).unwrap_or(0)
            );
            diags.push(
                m.diag(
                    FieldPath::parse("metadata.name"),
                    format!("{r} is declared twice (first at {at})"),
                )
                .with_hint("names are unique per kind; rename one of them"),
            );
        } else {
            seen.insert(r, m);
        }
    }
}

fn check_host(
    m: &Located<AnyManifest>,
    h: &Manifest<super::kinds::HostManifestSpec>,
    set: &ManifestSet,
    diags: &mut Diagnostics,
) {
    if let Some(ep) = &h.spec.endpoint {
        if let Some((message, hint)) = endpoint_problem(ep) {
            diags.push(m.diag(FieldPath::parse("spec.endpoint"), message).with_hint(hint));
        } else if let Err(e) = super::endpoint::plain_tcp_verdict(ep, h.spec.tls.is_some(), h.spec.insecure) {
            diags.push(
                m.diag(FieldPath::parse("spec.endpoint"), e)
                    .with_hint("add `tls: {ca, cert, key}`, reach it through loopback (a tunnel's local end), or set `insecure: true`"),
            );
        }
        if h.spec.tls.is_some() && !ep.starts_with("tcp://") {
            diags.push(m.diag(
                FieldPath::parse("spec.tls"),
                "tls applies only to tcp:// endpoints",
            ));
        }
    }
    if let Some(dir) = &h.spec.home_dir {
        if let Err(e) = crate::compose::home::check_home_dir(dir) {
            diags.push(
                m.diag(FieldPath::parse("spec.homeDir"), format!("homeDir {e}"))
                    .with_hint("write the absolute path of the home directory on the target host, such as /home/deploy; or leave it out for /root"),
            );
        }
    }
    for (i, r) in h.spec.management_path.iter().enumerate() {
        if r.kind == Kind::Policy {
            diags.push(m.diag(
                FieldPath::parse("spec.managementPath").index(i),
                format!("{r}: a Policy runs nothing on a host, so it is on no management path"),
            ));
        } else if set.get(r).is_none() {
            diags.push(m.diag(
                FieldPath::parse("spec.managementPath").index(i),
                format!("{r} is not declared"),
            ));
        }
    }
}

/// Why `ep` cannot name a Docker engine, and what to write instead; `None` if it can.
fn endpoint_problem(ep: &str) -> Option<(String, &'static str)> {
    const FORMS: &str = "use unix:///path/to/docker.sock or tcp://host:port";
    if let Some(path) = ep.strip_prefix("unix://") {
        return if path.is_empty() {
            Some((format!("endpoint `{ep}` names no socket"), FORMS))
        } else if !path.starts_with('/') {
            Some((
                format!("endpoint `{ep}`: the socket path must be absolute"),
                "write three slashes: unix:///var/run/docker.sock",
            ))
        } else {
            None
        };
    }
    if let Some(addr) = ep.strip_prefix("tcp://") {
        let host_port = addr.trim_end_matches('/');
        return if host_port.is_empty() {
            Some((format!("endpoint `{ep}` names no host"), FORMS))
        } else if host_port
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            Some((
                format!("endpoint `{ep}` has no port"),
                "write tcp://host:port (Docker's TLS port is 2376)",
            ))
        } else {
            None
        };
    }
    let hint = if ep.starts_with("ssh://") {
        "ssh:// is planned; use tcp:// with TLS for now"
    } else {
        FORMS
    };
    Some((format!("unsupported endpoint `{ep}`"), hint))
}

fn check_stack(
    m: &Located<AnyManifest>,
    s: &Manifest<super::kinds::StackManifestSpec>,
    set: &ManifestSet,
    diags: &mut Diagnostics,
) {
    let spec = &s.spec;
    match (&spec.compose, &spec.services) {
        (Some(_), Some(_)) => diags.push(m.diag(
            FieldPath::parse("spec.services"),
            "a Stack has either `compose` or inline `services`, not both",
        )),
        (None, None) => diags.push(m.diag(
            FieldPath::parse("spec"),
            "a Stack needs `compose: path/compose.yaml` or inline `services`",
        )),
        (Some(_), None) if spec.networks.is_some() || spec.volumes.is_some() => diags.push(m.diag(
            FieldPath::parse("spec.networks"),
            "inline `networks`/`volumes` go with inline `services`; put them in the compose file",
        )),
        _ => {}
    }
    let my_host = set.host_of(&m.value).ok();
    for (i, r) in spec.depends_on.iter().enumerate() {
        let path = FieldPath::parse("spec.dependsOn").index(i);
        if *r == m.value.reference() {
            diags.push(m.diag(path, format!("{r} depends on itself")));
            continue;
        }
        if r.kind == Kind::Policy {
            diags.push(
                m.diag(
                    path,
                    format!("{r}: a Policy is checked, not applied; nothing can wait for it"),
                )
                .with_hint("remove it from dependsOn; every Policy is checked before anything is applied"),
            );
            continue;
        }
        match set.get(r) {
            None => diags.push(
                m.diag(path, format!("{r} is not declared"))
                    .with_hint("declare it, or remove it from dependsOn"),
            ),
            Some(dep) if r.kind != Kind::Host => {
                let dep_host = set.host_of(&dep.value).ok();
                if dep_host.is_some() && my_host.is_some() && dep_host != my_host {
                    diags.push(m.diag(
                        path,
                        format!(
                            "{r} is on host `{}`; dependsOn works within one host",
                            dep_host.unwrap_or_default()
                        ),
                    ));
                }
            }
            Some(_) => {}
        }
    }
}

fn check_cycles(set: &ManifestSet, diags: &mut Diagnostics) {
    let mut edges: BTreeMap<ResourceRef, Vec<ResourceRef>> = BTreeMap::new();
    for m in &set.items {
        let deps = match &m.value {
            AnyManifest::Stack(s) => s.spec.depends_on.clone(),
            AnyManifest::TunnelClient(t) => super::validate_agents::tunnel_dependencies(set, m, &t.spec),
            _ => continue,
        };
        edges.entry(m.value.reference()).or_insert(deps);
    }
    if let Some(cycle) = graph::find_cycle(&edges) {
        let first = &cycle[0];
        if let Some(m) = set.get(first) {
            diags.push(
                m.diag(
                    FieldPath::parse("spec.dependsOn"),
                    format!("dependency cycle: {}", graph::format_cycle(&cycle)),
                )
                .with_hint("remove one of the dependsOn edges in the cycle"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::load_dir;

    fn check(files: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).expect("write");
        }
        let (set, mut diags) = load_dir(dir.path());
        diags.extend(validate(&set));
        diags.to_string()
    }

    const STACK: &str = "apiVersion: aegis.dev/v1alpha1\nkind: Stack\n";

    #[test]
    fn dangling_and_cycles_and_duplicates() {
        let text = check(&[(
            "s.yaml",
            &format!(
                "{STACK}metadata: {{name: a}}\nspec:\n  services: {{}}\n  dependsOn: [Stack/b]\n---\n{STACK}metadata: {{name: b}}\nspec:\n  services: {{}}\n  dependsOn: [Stack/a, Network/nope]\n---\n{STACK}metadata: {{name: a}}\nspec: {{services: {{}}}}\n"
            ),
        )]);
        assert!(text.contains("Network/nope is not declared"), "{text}");
        assert!(text.contains("s.yaml:13: spec.dependsOn[1]"), "{text}");
        assert!(
            text.contains("dependency cycle: Stack/a -> Stack/b -> Stack/a"),
            "{text}"
        );
        assert!(
            text.contains("Stack/a is declared twice (first at s.yaml:3)"),
            "{text}"
        );
    }

    #[test]
    fn host_references() {
        let text = check(&[(
            "h.yaml",
            "apiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {name: a}\nspec: {endpoint: unix:///x}\n---\napiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {name: b}\nspec: {endpoint: ssh://b}\n---\napiVersion: aegis.dev/v1alpha1\nkind: Network\nmetadata: {name: n}\nspec: {}\n",
        )]);
        assert!(text.contains("several hosts (a, b); set spec.host"), "{text}");
        assert!(text.contains("unsupported endpoint `ssh://b`"), "{text}");
    }

    /// `endpoint: "unix://"` used to pass validation and fail only when the controller
    /// connected (to a socket named ""): an endpoint must name its socket or its host:port.
    #[test]
    fn an_endpoint_without_an_address_is_invalid() {
        let host = |name: &str, ep: &str| {
            format!("apiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {{name: {name}}}\nspec: {{endpoint: \"{ep}\"}}\n")
        };
        let text = check(&[(
            "h.yaml",
            &[
                host("a", "unix://"),
                host("b", "unix://docker.sock"),
                host("c", "tcp://"),
                host("d", "tcp://10.0.0.5"),
                host("ok1", "unix:///var/run/docker.sock"),
                host("ok2", "tcp://127.0.0.1:2376"),
            ]
            .join("---\n"),
        )]);
        assert!(
            text.contains("h.yaml:4: spec.endpoint: endpoint `unix://` names no socket"),
            "{text}"
        );
        assert!(
            text.contains("endpoint `unix://docker.sock`: the socket path must be absolute"),
            "{text}"
        );
        assert!(text.contains("endpoint `tcp://` names no host"), "{text}");
        assert!(text.contains("endpoint `tcp://10.0.0.5` has no port"), "{text}");
        assert!(!text.contains("`unix:///var/run/docker.sock`"), "{text}");
        assert!(!text.contains("`tcp://127.0.0.1:2376`"), "{text}");
    }

    #[test]
    fn implicit_local_host() {
        let text = check(&[(
            "n.yaml",
            "apiVersion: aegis.dev/v1alpha1\nkind: Network\nmetadata: {name: n}\nspec: {host: local}\n",
        )]);
        assert_eq!(text, "");
    }
}
