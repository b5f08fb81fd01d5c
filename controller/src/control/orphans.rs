//! Keys of objects this instance still owns on a host but no longer declares: their reconcile
//! prunes them. Read from the host's view, so finding them costs no Docker call and never
//! waits on a host (a blackholed host must not stall the source poller).

use std::collections::BTreeSet;

use crate::{desired::ResourceRef, labels, observed::ObservedHost, status::StatusKey};

/// The keys owning something in `observed` on `host` (instance `instance`) that `declared`
/// does not hold.
pub fn orphan_keys(
    observed: &ObservedHost,
    host: &str,
    instance: &str,
    declared: &BTreeSet<StatusKey>,
) -> Vec<StatusKey> {
    let owners: BTreeSet<&String> = observed
        .containers
        .iter()
        .map(|c| &c.labels)
        .chain(observed.networks.iter().map(|n| &n.labels))
        .filter(|l| labels::owned_by(l, host, instance))
        .filter_map(|l| l.get(labels::RESOURCE))
        .collect();
    owners
        .into_iter()
        .filter_map(|o| o.parse::<ResourceRef>().ok())
        .map(|r| StatusKey::new(r.kind, host, r.name))
        .filter(|k| !declared.contains(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        desired::Kind,
        observed::{ContainerState, ObservedContainer, ObservedNetwork},
    };

    fn owned(resource: &str, host: &str, instance: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::HOST.to_string(), host.to_string()),
            (labels::INSTANCE.to_string(), instance.to_string()),
            (labels::RESOURCE.to_string(), resource.to_string()),
        ])
    }

    #[test]
    fn undeclared_owners_of_this_instance_and_host_only() {
        let c = |resource: &str, host: &str, instance: &str| ObservedContainer {
            id: resource.into(),
            name: resource.into(),
            labels: owned(resource, host, instance),
            state: ContainerState::Running,
            health: None,
            exit_code: None,
            image_id: String::new(),
            networks: Vec::new(),
        };
        let observed = ObservedHost {
            containers: vec![
                c("Stack/kept", "h", "i"),
                c("Stack/gone", "h", "i"),
                c("Stack/other-instance", "h", "j"),
                c("Stack/other-host", "g", "i"),
            ],
            networks: vec![ObservedNetwork {
                id: "n".into(),
                name: "n".into(),
                labels: owned("Network/old", "h", "i"),
            }],
            ..Default::default()
        };
        let declared = BTreeSet::from([StatusKey::new(Kind::Stack, "h", "kept")]);
        assert_eq!(
            orphan_keys(&observed, "h", "i", &declared),
            vec![
                StatusKey::new(Kind::Network, "h", "old"),
                StatusKey::new(Kind::Stack, "h", "gone"),
            ]
        );
    }
}
