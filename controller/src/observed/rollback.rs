//! A commit-confirmed change in flight, as its rollback watchdog's labels describe it.
//!
//! Labels cannot change after a container is created, so they hold exactly what is fixed for
//! the attempt: which containers it swaps, under which names, how long the controller has to
//! confirm, and the hash of the only token that confirms it. Whatever moves (the phase, and
//! the deadline, fixed when the change is done) lives in the watchdog's own filesystem and in
//! the containers' names and states. Everyone who needs
//! the attempt reads it from here: the watchdog after its own restart, the controller after
//! its restart, and the planner (which leaves the attempt's containers alone).

use std::{collections::BTreeMap, time::Duration};

use crate::{desired::ResourceRef, labels};

/// The `aegis.dev/agent` value of rollback watchdogs.
pub const AGENT_KIND: &str = "rollback";

const RESOURCE: &str = "aegis.dev/rollback.resource";
const CONTAINER: &str = "aegis.dev/rollback.container";
const OLD_ID: &str = "aegis.dev/rollback.old-id";
const OLD_PARKED: &str = "aegis.dev/rollback.old-parked-name";
const OLD_IMAGE: &str = "aegis.dev/rollback.old-image-id";
const NEW_ID: &str = "aegis.dev/rollback.new-id";
const NEW_NAME: &str = "aegis.dev/rollback.new-name";
const NEW_HASH: &str = "aegis.dev/rollback.new-spec-hash";
const TIMEOUT: &str = "aegis.dev/rollback.timeout-seconds";
const TOKEN: &str = "aegis.dev/rollback.token-sha256";

/// One attempt: replace (or remove) one container, commit-confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackAttempt {
    /// Unique per attempt (hex); the confirm token is derived from it.
    pub id: String,
    /// The critical resource being changed, e.g. `Stack/newt`.
    pub resource: ResourceRef,
    /// The Host the watchdog runs on.
    pub host: String,
    /// The aegis instance that started the attempt.
    pub instance: String,
    /// The container's name, which the new container takes and the old one gets back on a
    /// rollback.
    pub container: String,
    /// The container being replaced.
    pub old_id: String,
    /// The name the old container is parked under while the new one runs. A **restart**
    /// attempt parks it under its own name: [`RollbackAttempt::is_restart`].
    pub old_parked: String,
    /// The image the old container runs, by ID: what a rollback restores. A container keeps
    /// its image from being removed, so the ID stays valid while the old container exists.
    pub old_image_id: String,
    /// The replacement; `None` when the attempt removes the container (a critical resource
    /// that left the source).
    pub new: Option<NewContainer>,
    /// How long after the change (the swap) the confirm may arrive.
    pub timeout: Duration,
    /// Hex SHA-256 of the confirm token: the watchdog accepts only the token with this hash.
    pub token_sha256: String,
}

/// The replacement container of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContainer {
    pub id: String,
    /// The name it is created under, until the swap renames it.
    pub temp_name: String,
    /// Its `aegis.dev/spec-hash`: what a rollback reports as failed.
    pub spec_hash: String,
}

impl RollbackAttempt {
    /// The watchdog container's name on its host.
    pub fn watchdog_name(&self) -> String {
        format!("aegis-rollback-{}", self.id)
    }

    /// Every label of the watchdog container: ownership plus the attempt.
    pub fn to_labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::HOST.to_string(), self.host.clone()),
            (labels::INSTANCE.to_string(), self.instance.clone()),
            (labels::AGENT.to_string(), AGENT_KIND.to_string()),
            (labels::ROLLBACK_ATTEMPT.to_string(), self.id.clone()),
            (RESOURCE.to_string(), self.resource.to_string()),
            (CONTAINER.to_string(), self.container.clone()),
            (OLD_ID.to_string(), self.old_id.clone()),
            (OLD_PARKED.to_string(), self.old_parked.clone()),
            (OLD_IMAGE.to_string(), self.old_image_id.clone()),
            (TIMEOUT.to_string(), self.timeout.as_secs().to_string()),
            (TOKEN.to_string(), self.token_sha256.clone()),
        ]);
        if let Some(n) = &self.new {
            l.insert(NEW_ID.to_string(), n.id.clone());
            l.insert(NEW_NAME.to_string(), n.temp_name.clone());
            l.insert(NEW_HASH.to_string(), n.spec_hash.clone());
        }
        l
    }

    /// Reads an attempt back from a watchdog's labels. `Err` names the missing or bad label:
    /// a watchdog whose labels don't parse must not guess.
    pub fn from_labels(l: &BTreeMap<String, String>) -> Result<Self, String> {
        let get = |k: &str| -> Result<String, String> {
            l.get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| format!("label `{k}` is missing"))
        };
        let resource = get(RESOURCE)?
            .parse()
            .map_err(|e| format!("label `{RESOURCE}`: {e}"))?;
        let timeout = get(TIMEOUT)?
            .parse::<u64>()
            .map_err(|_| format!("label `{TIMEOUT}` is not a number of seconds"))?;
        let new = match l.get(NEW_ID).filter(|v| !v.is_empty()) {
            None => None,
            Some(id) => Some(NewContainer {
                id: id.clone(),
                temp_name: get(NEW_NAME)?,
                spec_hash: get(NEW_HASH)?,
            }),
        };
        Ok(Self {
            id: get(labels::ROLLBACK_ATTEMPT)?,
            resource,
            host: get(labels::HOST)?,
            instance: get(labels::INSTANCE)?,
            container: get(CONTAINER)?,
            old_id: get(OLD_ID)?,
            old_parked: get(OLD_PARKED)?,
            old_image_id: l.get(OLD_IMAGE).cloned().unwrap_or_default(),
            new,
            timeout: Duration::from_secs(timeout),
            token_sha256: get(TOKEN)?,
        })
    }

    /// Whether the attempt restarts `old` in place (`aegisctl restart` of a critical
    /// resource): no replacement, and the "parked" name is the container's own. The change is
    /// a stop and a start of the same container; a confirm removes nothing; a rollback can
    /// only start it again if it is not running (a restart cannot be undone).
    pub fn is_restart(&self) -> bool {
        self.new.is_none() && self.old_parked == self.container
    }

    /// Whether a container (by ID) is one of the two this attempt swaps.
    pub fn guards(&self, container_id: &str) -> bool {
        self.old_id == container_id || self.new.as_ref().is_some_and(|n| n.id == container_id)
    }
}

/// The name a replacement is created under until the swap: `<name>_aegis_next_<attempt>`.
pub fn temp_name(name: &str, attempt: &str) -> String {
    format!("{name}{NEXT}{attempt}")
}

/// The name the old container is parked under: `<name>_aegis_old_<attempt>`.
pub fn parked_name(name: &str, attempt: &str) -> String {
    format!("{name}{OLD}{attempt}")
}

const NEXT: &str = "_aegis_next_";
const OLD: &str = "_aegis_old_";

/// What a container name says about an attempt it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptName<'a> {
    /// A replacement not swapped in yet: the container's real name and the attempt.
    Next { name: &'a str, attempt: &'a str },
    /// A parked old container.
    Old { name: &'a str, attempt: &'a str },
}

/// Recognises the names [`temp_name`] and [`parked_name`] make. The attempt part is hex, so a
/// service that happens to contain `_aegis_old_` in its name is not mistaken for one.
pub fn attempt_name(container: &str) -> Option<AttemptName<'_>> {
    let split = |marker: &str| {
        container
            .rsplit_once(marker)
            .filter(|(n, a)| !n.is_empty() && !a.is_empty() && a.chars().all(|c| c.is_ascii_hexdigit()))
    };
    if let Some((name, attempt)) = split(NEXT) {
        return Some(AttemptName::Next { name, attempt });
    }
    split(OLD).map(|(name, attempt)| AttemptName::Old { name, attempt })
}

/// Whether a container is a rollback watchdog (by its labels).
pub fn is_watchdog(labels_of: &BTreeMap<String, String>) -> bool {
    labels_of.contains_key(labels::ROLLBACK_ATTEMPT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Kind;

    fn sample() -> RollbackAttempt {
        RollbackAttempt {
            id: "0123abcd".into(),
            resource: ResourceRef::new(Kind::Stack, "fwd"),
            host: "b".into(),
            instance: "default".into(),
            container: "fwd-socat-1".into(),
            old_id: "old".into(),
            old_parked: "fwd-socat-1_aegis_old".into(),
            old_image_id: "sha256:aa".into(),
            new: Some(NewContainer {
                id: "new".into(),
                temp_name: "fwd-socat-1_aegis_next".into(),
                spec_hash: "h2".into(),
            }),
            timeout: Duration::from_secs(120),
            token_sha256: "ff".into(),
        }
    }

    #[test]
    fn labels_round_trip() {
        let a = sample();
        let l = a.to_labels();
        assert!(is_watchdog(&l));
        assert_eq!(RollbackAttempt::from_labels(&l), Ok(a.clone()));
        assert!(!a.is_restart());
        let removal = RollbackAttempt {
            new: None,
            ..a.clone()
        };
        assert!(!removal.is_restart());
        assert_eq!(RollbackAttempt::from_labels(&removal.to_labels()), Ok(removal));
        let restart = RollbackAttempt {
            new: None,
            old_parked: a.container.clone(),
            ..a
        };
        let back = RollbackAttempt::from_labels(&restart.to_labels());
        assert!(back.as_ref().is_ok_and(RollbackAttempt::is_restart), "{back:?}");
    }

    #[test]
    fn attempt_names() {
        assert_eq!(temp_name("web-1", "ab12"), "web-1_aegis_next_ab12");
        assert_eq!(
            attempt_name("web-1_aegis_old_ab12"),
            Some(AttemptName::Old {
                name: "web-1",
                attempt: "ab12"
            })
        );
        assert_eq!(
            attempt_name(&temp_name("x_aegis_old_y", "ff")),
            Some(AttemptName::Next {
                name: "x_aegis_old_y",
                attempt: "ff"
            })
        );
        assert_eq!(attempt_name("my_aegis_old_notes"), None);
        assert_eq!(attempt_name("web-1"), None);
    }

    #[test]
    fn a_missing_label_is_named() {
        let mut l = sample().to_labels();
        l.remove(TOKEN);
        assert_eq!(
            RollbackAttempt::from_labels(&l),
            Err("label `aegis.dev/rollback.token-sha256` is missing".into())
        );
    }
}
