use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::desired::ResourceRef;

/// `Stack`: containers on one host, from a compose file or inline compose `services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StackManifestSpec {
    /// The Host it runs on; may be omitted when there is one host.
    #[serde(default)]
    pub host: Option<String>,
    /// A compose file, relative to this manifest's file.
    #[serde(default)]
    pub compose: Option<String>,
    /// Inline compose services (same schema as a compose file's `services:`).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub services: Option<serde_json::Value>,
    /// Inline compose top-level networks.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub networks: Option<serde_json::Value>,
    /// Inline compose top-level volumes.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub volumes: Option<serde_json::Value>,
    /// Variables for `${VAR}` interpolation in the compose file.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Resources that must be applied before this one (same host).
    #[serde(default)]
    pub depends_on: Vec<ResourceRef>,
    /// On a management path: applied last, one at a time, commit-confirmed (a rollback
    /// watchdog restores the old container unless the controller confirms in time). Being
    /// listed in a `Host.spec.managementPath` has the same effect.
    #[serde(default)]
    pub critical: bool,
    /// How long a commit-confirmed replace of a critical container waits for the confirm
    /// before the watchdog rolls it back. Default 120s (the `netplan try` default).
    #[serde(default)]
    pub confirm_timeout: Option<super::Duration>,
    /// The stack's project directory on its host: an absolute path (no `..`) where relative
    /// bind sources that the repository does not hold (`./data`) are kept as state, as
    /// Compose keeps them beside the compose file. Default `/var/lib/aegis/stacks/<stack>`.
    /// Point it at an existing directory to keep its data (e.g. Komodo's
    /// `/etc/komodo/stacks/<name>`). aegis never deletes anything under it.
    #[serde(default)]
    pub project_dir: Option<String>,
    /// SOPS-encrypted files whose variables the containers get as environment, decrypted in
    /// memory (no plaintext on disk).
    #[serde(default)]
    pub secrets: Vec<StackSecret>,
}

/// One `spec.secrets` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StackSecret {
    /// A SOPS-encrypted dotenv file, relative to this manifest (e.g. `app/.sops.env`).
    pub sops_env: String,
    /// Serve the decrypted variables to compose `env_file:` entries with this name (e.g.
    /// `.env`) instead of giving them to every service. Lets a compose file that reads
    /// `env_file: .env` (written by a decrypt hook elsewhere) work unchanged.
    #[serde(default)]
    pub env_file: Option<String>,
}
