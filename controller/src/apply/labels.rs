//! The labels put on objects aegis creates.

use std::collections::BTreeMap;

use crate::{desired::ResourceRef, labels as l};

/// Who is applying: the same for every object of a pass.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub host: String,
    pub instance: String,
    pub revision: String,
    /// The critical resources of the host: their containers get [`l::CRITICAL`].
    pub critical: std::collections::BTreeSet<ResourceRef>,
}

/// Ownership labels for any object.
pub fn owner(ctx: &Ctx, resource: &ResourceRef, hash: &str, spec_json: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (l::MANAGED_BY.to_string(), l::MANAGED_BY_VALUE.to_string()),
        (l::INSTANCE.to_string(), ctx.instance.clone()),
        (l::RESOURCE.to_string(), resource.to_string()),
        (l::HOST.to_string(), ctx.host.clone()),
        (l::SPEC_HASH.to_string(), hash.to_string()),
        (l::SPEC.to_string(), spec_json.to_string()),
        (l::REVISION.to_string(), ctx.revision.clone()),
    ])
}

/// Ownership labels plus compose's, so `docker compose ls/ps` and Komodo see the container.
pub fn container(
    ctx: &Ctx,
    resource: &ResourceRef,
    hash: &str,
    spec_json: &str,
    stack: &str,
    service: &str,
) -> BTreeMap<String, String> {
    let mut m = owner(ctx, resource, hash, spec_json);
    if ctx.critical.contains(resource) {
        m.insert(l::CRITICAL.into(), "true".into());
    }
    m.insert(l::COMPOSE_PROJECT.into(), stack.into());
    m.insert(l::COMPOSE_SERVICE.into(), service.into());
    m.insert(l::COMPOSE_CONTAINER_NUMBER.into(), "1".into());
    m.insert(l::COMPOSE_ONEOFF.into(), "False".into());
    m
}
