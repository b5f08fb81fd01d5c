//! The accepted desired state, shared between the source poller, the reconciler and the API.

use std::{
    collections::BTreeSet,
    sync::{Arc, RwLock},
};

use crate::{
    desired::{ContainerSpec, DesiredHost, Kind, ResourceRef, StackSpec},
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

    /// The keys of this snapshot whose desired state differs from `old`'s, or that `old` does
    /// not have (all of them without `old`). A key whose Host changed counts as changed: its
    /// failures were about reaching the old endpoint. Their error backoff is reset when this
    /// snapshot is accepted, so a fix commit runs at once.
    pub fn changed_since(&self, old: Option<&Snapshot>) -> BTreeSet<StatusKey> {
        self.keys
            .iter()
            .filter(|k| old.is_none_or(|old| !self.same_desired(old, k)))
            .cloned()
            .collect()
    }

    /// Whether `key` wants the same in `old` and in `self`: the same manifest, the same Host
    /// manifest, and for a Stack, DnsGuard, TunnelClient or Network the same resolved spec
    /// (compose file, `.env`, secrets and delivered files included, which the manifest alone
    /// does not show).
    fn same_desired<'a>(&'a self, old: &'a Snapshot, key: &StatusKey) -> bool {
        let host = StatusKey::new(Kind::Host, &key.host, &key.host);
        if !old.keys.contains(key) || self.manifest(key) != old.manifest(key) {
            return false;
        }
        if self.manifest(&host) != old.manifest(&host) {
            return false;
        }
        let (Some(new_host), Some(old_host)) = (self.host(&key.host), old.host(&key.host)) else {
            return false;
        };
        match key.kind {
            // A DnsGuard or TunnelClient by its expanded containers too: a TunnelClient's SOPS
            // file can change under an unchanged manifest.
            Kind::Stack | Kind::DnsGuard | Kind::TunnelClient => {
                let find =
                    |h: &'a DesiredHost| h.stacks.iter().find(|s| s.kind == key.kind && s.name == key.name);
                same_stack(find(new_host), find(old_host))
            }
            Kind::Network => {
                let find = |h: &'a DesiredHost| h.networks.iter().find(|n| n.name == key.name);
                find(new_host) == find(old_host)
            }
            // The manifests say it all (a Host's TLS paths point into each checkout).
            Kind::Host | Kind::Policy => true,
        }
    }
}

/// Two stacks want the same containers, networks and volumes. Containers compare by what their
/// spec hash covers (their serialized form: a delivered file by its content, not by the
/// checkout it sits in, which differs for every git commit) plus the ordering data the hash
/// leaves out.
fn same_stack(a: Option<&StackSpec>, b: Option<&StackSpec>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return a.is_none() && b.is_none();
    };
    let same_container = |x: &ContainerSpec, y: &ContainerSpec| {
        serde_json::to_value(x).ok() == serde_json::to_value(y).ok()
            && x.depends_on == y.depends_on
            && x.restart_with == y.restart_with
            && x.pull_policy == y.pull_policy
    };
    a.depends_on == b.depends_on
        && a.critical == b.critical
        && a.networks == b.networks
        && a.volumes == b.volumes
        && a.containers.len() == b.containers.len()
        && a.containers
            .iter()
            .zip(&b.containers)
            .all(|(x, y)| same_container(x, y))
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "apiVersion: aegis.dev/v1alpha1";

    /// A source in its own directory (like one git checkout per commit): a Host `h`, a Network
    /// `net`, Stacks `a` (inline, environment `A=<a>`) and `b` (compose file with a delivered
    /// file whose content is `<file>`).
    fn snapshot(endpoint: &str, a: &str, file: &str, extra: &str) -> (tempfile::TempDir, Snapshot) {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifests = format!(
            "{HEAD}\nkind: Host\nmetadata: {{name: h}}\nspec:\n  endpoint: {endpoint}\n---\n\
             {HEAD}\nkind: Network\nmetadata: {{name: net}}\nspec: {{host: h}}\n---\n\
             {HEAD}\nkind: Stack\nmetadata: {{name: a}}\nspec:\n  host: h\n  services:\n    web:\n      image: busybox:1.36\n      environment: {{A: \"{a}\"}}\n---\n\
             {HEAD}\nkind: Stack\nmetadata: {{name: b}}\nspec:\n  host: h\n  compose: b/compose.yaml\n{extra}"
        );
        std::fs::write(dir.path().join("aegis.yaml"), manifests).expect("write");
        std::fs::create_dir(dir.path().join("b")).expect("mkdir");
        std::fs::write(
            dir.path().join("b/compose.yaml"),
            "services:\n  web:\n    image: busybox:1.36\n    volumes: [\"./site.txt:/site.txt:ro\"]\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("b/site.txt"), file).expect("write");
        let resolved = crate::resolve::load_source(dir.path()).expect("a valid source");
        (dir, Snapshot::new(resolved))
    }

    fn names(keys: &BTreeSet<StatusKey>) -> Vec<String> {
        keys.iter().map(|k| format!("{}/{}", k.kind, k.name)).collect()
    }

    const SOCK: &str = "unix:///var/run/docker.sock";

    #[test]
    fn every_key_is_changed_without_a_previous_snapshot() {
        let (_d, s) = snapshot(SOCK, "1", "v1", "");
        assert_eq!(s.changed_since(None), s.keys);
    }

    #[test]
    fn the_same_content_in_another_checkout_changes_nothing() {
        let (_d1, old) = snapshot(SOCK, "1", "v1", "");
        let (_d2, new) = snapshot(SOCK, "1", "v1", "");
        assert!(new.changed_since(Some(&old)).is_empty());
    }

    #[test]
    fn only_the_edited_resources_change() {
        let (_d1, old) = snapshot(SOCK, "1", "v1", "");
        let (_d2, env) = snapshot(SOCK, "2", "v1", "");
        assert_eq!(names(&env.changed_since(Some(&old))), ["Stack/a"]);
        // A delivered file's content is part of the stack, though its manifest is unchanged.
        let (_d3, file) = snapshot(SOCK, "1", "v2", "");
        assert_eq!(names(&file.changed_since(Some(&old))), ["Stack/b"]);
        // A new resource is a change; the others are not.
        let (_d4, more) = snapshot(
            SOCK,
            "1",
            "v1",
            &format!("---\n{HEAD}\nkind: Network\nmetadata: {{name: more}}\nspec: {{host: h}}\n"),
        );
        assert_eq!(names(&more.changed_since(Some(&old))), ["Network/more"]);
    }

    #[test]
    fn a_changed_host_changes_every_resource_on_it() {
        let (_d1, old) = snapshot(SOCK, "1", "v1", "");
        let (_d2, new) = snapshot("unix:///run/other.sock", "1", "v1", "");
        assert_eq!(new.changed_since(Some(&old)), new.keys);
    }
}
