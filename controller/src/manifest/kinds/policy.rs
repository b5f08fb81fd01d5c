use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `Policy`: rules every revision must keep before anything touches a host (network
/// segmentation, published ports, privileges, healthchecks, pinned images).
///
/// A kind of its own rather than a field on each Stack: one rule covers many stacks (a
/// network's allow list names every member at once), a stack cannot grant itself a privilege
/// by editing its own manifest, and the rules can live in one file with its own reviewers.
/// A revision that breaks any rule of any Policy is rejected whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySpec {
    /// Hosts whose containers the policy covers. Omitted or empty: every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Who may join a network, and who never may.
    #[serde(default)]
    pub networks: Vec<NetworkRule>,
    /// What the selected services may do: their networks, published ports, healthchecks and
    /// image tags.
    #[serde(default)]
    pub services: Vec<ServiceRule>,
    /// Which services may use each dangerous privilege. A privilege that is listed here is
    /// governed: only the selected services may use it, and no warning is printed for them.
    #[serde(default)]
    pub privileges: Privileges,
}

/// Membership of one Docker network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkRule {
    /// The Docker network's name (`traefik-public`; a stack's own network is `<stack>_<name>`).
    pub network: String,
    /// Only these may be on the network. Omitted: anyone not denied. `[]`: nobody.
    #[serde(default)]
    pub allow: Option<Vec<Selector>>,
    /// These may never be on the network, even when `allow` selects them.
    #[serde(default)]
    pub deny: Vec<Selector>,
}

/// Constraints on the services a selector picks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceRule {
    /// Shown in errors; the rule's position is used when omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// The services the rule applies to.
    #[serde(rename = "match")]
    pub selects: Vec<Selector>,
    /// Services to leave out of `match`.
    #[serde(default)]
    pub exclude: Vec<Selector>,
    /// The only networks (Docker names) the services may be on. `[]`: none. Host networking
    /// and sharing another container's namespace count as being on that namespace's networks.
    #[serde(default)]
    pub networks: Option<Vec<String>>,
    /// The host addresses the services may publish ports on. `[]`: no published ports at
    /// all. `0.0.0.0` or `::` allows every address (a port written without an address).
    /// Host networking is governed by `networks` and by `privileges.hostNetwork`, not here.
    #[serde(default)]
    pub publish_on: Option<Vec<String>>,
    /// Every service has a healthcheck in its compose definition (one baked into the image
    /// can't be seen before the image is on the host, so it doesn't count).
    #[serde(default)]
    pub require_healthcheck: bool,
    /// Every image has a tag other than `latest`, or a digest.
    #[serde(default)]
    pub require_pinned_image: bool,
}

/// Allow lists of privileges. Omitted: not governed by this policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Privileges {
    /// Who may bind-mount the Docker socket (or a directory that holds it, such as `/run`).
    #[serde(default)]
    pub docker_socket: Option<Vec<Selector>>,
    /// Who may run `privileged: true`.
    #[serde(default)]
    pub privileged: Option<Vec<Selector>>,
    /// Who may use `network_mode: host`.
    #[serde(default)]
    pub host_network: Option<Vec<Selector>>,
    /// Who may add which capabilities (`cap_add`).
    #[serde(default)]
    pub cap_add: Option<Vec<CapabilityGrant>>,
}

/// `cap_add` capabilities granted to some services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CapabilityGrant {
    #[serde(rename = "match")]
    pub selects: Vec<Selector>,
    /// Capability names as compose writes them (`NET_ADMIN`; the `CAP_` prefix is optional).
    pub capabilities: Vec<String>,
}

/// Which containers a rule is about, written `Stack/NAME` (every service of a stack),
/// `Stack/NAME/SERVICE` (one service) or `Container/NAME` (by Docker container name, as in a
/// deployment's network table). `*` in a name matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Stack { stack: String, service: Option<String> },
    Container(String),
}

impl Selector {
    /// Whether the selector picks the container `container` of service `service` in `stack`.
    pub fn matches(&self, stack: &str, service: &str, container: &str) -> bool {
        match self {
            Selector::Stack {
                stack: s,
                service: None,
            } => glob(s, stack),
            Selector::Stack {
                stack: s,
                service: Some(v),
            } => glob(s, stack) && glob(v, service),
            Selector::Container(c) => glob(c, container),
        }
    }
}

/// `*`-only glob matching, the whole string.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Stack { stack, service: None } => write!(f, "Stack/{stack}"),
            Selector::Stack {
                stack,
                service: Some(s),
            } => write!(f, "Stack/{stack}/{s}"),
            Selector::Container(c) => write!(f, "Container/{c}"),
        }
    }
}

impl std::str::FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{s}` is not a selector; write Stack/NAME, Stack/NAME/SERVICE or Container/NAME (`*` matches any run of characters)"
            )
        };
        let (kind, rest) = s.split_once('/').ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match (kind, parts.as_slice()) {
            ("Stack", [stack]) => Ok(Selector::Stack {
                stack: (*stack).to_string(),
                service: None,
            }),
            ("Stack", [stack, service]) => Ok(Selector::Stack {
                stack: (*stack).to_string(),
                service: Some((*service).to_string()),
            }),
            ("Container", [name]) => Ok(Selector::Container((*name).to_string())),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Selector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Selector {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Selector".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(Stack/[^/]+(/[^/]+)?|Container/[^/]+)$",
            "description": "Stack/NAME, Stack/NAME/SERVICE or Container/NAME; `*` matches any run of characters."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_print_and_match() {
        let s: Selector = "Stack/identity/lldap".parse().expect("valid");
        assert_eq!(s.to_string(), "Stack/identity/lldap");
        assert!(s.matches("identity", "lldap", "whatever"));
        assert!(!s.matches("identity", "pocketid", "lldap"));
        let c: Selector = "Container/aegis-*".parse().expect("valid");
        assert!(c.matches("gateway", "traefik", "aegis-traefik"));
        assert!(!c.matches("aegis-x", "traefik", "traefik"));
        let all: Selector = "Stack/*".parse().expect("valid");
        assert!(all.matches("anything", "svc", "c"));
        for bad in ["lldap", "Stack/", "Stack/a/b/c", "Network/x", "Container/a/b"] {
            assert!(bad.parse::<Selector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abc") && glob("a*c", "ac") && !glob("a*c", "ab"));
        assert!(glob("*-db", "app-db") && !glob("*-db", "db"));
        assert!(glob("a*b*c", "a-b-c") && !glob("a*b*c", "a-c"));
        assert!(glob("x", "x") && !glob("x", "xy"));
        assert!(!glob("ab*ba", "aba"));
    }
}
