//! The [`Source`] → accepted revisions.
//!
//! Fetches the source on an interval, or at once when woken (the webhook). A revision id not
//! judged before is loaded and validated whole. A valid revision replaces the snapshot and
//! requeues every key (level-triggered: unchanged resources cost a no-op pass), plus the keys
//! of objects this instance still owns but no longer declares, so they get pruned. An
//! invalid revision is rejected whole: the last good one keeps running, and every resource's
//! status says so (`Stalled=True`, `RevisionRejected`) until a good revision is accepted.
//! A failed fetch (the remote is down) changes nothing.
//!
//! Each host of the accepted revision has one event watcher ([`Watcher`]); a host that leaves
//! the source has its watcher stopped and its view dropped, and one that comes back (or whose
//! watcher ended) gets a new one. Orphans are read from the hosts' views: the poller never
//! waits on a host.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{events::Watcher, hosts::Pool, orphans, snapshot::Shared, view::Views, Snapshot};
use crate::{
    diagnostic::{Diagnostic, Diagnostics},
    resolve,
    runtime::{Handle, Reason},
    source::{Revision, Source},
    status::{rejection_line, ListFilter, StatusKey, StatusStore, Timestamp},
};

pub struct Poller {
    pub source: Arc<dyn Source>,
    pub interval: Duration,
    /// Woken by the webhook: fetch now instead of at the next tick.
    pub wake: Arc<Notify>,
    pub snapshot: Shared,
    pub store: StatusStore,
    pub handle: Handle<StatusKey>,
    pub pool: Pool,
    pub views: Views,
    /// The watchers' relist interval (the runtime's resync).
    pub resync: Duration,
    pub instance: String,
    pub stop: CancellationToken,
}

/// A host's running event watcher.
struct Watching {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// What the poller remembers between fetches.
#[derive(Default)]
struct Judged {
    accepted: String,
    rejected: String,
    watched: BTreeMap<String, Watching>,
    fetch_error: String,
}

impl Poller {
    pub async fn run(self) {
        tracing::info!(source = %self.source.describe(), interval = ?self.interval, "watching the source");
        let mut judged = Judged::default();
        let url = self.source.describe();
        loop {
            let src = self.source.clone();
            match tokio::task::spawn_blocking(move || src.fetch()).await {
                Ok(Ok(rev)) => {
                    judged.fetch_error.clear();
                    self.store.update_source(&url, |s| s.fetched(Timestamp::now()));
                    if rev.id != judged.accepted && rev.id != judged.rejected {
                        self.judge(rev, &mut judged).await;
                    }
                }
                Ok(Err(e)) => {
                    let msg = e.to_string();
                    self.store
                        .update_source(&url, |s| s.fetch_failed(Timestamp::now(), msg.clone()));
                    // Once per distinct error, not once per poll.
                    if msg != judged.fetch_error {
                        tracing::error!(
                            "fetching the source failed; the last good revision keeps running: {msg}"
                        );
                        judged.fetch_error = msg;
                    }
                }
                Err(e) => tracing::error!("the source fetch task failed: {e}"),
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.wake.notified() => tracing::debug!("woken by the webhook"),
            }
        }
    }

    /// Loads `rev` and accepts or rejects it.
    async fn judge(&self, rev: Revision, judged: &mut Judged) {
        let root = rev.root.clone();
        let short = rev.short().to_owned();
        let loaded = {
            let short = short.clone();
            tokio::task::spawn_blocking(move || resolve::load_source_at(&root, &short)).await
        };
        match loaded {
            Ok(Ok(resolved)) => {
                // Once per revision: a revision is judged once.
                for w in &resolved.warnings {
                    tracing::warn!("{w}");
                }
                let warnings: Vec<String> = resolved.warnings.iter().map(ToString::to_string).collect();
                self.accept(Snapshot::new(resolved), &mut judged.watched).await;
                let id = rev.id.clone();
                self.store.update_source(&self.source.describe(), |s| {
                    s.accepted(id, Timestamp::now());
                    s.warned(warnings);
                });
                judged.accepted = rev.id;
                judged.rejected.clear();
            }
            Ok(Err(diags)) => {
                tracing::error!("revision {short} rejected; the last good revision keeps running:\n{diags}");
                let message = rejection_message(&short, &diags);
                let errors = diags.0.iter().map(ToString::to_string).collect();
                let id = rev.id.clone();
                self.store
                    .update_source(&self.source.describe(), |s| s.rejected(id, errors));
                for s in self.store.list(&ListFilter::default()) {
                    self.store
                        .update(&s.key(), |s| s.mark_revision_rejected(&message));
                }
                judged.rejected = rev.id;
            }
            Err(e) => {
                tracing::error!("loading the source failed: {e}");
                return;
            }
        }
        // Keep the running revision's files and the newest (possibly rejected) one.
        let src = self.source.clone();
        let keep = [judged.accepted.clone(), judged.rejected.clone()];
        let _ = tokio::task::spawn_blocking(move || {
            let keep: Vec<&str> = keep
                .iter()
                .map(String::as_str)
                .filter(|k| !k.is_empty())
                .collect();
            src.retain(&keep);
        })
        .await;
    }

    async fn accept(&self, snap: Snapshot, watched: &mut BTreeMap<String, Watching>) {
        let revision = snap.revision().to_owned();
        tracing::info!(revision = %revision, resources = snap.keys.len(), "accepted revision");
        let hosts: Vec<String> = snap
            .resolved
            .state
            .hosts
            .iter()
            .map(|h| h.host.name.clone())
            .collect();
        let keys: Vec<StatusKey> = snap.keys.iter().cloned().collect();
        // Keys whose own desired state changed run at once, their backoff reset: a fix commit
        // must not wait out the backoff of the failures it fixes.
        let changed = snap.changed_since(self.snapshot.get().as_deref());
        self.snapshot.set(snap);
        self.store
            .retain(|k| keys.contains(k) || k.kind != crate::desired::Kind::Host);
        for s in self.store.list(&ListFilter::default()) {
            if s.revision_rejected() {
                self.store
                    .update(&s.key(), |s| s.clear_revision_rejected(&revision));
            }
        }
        for k in &keys {
            let reason = if changed.contains(k) {
                Reason::SpecChanged
            } else {
                Reason::Source
            };
            self.handle.enqueue(k.clone(), reason);
        }
        self.enqueue_orphans();
        self.watch(&hosts, watched);
    }

    /// One watcher per host of the revision: hosts that left have theirs stopped (and their
    /// views dropped); new hosts, and hosts whose watcher ended, get one.
    fn watch(&self, hosts: &[String], watched: &mut BTreeMap<String, Watching>) {
        watched.retain(|h, w| {
            let keep = hosts.contains(h) && !w.task.is_finished();
            if !keep {
                w.stop.cancel();
                self.views.remove(h);
            }
            keep
        });
        for h in hosts {
            if watched.contains_key(h) {
                continue;
            }
            let stop = self.stop.child_token();
            let task = tokio::spawn(
                Watcher {
                    host: h.clone(),
                    instance: self.instance.clone(),
                    snapshot: self.snapshot.clone(),
                    handle: self.handle.clone(),
                    pool: self.pool.clone(),
                    views: self.views.clone(),
                    resync: self.resync,
                    stop: stop.clone(),
                }
                .run(),
            );
            watched.insert(h.clone(), Watching { stop, task });
        }
    }

    /// Keys of resources whose objects this instance still owns on a host but that the
    /// revision no longer declares: their reconcile prunes them. Read from the hosts' views
    /// (no Docker call); a host without a view yet is covered by its watcher, which does the
    /// same after its listing.
    fn enqueue_orphans(&self) {
        let Some(snap) = self.snapshot.get() else { return };
        for h in &snap.resolved.state.hosts {
            let Some(observed) = self.views.of(&h.host.name).current() else {
                continue;
            };
            for key in orphans::orphan_keys(&observed, &h.host.name, &self.instance, &snap.keys) {
                self.handle.enqueue(key, Reason::Source);
            }
        }
    }
}

/// `revision 1a2b3c4d5e6f rejected: stack.yaml:7: spec.dependsOn[0]: ... (and 2 more)`: the
/// first error without its hint, so the line stays readable in `aegisctl get`.
fn rejection_message(short: &str, diags: &Diagnostics) -> String {
    let first = diags.0.first().map(|d| {
        Diagnostic {
            hint: None,
            ..d.clone()
        }
        .to_string()
    });
    rejection_line(short, first.as_deref(), diags.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::FieldPath;

    #[test]
    fn rejection_names_commit_file_line_and_count() {
        let d = |line| {
            Diagnostic::new(
                "stack.yaml",
                Some(line),
                FieldPath::root(),
                "Network/nope is not declared",
            )
            .with_hint("declare it")
        };
        let one = Diagnostics(vec![d(7)]);
        assert_eq!(
            rejection_message("1a2b3c4d5e6f", &one),
            "revision 1a2b3c4d5e6f rejected: stack.yaml:7: Network/nope is not declared"
        );
        let three = Diagnostics(vec![d(7), d(9), d(11)]);
        assert!(rejection_message("1a2b3c4d5e6f", &three).ends_with("declared (and 2 more)"));
    }
}
