//! Names of resources, as they appear in manifests (`Stack/demo`) and in Docker labels.

use std::{fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    Host,
    Network,
    Stack,
    DnsGuard,
    TunnelClient,
    /// Rules checked on every revision; nothing on a host (so it has no status).
    Policy,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Host,
        Kind::Network,
        Kind::Stack,
        Kind::DnsGuard,
        Kind::TunnelClient,
        Kind::Policy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Host => "Host",
            Kind::Network => "Network",
            Kind::Stack => "Stack",
            Kind::DnsGuard => "DnsGuard",
            Kind::TunnelClient => "TunnelClient",
            Kind::Policy => "Policy",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!(
                "unknown kind `{s}` (expected one of Host, Network, Stack, DnsGuard, TunnelClient, Policy)"
            )
        })
    }
}

/// `Kind/name`, e.g. `Stack/demo`. The form used in `dependsOn` and in the
/// `aegis.dev/resource` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceRef {
    pub kind: Kind,
    pub name: String,
}

impl ResourceRef {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl FromStr for ResourceRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a reference; write it as Kind/name, e.g. Network/web"))?;
        if name.is_empty() {
            return Err(format!("`{s}` has an empty name"));
        }
        Ok(Self {
            kind: kind.parse()?,
            name: name.to_string(),
        })
    }
}

impl Serialize for ResourceRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ResourceRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(Host|Network|Stack|DnsGuard|TunnelClient)/.+$",
            "description": "A reference to another resource, written Kind/name."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let r: ResourceRef = "Network/web".parse().expect("valid");
        assert_eq!(r, ResourceRef::new(Kind::Network, "web"));
        assert_eq!(r.to_string(), "Network/web");
        assert!("Widget/x".parse::<ResourceRef>().is_err());
        assert!("web".parse::<ResourceRef>().is_err());
    }
}
