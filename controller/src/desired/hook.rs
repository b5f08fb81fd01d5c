//! A Compose lifecycle hook (`post_start`, `pre_stop`): a command exec'd in the container.
//!
//! Its environment may hold interpolated values, so they never appear in `Debug` output and
//! serialize (into the spec hash and the `aegis.dev/spec` label) as a SHA-256 digest only:
//! a changed value still changes the hash, as in Compose v2, without the label holding it.

use std::{collections::BTreeMap, fmt};

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// compose-go's `ServiceHook`: `command`, `user`, `privileged`, `working_dir`, `environment`.
#[derive(Clone, PartialEq, Eq, Serialize, Default)]
pub struct Hook {
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", serialize_with = "digests")]
    pub environment: BTreeMap<String, String>,
}

impl Hook {
    /// The `KEY=value` list handed to Docker. Only the docker layer calls this.
    pub fn env_for_docker(&self) -> Vec<String> {
        self.environment.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

fn digests<S: Serializer>(env: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        env.iter()
            .map(|(k, v)| (k, format!("sha256:{}", hex::encode(Sha256::digest(v.as_bytes()))))),
    )
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("command", &self.command)
            .field("user", &self.user)
            .field("privileged", &self.privileged)
            .field("working_dir", &self.working_dir)
            .field("environment", &self.environment.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_never_print_nor_serialize() {
        let h = Hook {
            command: vec!["true".into()],
            environment: BTreeMap::from([("TOKEN".into(), "hunter2".into())]),
            ..Hook::default()
        };
        assert!(!format!("{h:?}").contains("hunter2"));
        let json = serde_json::to_string(&h).unwrap_or_default();
        assert!(json.contains("TOKEN") && json.contains("sha256:"), "{json}");
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(h.env_for_docker(), vec!["TOKEN=hunter2"]);
    }
}
