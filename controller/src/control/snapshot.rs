//! The accepted desired state, shared between the source poller, the reconciler and the API.

use std::{
    collections::BTreeSet,
    sync::{Arc, RwLock},
};

use crate::{
    desired::{DesiredHost, Kind, ResourceRef},
    manifest::AnyManifest,
    resolve::Resolved,
    status::StatusKey,
};

/// One accepted revision and the keys of its resources.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub resolved: Resolved,
    pub keys: BTreeSet<StatusKey>,
}

impl Snapshot {
    pub fn new(resolved: Resolved) -> Self {
        let set = &resolved.manifests;
        // Every host has a key, including the implicit `local` of a source without Host manifests.
        let host_keys = resolved
            .state
            .hosts
            .iter()
            .map(|h| StatusKey::new(Kind::Host, &h.host.name, &h.host.name));
        let keys = set
            .items
            .iter()
            .filter_map(|m| {
                let host = match m.value.kind() {
                    Kind::Host => m.value.name().to_string(),
                    _ => set.host_of(&m.value).ok()?,
                };
                Some(StatusKey::new(m.value.kind(), host, m.value.name()))
            })
            .chain(host_keys)
            .collect();
        Self { resolved, keys }
    }

    pub fn revision(&self) -> &str {
        &self.resolved.state.revision
    }

    pub fn host(&self, name: &str) -> Option<&DesiredHost> {
        self.resolved.state.hosts.iter().find(|h| h.host.name == name)
    }

    /// The key of `kind`/`name` (names are unique per kind).
    pub fn find(&self, kind: Kind, name: &str) -> Option<&StatusKey> {
        self.keys.iter().find(|k| k.kind == kind && k.name == name)
    }

    pub fn manifest(&self, key: &StatusKey) -> Option<&AnyManifest> {
        self.resolved
            .manifests
            .get(&ResourceRef::new(key.kind, &key.name))
            .map(|m| &m.value)
    }

    /// Keys of every resource on `host`.
    pub fn keys_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a StatusKey> {
        self.keys.iter().filter(move |k| k.host == host)
    }
}

/// The current snapshot, swapped whole when a new revision is accepted. `None` until the
/// first valid revision.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<RwLock<Option<Arc<Snapshot>>>>);

impl Shared {
    pub fn get(&self) -> Option<Arc<Snapshot>> {
        self.0
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn set(&self, s: Snapshot) {
        let s = Some(Arc::new(s));
        match self.0.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }
}
