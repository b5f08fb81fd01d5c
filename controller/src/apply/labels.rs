//! The labels put on objects aegis creates.

use std::collections::BTreeMap;

use crate::{desired::ResourceRef, labels as l};

/// Ownership labels for any object.
pub fn owner(resource: &ResourceRef, host: &str, hash: &str, spec_json: &str, revision: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (l::MANAGED_BY.to_string(), l::MANAGED_BY_VALUE.to_string()),
        (l::RESOURCE.to_string(), resource.to_string()),
        (l::HOST.to_string(), host.to_string()),
        (l::SPEC_HASH.to_string(), hash.to_string()),
        (l::SPEC.to_string(), spec_json.to_string()),
        (l::REVISION.to_string(), revision.to_string()),
    ])
}

/// Ownership labels plus compose's, so `docker compose ls/ps` and Komodo see the container.
pub fn container(
    resource: &ResourceRef,
    host: &str,
    hash: &str,
    spec_json: &str,
    revision: &str,
    stack: &str,
    service: &str,
) -> BTreeMap<String, String> {
    let mut m = owner(resource, host, hash, spec_json, revision);
    m.insert(l::COMPOSE_PROJECT.into(), stack.into());
    m.insert(l::COMPOSE_SERVICE.into(), service.into());
    m.insert(l::COMPOSE_CONTAINER_NUMBER.into(), "1".into());
    m.insert(l::COMPOSE_ONEOFF.into(), "False".into());
    m
}
