//! Checks of a `Policy` manifest on its own: hosts it names exist, every rule says something,
//! addresses and capability names are well formed. Whether the revision keeps the rules is
//! [`crate::policy`]'s job, on the resolved desired state.

use std::net::IpAddr;

use super::{
    kinds::{Manifest, PolicySpec},
    load::{AnyManifest, Located, ManifestSet},
};
use crate::{diagnostic::Diagnostics, yaml::FieldPath};

pub(super) fn check(
    m: &Located<AnyManifest>,
    p: &Manifest<PolicySpec>,
    set: &ManifestSet,
    diags: &mut Diagnostics,
) {
    let spec = &p.spec;
    let hosts = set.host_names();
    for (i, h) in spec.hosts.iter().enumerate() {
        if !hosts.contains(h) {
            diags.push(
                m.diag(
                    FieldPath::parse("spec.hosts").index(i),
                    format!("host `{h}` is not declared (hosts: {})", hosts.join(", ")),
                )
                .with_hint("name a Host declared in the source, or omit spec.hosts to cover every host"),
            );
        }
    }
    for (i, rule) in spec.networks.iter().enumerate() {
        let at = FieldPath::parse("spec.networks").index(i);
        if rule.network.trim().is_empty() {
            diags.push(m.diag(at.key("network"), "the network name is empty"));
        }
        if rule.allow.is_none() && rule.deny.is_empty() {
            diags.push(
                m.diag(
                    at,
                    format!(
                        "the rule for network `{}` has neither `allow` nor `deny`",
                        rule.network
                    ),
                )
                .with_hint("list who may join (`allow`) or who never may (`deny`)"),
            );
        }
    }
    for (i, rule) in spec.services.iter().enumerate() {
        let at = FieldPath::parse("spec.services").index(i);
        if rule.selects.is_empty() {
            diags.push(
                m.diag(
                    at.key("match"),
                    "`match` is empty, so the rule applies to nothing",
                )
                .with_hint("select services, e.g. `match: [Stack/periphery]` or `match: [\"Stack/*\"]`"),
            );
        }
        let says_something = rule.networks.is_some()
            || rule.publish_on.is_some()
            || rule.require_healthcheck
            || rule.require_pinned_image;
        if !says_something {
            diags.push(
                m.diag(at.clone(), "the rule constrains nothing")
                    .with_hint("add networks, publishOn, requireHealthcheck or requirePinnedImage"),
            );
        }
        for (j, n) in rule.networks.iter().flatten().enumerate() {
            if n.trim().is_empty() {
                diags.push(m.diag(at.key("networks").index(j), "the network name is empty"));
            }
        }
        for (j, addr) in rule.publish_on.iter().flatten().enumerate() {
            if addr.parse::<IpAddr>().is_err() {
                diags.push(
                    m.diag(
                        at.key("publishOn").index(j),
                        format!("`{addr}` is not an IP address"),
                    )
                    .with_hint("e.g. 127.0.0.1, ::1, or 0.0.0.0 for every address"),
                );
            }
        }
    }
    for (i, grant) in spec.privileges.cap_add.iter().flatten().enumerate() {
        let at = FieldPath::parse("spec.privileges.capAdd").index(i);
        if grant.selects.is_empty() {
            diags.push(m.diag(
                at.key("match"),
                "`match` is empty, so the grant applies to nothing",
            ));
        }
        for (j, cap) in grant.capabilities.iter().enumerate() {
            if !is_capability(cap) {
                diags.push(
                    m.diag(
                        at.key("capabilities").index(j),
                        format!("`{cap}` is not a capability name"),
                    )
                    .with_hint("write it as compose does, e.g. NET_ADMIN (or ALL)"),
                );
            }
        }
    }
}

/// `NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`: upper-case letters, digits and `_`.
fn is_capability(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use crate::manifest::{load_dir, validate};

    fn check(policy: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("p.yaml"),
            format!("apiVersion: aegis.dev/v1alpha1\nkind: Policy\nmetadata: {{name: p}}\nspec:\n{policy}"),
        )
        .expect("write");
        let (set, mut diags) = load_dir(dir.path());
        diags.extend(validate(&set));
        diags.to_string()
    }

    #[test]
    fn a_valid_policy_has_no_errors() {
        let text = check(
            "  hosts: [local]\n  networks:\n    - network: pub\n      allow: [Stack/web]\n      deny: [Container/db]\n  services:\n    - match: [\"Stack/*\"]\n      publishOn: [127.0.0.1]\n  privileges:\n    dockerSocket: []\n    capAdd:\n      - match: [Stack/vpn]\n        capabilities: [NET_ADMIN]\n",
        );
        assert_eq!(text, "");
    }

    #[test]
    fn every_problem_names_its_line() {
        let text = check(
            "  hosts: [nope]\n  networks:\n    - network: pub\n  services:\n    - match: []\n      publishOn: [localhost]\n    - match: [Stack/x]\n  privileges:\n    capAdd:\n      - match: [Stack/vpn]\n        capabilities: [net admin]\n",
        );
        assert!(
            text.contains("p.yaml:5: spec.hosts[0]: host `nope` is not declared"),
            "{text}"
        );
        assert!(
            text.contains("p.yaml:7: spec.networks[0]: the rule for network `pub` has neither"),
            "{text}"
        );
        assert!(
            text.contains("p.yaml:9: spec.services[0].match: `match` is empty"),
            "{text}"
        );
        assert!(
            text.contains("p.yaml:10: spec.services[0].publishOn[0]: `localhost` is not an IP"),
            "{text}"
        );
        assert!(
            text.contains("p.yaml:11: spec.services[1]: the rule constrains nothing"),
            "{text}"
        );
        assert!(
            text.contains("p.yaml:15: spec.privileges.capAdd[0].capabilities[0]: `net admin`"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_selector_names_its_line() {
        let text = check("  services:\n    - match: [lldap]\n      requireHealthcheck: true\n");
        assert!(
            text.contains("p.yaml:6: spec.services[0].match[0]: `lldap` is not a selector"),
            "{text}"
        );
    }

    #[test]
    fn a_policy_cannot_be_depended_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: aegis.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n---\napiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: s}\nspec:\n  services: {}\n  dependsOn: [Policy/p]\n",
        )
        .expect("write");
        let (set, mut diags) = load_dir(dir.path());
        diags.extend(validate(&set));
        let text = diags.to_string();
        assert!(
            text.contains("a.yaml:11: spec.dependsOn[0]: Policy/p: a Policy is checked"),
            "{text}"
        );
    }
}
