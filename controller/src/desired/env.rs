//! Environment values: plain text, or a secret from a SOPS file.

use serde::{Serialize, Serializer};

use crate::secrets::Secret;

/// One environment variable's value. A secret serializes as a keyed digest, never its value,
/// so the spec hash (and the `aegis.dev/spec` label) changes when the secret changes without
/// holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret { value: Secret, digest: String },
}

impl EnvValue {
    /// The value to hand to Docker. Only the docker layer calls this.
    pub fn expose(&self) -> String {
        match self {
            EnvValue::Plain(s) => s.clone(),
            EnvValue::Secret { value, .. } => value.expose_str().map(str::to_owned).unwrap_or_default(),
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, EnvValue::Secret { .. })
    }

    /// The plain value, or `None` for a secret.
    pub fn as_plain(&self) -> Option<&str> {
        match self {
            EnvValue::Plain(s) => Some(s),
            EnvValue::Secret { .. } => None,
        }
    }
}

/// Prefix of a serialized secret: `secret:<hex HMAC-SHA256>`.
pub const SECRET_PREFIX: &str = "secret:";

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EnvValue::Plain(v) => s.serialize_str(v),
            EnvValue::Secret { digest, .. } => s.collect_str(&format_args!("{SECRET_PREFIX}{digest}")),
        }
    }
}

impl From<&str> for EnvValue {
    fn from(s: &str) -> Self {
        EnvValue::Plain(s.to_string())
    }
}

impl From<String> for EnvValue {
    fn from(s: String) -> Self {
        EnvValue::Plain(s)
    }
}

impl PartialEq<&str> for EnvValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_plain() == Some(*other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_serializes_as_its_digest_and_never_prints() {
        let v = EnvValue::Secret {
            value: Secret::new("hunter2"),
            digest: "abcd".into(),
        };
        assert_eq!(serde_json::to_string(&v).unwrap_or_default(), "\"secret:abcd\"");
        assert!(!format!("{v:?}").contains("hunter2"));
        assert_eq!(v.expose(), "hunter2");
    }
}

/// A compose `secrets:` entry: a file the container sees at `target` (default
/// `/run/secrets/<name>`), holding a SOPS file's plaintext. It is written into the created
/// container before it starts (its own writable layer, which goes away with the container),
/// never onto the controller's disk. Serializes without the value: only its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretFile {
    pub target: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(skip)]
    pub value: Secret,
    pub digest: String,
}
