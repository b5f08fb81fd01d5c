//! The source directory → accepted revisions.
//!
//! Polls the directory's content digest; a new digest is loaded and validated whole. A valid
//! revision replaces the snapshot and requeues every key (level-triggered: unchanged resources
//! cost a no-op pass), plus the keys of objects this instance still owns but no longer
//! declares, so they get pruned. An invalid revision is rejected whole and the last good one
//! keeps running.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{events::Watcher, hosts::Pool, snapshot::Shared, Snapshot};
use crate::{
    desired::ResourceRef,
    docker, labels, resolve,
    runtime::{Handle, Reason},
    status::{StatusKey, StatusStore},
};

pub struct Poller {
    pub root: PathBuf,
    pub interval: Duration,
    pub snapshot: Shared,
    pub store: StatusStore,
    pub handle: Handle<StatusKey>,
    pub pool: Pool,
    pub instance: String,
    pub stop: CancellationToken,
}

impl Poller {
    pub async fn run(self) {
        let mut last_digest = String::new();
        let mut watched: BTreeSet<String> = BTreeSet::new();
        let mut rejected_digest = String::new();
        loop {
            let root = self.root.clone();
            let digest = tokio::task::spawn_blocking(move || resolve::dir_revision(&root))
                .await
                .unwrap_or_default();
            if !digest.is_empty() && digest != last_digest && digest != rejected_digest {
                let root = self.root.clone();
                match tokio::task::spawn_blocking(move || resolve::load_source(&root)).await {
                    Ok(Ok(resolved)) => {
                        for w in &resolved.warnings {
                            tracing::warn!("{w}");
                        }
                        let snap = Snapshot::new(resolved);
                        tracing::info!(
                            revision = snap.revision(),
                            resources = snap.keys.len(),
                            "accepted revision"
                        );
                        let hosts: Vec<String> = snap
                            .resolved
                            .state
                            .hosts
                            .iter()
                            .map(|h| h.host.name.clone())
                            .collect();
                        let keys: Vec<StatusKey> = snap.keys.iter().cloned().collect();
                        self.snapshot.set(snap);
                        self.store
                            .retain(|k| keys.contains(k) || k.kind != crate::desired::Kind::Host);
                        for k in &keys {
                            self.handle.enqueue(k.clone(), Reason::Source);
                        }
                        self.enqueue_orphans(&keys).await;
                        for h in hosts {
                            if watched.insert(h.clone()) {
                                tokio::spawn(
                                    Watcher {
                                        host: h,
                                        instance: self.instance.clone(),
                                        snapshot: self.snapshot.clone(),
                                        handle: self.handle.clone(),
                                        pool: self.pool.clone(),
                                        stop: self.stop.clone(),
                                    }
                                    .run(),
                                );
                            }
                        }
                        last_digest = digest;
                        rejected_digest.clear();
                    }
                    Ok(Err(diags)) => {
                        tracing::error!(
                            "revision {digest:.12} rejected; the last good revision keeps running:\n{diags}"
                        );
                        rejected_digest = digest;
                    }
                    Err(e) => tracing::error!("loading the source failed: {e}"),
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Keys of resources whose objects this instance still owns on a host but that the
    /// revision no longer declares: their reconcile prunes them.
    async fn enqueue_orphans(&self, keys: &[StatusKey]) {
        let Some(snap) = self.snapshot.get() else { return };
        for h in &snap.resolved.state.hosts {
            let Ok(host) = self.pool.get(&h.host).await else {
                continue;
            };
            let Ok(observed) = docker::observe(&host).await else {
                continue;
            };
            let owners: BTreeSet<String> = observed
                .containers
                .iter()
                .map(|c| &c.labels)
                .chain(observed.networks.iter().map(|n| &n.labels))
                .filter(|l| labels::owned_by(l, &h.host.name, &self.instance))
                .filter_map(|l| l.get(labels::RESOURCE).cloned())
                .collect();
            for owner in owners {
                let Ok(r) = owner.parse::<ResourceRef>() else {
                    continue;
                };
                let key = StatusKey::new(r.kind, &h.host.name, r.name);
                if !keys.contains(&key) {
                    self.handle.enqueue(key, Reason::Source);
                }
            }
        }
    }
}
