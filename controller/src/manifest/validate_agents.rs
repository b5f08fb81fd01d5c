//! Checks of the `DnsGuard` and `TunnelClient` kinds: the values the agent and the clients
//! would choke on, the pairing of a pangolin-cli client with its host's DnsGuard, and the
//! fields that only make sense for one type of client.

use std::net::{IpAddr, SocketAddr};

use super::{
    kinds::{DnsGuardSpec, Manifest, TunnelClientSpec, TunnelType},
    load::{AnyManifest, Located, ManifestSet},
};
use crate::{
    agent::dnsguard::Subnet,
    desired::{Kind, ResourceRef},
    diagnostic::Diagnostics,
    yaml::FieldPath,
};

/// Every check of this file, over the whole revision.
pub(super) fn check(set: &ManifestSet, diags: &mut Diagnostics) {
    for m in &set.items {
        match &m.value {
            AnyManifest::DnsGuard(g) => check_guard(m, g, diags),
            AnyManifest::TunnelClient(t) => check_tunnel(set, m, t, diags),
            _ => {}
        }
    }
}

/// The DnsGuard a TunnelClient waits for: `spec.dnsGuard`, or for pangolin-cli the only
/// DnsGuard on its host. pangolin-cli overrides the host's `/etc/resolv.conf`, so it must have
/// one; a newt site has one only when it names it.
pub fn guard_of(
    set: &ManifestSet,
    t: &Located<AnyManifest>,
    spec: &TunnelClientSpec,
) -> Result<Option<String>, String> {
    let host = set.host_of(&t.value).ok();
    let on_host = |g: &Located<AnyManifest>| host.is_some() && set.host_of(&g.value).ok() == host;
    if let Some(name) = &spec.dns_guard {
        let Some(g) = set.get(&ResourceRef::new(Kind::DnsGuard, name)) else {
            return Err(format!("DnsGuard `{name}` is not declared"));
        };
        if !on_host(g) {
            return Err(format!(
                "DnsGuard `{name}` is on host `{}`, not on this client's host `{}`: it guards the \
                 resolv.conf of its own host only",
                set.host_of(&g.value).unwrap_or_default(),
                host.unwrap_or_default()
            ));
        }
        return Ok(Some(name.clone()));
    }
    if spec.tunnel_type != TunnelType::PangolinCli {
        return Ok(None);
    }
    let guards: Vec<&str> = set
        .of_kind(Kind::DnsGuard)
        .filter(|g| on_host(g))
        .map(|g| g.value.name())
        .collect();
    match guards.as_slice() {
        [one] => Ok(Some((*one).to_string())),
        [] => Err(format!(
            "a pangolin-cli client overrides /etc/resolv.conf, so its host `{}` needs a DnsGuard, \
             and there is none",
            host.unwrap_or_default()
        )),
        many => Err(format!(
            "host `{}` has several DnsGuards ({}); name one in spec.dnsGuard",
            host.unwrap_or_default(),
            many.join(", ")
        )),
    }
}

/// Whether an image reference is pinned: a digest, or a tag other than `latest`.
pub fn is_pinned(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    matches!(last.split_once(':'), Some((_, tag)) if !tag.is_empty() && tag != "latest")
}

/// `ip` or `ip:port`.
pub fn parse_dns_server(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

fn check_guard(m: &Located<AnyManifest>, g: &Manifest<DnsGuardSpec>, diags: &mut Diagnostics) {
    let s = &g.spec;
    if parse_dns_server(&s.probe.server).is_none() {
        diags.push(
            m.diag(
                FieldPath::parse("spec.probe.server"),
                format!("`{}` is not an IP address or ip:port", s.probe.server),
            )
            .with_hint("the probe asks one server directly, e.g. \"100.96.128.1:53\""),
        );
    }
    for (i, ns) in s.fallback_nameservers.iter().enumerate() {
        if ns.parse::<IpAddr>().is_err() {
            diags.push(m.diag(
                FieldPath::parse("spec.fallbackNameservers").index(i),
                format!("`{ns}` is not an IP address (resolv.conf takes addresses, no ports)"),
            ));
        }
    }
    for (field, value) in [("resolvConf", &s.resolv_conf), ("backupPath", &s.backup_path)] {
        let Some(v) = value else { continue };
        let under_etc = v.starts_with("/etc/") && !v.split('/').any(|c| c == "..");
        if !under_etc {
            diags.push(
                m.diag(
                    FieldPath::parse("spec").key(field),
                    format!("`{v}` is not a file under /etc"),
                )
                .with_hint("the agent sees the host's /etc only"),
            );
        }
    }
    for (field, value) in [
        ("hostEtc", &s.host_etc),
        ("hostResolvedDir", &s.host_resolved_dir),
    ] {
        if let Some(v) = value {
            if !v.starts_with('/') {
                diags.push(m.diag(
                    FieldPath::parse("spec").key(field),
                    format!("`{v}` is not an absolute path on the host"),
                ));
            }
        }
    }
    if let Some(u) = &s.utility_subnet {
        if let Err(e) = u.parse::<Subnet>() {
            diags.push(m.diag(FieldPath::parse("spec.utilitySubnet"), e));
        }
    }
    let interval = s
        .interval
        .map_or(crate::agent::dnsguard::defaults::INTERVAL, |d| d.0);
    if interval < std::time::Duration::from_secs(1) {
        diags.push(m.diag(
            FieldPath::parse("spec.interval"),
            "the interval must be at least 1s",
        ));
    }
    if let Some(t) = s.probe.timeout {
        if t.0.is_zero() || t.0 >= interval {
            diags.push(m.diag(
                FieldPath::parse("spec.probe.timeout"),
                "the probe timeout must be more than 0 and shorter than the interval",
            ));
        }
    }
}

fn check_tunnel(
    set: &ManifestSet,
    m: &Located<AnyManifest>,
    t: &Manifest<TunnelClientSpec>,
    diags: &mut Diagnostics,
) {
    let s = &t.spec;
    if !is_pinned(&s.image) {
        diags.push(
            m.diag(
                FieldPath::parse("spec.image"),
                format!(
                    "`{}` is not pinned: the tunnel carries traffic a surprise upgrade could cut",
                    s.image
                ),
            )
            .with_hint("name a version tag (e.g. fosrl/pangolin-cli:0.3.3) or a digest"),
        );
    }
    if s.secrets.is_empty() {
        diags.push(
            m.diag(
                FieldPath::parse("spec.secrets"),
                "a TunnelClient takes its credentials from SOPS",
            )
            .with_hint(match s.tunnel_type {
                TunnelType::PangolinCli => {
                    "add `secrets: [{sopsEnv: client/.sops.env}]` holding CLIENT_ID and CLIENT_SECRET"
                }
                TunnelType::Newt => {
                    "add `secrets: [{sopsEnv: newt/.sops.env}]` holding NEWT_ID and NEWT_SECRET"
                }
            }),
        );
    }
    if let Some(e) = &s.endpoint {
        if !(e.starts_with("https://") || e.starts_with("http://")) {
            diags.push(m.diag(
                FieldPath::parse("spec.endpoint"),
                format!("`{e}` is not an http(s):// URL"),
            ));
        }
    }
    let guard = match guard_of(set, m, s) {
        Ok(g) => g,
        Err(e) => {
            diags.push(m.diag(FieldPath::parse("spec.dnsGuard"), e));
            None
        }
    };
    match s.tunnel_type {
        TunnelType::PangolinCli => {
            for (field, set_) in [
                ("networks", !s.networks.is_empty()),
                ("healthFile", s.health_file.is_some()),
            ] {
                if set_ {
                    diags.push(
                        m.diag(
                            FieldPath::parse("spec").key(field),
                            format!("`{field}` is for newt sites"),
                        )
                        .with_hint("a pangolin-cli client runs in the host's network namespace"),
                    );
                }
            }
            for (i, u) in s.upstream_dns.iter().enumerate() {
                if parse_dns_server(u).is_none() {
                    diags.push(m.diag(
                        FieldPath::parse("spec.upstreamDns").index(i),
                        format!("`{u}` is not an IP address or ip:port"),
                    ));
                }
            }
            let guard_fallbacks = guard
                .as_ref()
                .and_then(|g| set.get(&ResourceRef::new(Kind::DnsGuard, g)))
                .is_some_and(|g| matches!(&g.value, AnyManifest::DnsGuard(d) if !d.spec.fallback_nameservers.is_empty()));
            if s.upstream_dns.is_empty() && guard.is_some() && !guard_fallbacks {
                diags.push(
                    m.diag(
                        FieldPath::parse("spec.upstreamDns"),
                        "pangolin-cli needs an explicit --upstream-dns (newer clients have no default)",
                    )
                    .with_hint("set spec.upstreamDns, or fallbackNameservers on the DnsGuard"),
                );
            }
        }
        TunnelType::Newt => {
            if !s.upstream_dns.is_empty() {
                diags.push(m.diag(
                    FieldPath::parse("spec.upstreamDns"),
                    "`upstreamDns` is for pangolin-cli clients",
                ));
            }
            if let Some(api) = &s.pangolin_api {
                if !api.resources.is_empty() {
                    diags.push(
                        m.diag(
                            FieldPath::parse("spec.pangolinApi.resources"),
                            "access grants are checked for machine clients (pangolin-cli), not sites",
                        )
                        .with_hint(
                            "a Newt site hosts resources; the clients reaching them are granted access",
                        ),
                    );
                }
            }
        }
    }
    if let Some(f) = &s.health_file {
        if !f.starts_with('/') {
            diags.push(m.diag(
                FieldPath::parse("spec.healthFile"),
                format!("`{f}` is not an absolute path in the container"),
            ));
        }
    }
    for (i, h) in s.carries_management_for.iter().enumerate() {
        if !set.host_names().contains(h) {
            diags.push(m.diag(
                FieldPath::parse("spec.carriesManagementFor").index(i),
                format!("host `{h}` is not declared"),
            ));
        }
    }
    let my_host = set.host_of(&m.value).ok();
    for (i, r) in s.depends_on.iter().enumerate() {
        let at = FieldPath::parse("spec.dependsOn").index(i);
        if *r == m.value.reference() {
            diags.push(m.diag(at, format!("{r} depends on itself")));
            continue;
        }
        match set.get(r) {
            None => diags.push(m.diag(at, format!("{r} is not declared"))),
            Some(dep) if r.kind != Kind::Host && set.host_of(&dep.value).ok() != my_host => {
                diags.push(m.diag(
                    at,
                    format!("{r} is on another host; dependsOn works within one host"),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(api) = &s.pangolin_api {
        if !(api.url.starts_with("https://") || api.url.starts_with("http://")) {
            diags.push(m.diag(
                FieldPath::parse("spec.pangolinApi.url"),
                format!("`{}` is not an http(s):// URL", api.url),
            ));
        }
        if api.org.is_empty() {
            diags.push(m.diag(
                FieldPath::parse("spec.pangolinApi.org"),
                "the organisation id is empty",
            ));
        }
    }
}

/// The resources a TunnelClient waits for: its `dependsOn` and its DnsGuard.
pub fn tunnel_dependencies(
    set: &ManifestSet,
    m: &Located<AnyManifest>,
    spec: &TunnelClientSpec,
) -> Vec<ResourceRef> {
    let mut deps = spec.depends_on.clone();
    if let Ok(Some(g)) = guard_of(set, m, spec) {
        let r = ResourceRef::new(Kind::DnsGuard, g);
        if !deps.contains(&r) {
            deps.push(r);
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use crate::manifest::{load_dir, validate};

    fn check(body: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.yaml"), body).expect("write");
        let (set, mut diags) = load_dir(dir.path());
        diags.extend(validate(&set));
        diags.to_string()
    }

    const HEAD: &str = "apiVersion: aegis.dev/v1alpha1\n";

    fn guard(name: &str, host: &str, extra: &str) -> String {
        format!("{HEAD}kind: DnsGuard\nmetadata: {{name: {name}}}\nspec: {{host: {host}, probe: {{server: \"100.96.128.1:53\"}}, fallbackNameservers: [\"192.0.2.53\"]{extra}}}\n---\n")
    }
    fn client(name: &str, host: &str, extra: &str) -> String {
        format!("{HEAD}kind: TunnelClient\nmetadata: {{name: {name}}}\nspec: {{host: {host}, type: pangolin-cli, image: \"fosrl/pangolin-cli:0.3.3\", secrets: [{{sopsEnv: c.sops.env}}]{extra}}}\n---\n")
    }
    fn hosts() -> String {
        format!("{HEAD}kind: Host\nmetadata: {{name: a}}\nspec: {{endpoint: unix:///a.sock}}\n---\n{HEAD}kind: Host\nmetadata: {{name: b}}\nspec: {{endpoint: unix:///b.sock}}\n---\n")
    }

    #[test]
    fn a_pangolin_client_needs_a_dns_guard_on_its_host() {
        let text = check(&format!(
            "{}{}{}",
            hosts(),
            guard("g", "b", ""),
            client("c", "a", "")
        ));
        assert!(text.contains("spec.dnsGuard: a pangolin-cli client overrides /etc/resolv.conf, so its host `a` needs a DnsGuard"), "{text}");
        let text = check(&format!(
            "{}{}{}",
            hosts(),
            guard("g", "b", ""),
            client("c", "a", ", dnsGuard: g")
        ));
        assert!(
            text.contains("DnsGuard `g` is on host `b`, not on this client's host `a`"),
            "{text}"
        );
        let text = check(&format!(
            "{}{}{}",
            hosts(),
            guard("g", "a", ""),
            client("c", "a", "")
        ));
        assert_eq!(text, "");
        let text = check(&format!(
            "{}{}{}{}",
            hosts(),
            guard("g", "a", ""),
            guard("h", "a", ""),
            client("c", "a", "")
        ));
        assert!(
            text.contains("host `a` has several DnsGuards (g, h); name one in spec.dnsGuard"),
            "{text}"
        );
    }

    #[test]
    fn guard_values() {
        let text = check(&format!(
            "{}{HEAD}kind: DnsGuard\nmetadata: {{name: g}}\nspec: {{host: a, probe: {{server: pangolin, timeout: 1m}}, fallbackNameservers: [\"8.8.8.8:53\"], resolvConf: /run/resolv.conf, backupPath: /etc/../x, utilitySubnet: 100.96.128.0, hostEtc: etc}}\n",
            hosts()
        ));
        for want in [
            "spec.probe.server: `pangolin` is not an IP address or ip:port",
            "spec.fallbackNameservers[0]: `8.8.8.8:53` is not an IP address",
            "spec.resolvConf: `/run/resolv.conf` is not a file under /etc",
            "spec.backupPath: `/etc/../x` is not a file under /etc",
            "spec.utilitySubnet: `100.96.128.0` is not a subnet",
            "spec.hostEtc: `etc` is not an absolute path",
            "spec.probe.timeout: the probe timeout must be more than 0 and shorter than the interval",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn tunnel_values() {
        let text = check(&format!(
            "{}{}{HEAD}kind: TunnelClient\nmetadata: {{name: c}}\nspec: {{host: a, type: pangolin-cli, image: fosrl/pangolin-cli, networks: [n], healthFile: /tmp/h, upstreamDns: [dns.example], dependsOn: [Stack/nope]}}\n---\n{HEAD}kind: TunnelClient\nmetadata: {{name: n}}\nspec: {{host: a, type: newt, image: \"fosrl/newt:latest\", secrets: [{{sopsEnv: n.env}}], upstreamDns: [\"1.1.1.1\"], healthFile: tmp/h, pangolinApi: {{url: api.example, org: o, apiKey: {{sopsEnv: k.env, key: K}}, resources: [1]}}}}\n",
            hosts(),
            guard("g", "a", "")
        ));
        for want in [
            "spec.image: `fosrl/pangolin-cli` is not pinned",
            "spec.image: `fosrl/newt:latest` is not pinned",
            "spec.secrets: a TunnelClient takes its credentials from SOPS",
            "spec.networks: `networks` is for newt sites",
            "spec.healthFile: `healthFile` is for newt sites",
            "spec.upstreamDns[0]: `dns.example` is not an IP address or ip:port",
            "spec.dependsOn[0]: Stack/nope is not declared",
            "spec.upstreamDns: `upstreamDns` is for pangolin-cli clients",
            "spec.healthFile: `tmp/h` is not an absolute path",
            "spec.pangolinApi.url: `api.example` is not an http(s):// URL",
            "spec.pangolinApi.resources: access grants are checked for machine clients",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn upstream_dns_must_be_explicit_somewhere() {
        let bare_guard = format!("{HEAD}kind: DnsGuard\nmetadata: {{name: g}}\nspec: {{host: a, probe: {{server: \"100.96.128.1\"}}}}\n---\n");
        let text = check(&format!("{}{bare_guard}{}", hosts(), client("c", "a", "")));
        assert!(
            text.contains("spec.upstreamDns: pangolin-cli needs an explicit --upstream-dns"),
            "{text}"
        );
        let text = check(&format!(
            "{}{bare_guard}{}",
            hosts(),
            client("c", "a", ", upstreamDns: [\"9.9.9.9\"]")
        ));
        assert_eq!(text, "");
    }

    #[test]
    fn pinned_images() {
        for (image, pinned) in [
            ("fosrl/pangolin-cli:0.3.3", true),
            ("registry.example:5000/newt:1.9.0", true),
            ("registry.example:5000/newt", false),
            ("newt:latest", false),
            ("newt@sha256:abcd", true),
            ("newt", false),
        ] {
            assert_eq!(super::is_pinned(image), pinned, "{image}");
        }
    }
}
