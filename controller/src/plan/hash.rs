//! Spec hashes: the label that decides recreate or no-op, the way compose's config-hash does.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::desired::{ContainerSpec, NetworkSpec, VolumeSpec};

/// What is hashed for a container: its resolved spec plus the ID of the image it runs, so a
/// re-tagged image (same reference, new ID) recreates it.
#[derive(Debug, Serialize)]
pub struct HashedContainer<'a> {
    #[serde(flatten)]
    pub spec: &'a ContainerSpec,
    pub image_id: &'a str,
}

impl HashedContainer<'_> {
    /// The JSON stored in the `aegis.dev/spec` label (used by `diff` to name changed fields).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `(hash, spec json)` for a container.
pub fn container(spec: &ContainerSpec, image_id: &str) -> (String, String) {
    let json = HashedContainer { spec, image_id }.to_json();
    (sha256_hex(json.as_bytes()), json)
}

pub fn network(spec: &NetworkSpec) -> String {
    sha256_hex(serde_json::to_string(spec).unwrap_or_default().as_bytes())
}

pub fn volume(spec: &VolumeSpec) -> String {
    sha256_hex(serde_json::to_string(spec).unwrap_or_default().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "s-web-1".into(),
            image: "busybox:1.36".into(),
            ..Default::default()
        }
    }

    #[test]
    fn hash_changes_with_config_and_image_only() {
        let a = spec();
        let mut b = spec();
        assert_eq!(container(&a, "sha256:1").0, container(&b, "sha256:1").0);
        assert_ne!(container(&a, "sha256:1").0, container(&a, "sha256:2").0);
        b.env.insert("A".into(), "1".into());
        assert_ne!(container(&a, "sha256:1").0, container(&b, "sha256:1").0);
        // ordering metadata is not configuration
        let mut c = spec();
        c.depends_on.push(crate::desired::DependsOn {
            service: "db".into(),
            condition: crate::desired::DependsCondition::Healthy,
            required: true,
        });
        assert_eq!(container(&a, "sha256:1").0, container(&c, "sha256:1").0);
    }
}
