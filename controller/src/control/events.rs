//! Docker events → the host's view, and requeues: the drift-repair path.
//!
//! One watcher per host. It keeps the host's [`HostView`]: a listing when it connects (and
//! after every reconnect, and every resync interval), then every event applied as it
//! arrives. After a listing taken on connect, every key of the host runs at once
//! ([`Reason::Relist`]): a host that was down, at start or later, converges as soon as it is
//! back, not after its keys' backoff. A drift event requeues the resources it concerns: a
//! container event carries the container's labels, so it maps straight to its resource;
//! network events carry no labels, so they map through the desired state. Events caused by a
//! reconcile's own writes (a replace's die, destroy and rename) requeue nothing: the
//! reconcile that made them is already looking (kube-runtime's debounce).
//!
//! The stream has no timeout of its own, so the engine is pinged every few seconds to tell a
//! quiet stream from a dead engine.

use std::{future::Future, pin::Pin, time::Duration};

use futures::{FutureExt as _, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{
    hosts::Pool,
    orphans,
    snapshot::Shared,
    view::{Fetched, HostView, Refresh, Views},
};
use crate::{
    desired::{Kind, ResourceRef},
    docker::{
        self,
        containers::REPLACEMENT_SUFFIX,
        events::{self, DockerEvent, EventKind},
        DockerError, DockerHost,
    },
    labels,
    observed::ObservedHost,
    runtime::{Handle, Reason},
    status::StatusKey,
};

const PING_EVERY: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

pub struct Watcher {
    pub host: String,
    pub instance: String,
    pub snapshot: Shared,
    pub handle: Handle<StatusKey>,
    pub pool: Pool,
    pub views: Views,
    /// How often the view is listed again, to correct missed events.
    pub resync: Duration,
    pub stop: CancellationToken,
}

type Listing<'a> = Pin<Box<dyn Future<Output = Result<ObservedHost, DockerError>> + Send + 'a>>;

/// Why a watch ended.
enum Ended {
    Stopped,
    Broken,
}

impl Watcher {
    pub async fn run(self) {
        let view = self.views.of(&self.host);
        let mut delay = RECONNECT_MIN;
        while !self.stop.is_cancelled() {
            let spec = self
                .snapshot
                .get()
                .and_then(|s| s.host(&self.host).map(|h| h.host.clone()));
            if let Some(spec) = spec {
                match self.pool.get(&spec).await {
                    Ok(host) => {
                        delay = RECONNECT_MIN;
                        if let Ended::Stopped = self.watch(&host, &view).await {
                            return;
                        }
                        view.clear();
                        self.pool.invalidate(&self.host);
                        // The engine may be gone: look at the host itself now, so its status
                        // says so at once. Whatever happened to the resources while we were
                        // not listening is found by the listing that follows the reconnect.
                        self.handle.enqueue(
                            StatusKey::new(Kind::Host, &self.host, &self.host),
                            Reason::DockerEvent,
                        );
                    }
                    Err(e) => tracing::debug!(host = %self.host, "events: {e}"),
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    /// Lists the host and follows its events until the stream or a call breaks, or `stop`.
    async fn watch(&self, host: &DockerHost, view: &HostView) -> Ended {
        let mut stream = Box::pin(events::stream(host, None));
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut relist = tokio::time::interval(self.resync.max(Duration::from_secs(1)));
        relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is now: the listing that fills the view.
        let mut listing: Option<Listing<'_>> = None;
        let mut first = true;
        let mut buffered: Vec<DockerEvent> = Vec::new();
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return Ended::Stopped,
                item = stream.next() => {
                    let mut batch = match item {
                        Some(Ok(ev)) => vec![ev],
                        Some(Err(e)) => { tracing::warn!(host = %self.host, "{e}"); return Ended::Broken; }
                        None => { tracing::warn!(host = %self.host, "the Docker events stream ended"); return Ended::Broken; }
                    };
                    // Everything already arrived goes in one batch: one refresh call for it.
                    let mut broken = None;
                    loop {
                        match stream.next().now_or_never() {
                            Some(Some(Ok(ev))) => batch.push(ev),
                            Some(Some(Err(e))) => { broken = Some(e.to_string()); break; }
                            Some(None) => { broken = Some("the Docker events stream ended".to_string()); break; }
                            None => break,
                        }
                    }
                    if listing.is_some() {
                        buffered.extend(batch);
                    } else if let Err(e) = self.on_events(host, view, &batch).await {
                        tracing::warn!(host = %self.host, "{e}");
                        return Ended::Broken;
                    }
                    if let Some(e) = broken {
                        tracing::warn!(host = %self.host, "{e}");
                        return Ended::Broken;
                    }
                }
                _ = ping.tick() => {
                    if let Err(e) = events::ping(host).await {
                        tracing::warn!(host = %self.host, "{e}");
                        return Ended::Broken;
                    }
                }
                _ = relist.tick(), if listing.is_none() => {
                    listing = Some(Box::pin(docker::observe(host)));
                }
                listed = async { match listing.as_mut() { Some(l) => l.await, None => std::future::pending().await } } => {
                    listing = None;
                    let observed = match listed {
                        Ok(o) => o,
                        Err(e) => { tracing::warn!(host = %self.host, "{e}"); return Ended::Broken; }
                    };
                    let changed = view.current().is_none_or(|old| !super::view::same(&old, &observed));
                    view.set(observed);
                    let batch = std::mem::take(&mut buffered);
                    if let Err(e) = self.on_events(host, view, &batch).await {
                        tracing::warn!(host = %self.host, "{e}");
                        return Ended::Broken;
                    }
                    // After a connect, every key runs (it may have failed or backed off
                    // while the host was away); after a periodic relist, only if the
                    // listing found what the events had missed.
                    if first || changed {
                        self.relist();
                    }
                    first = false;
                    self.enqueue_orphans(view);
                }
            }
        }
    }

    /// Applies a batch of events to the view, fetches what they did not describe, then
    /// requeues the keys that drifted.
    async fn on_events(
        &self,
        host: &DockerHost,
        view: &HostView,
        batch: &[DockerEvent],
    ) -> Result<(), DockerError> {
        if batch.is_empty() {
            return Ok(());
        }
        let refresh = view.apply(batch);
        if !refresh.is_empty() {
            let fetched = fetch(host, &refresh).await?;
            view.merge(&refresh, fetched);
        }
        for ev in batch {
            if !ev.is_drift() || own_event(view, ev) {
                continue;
            }
            for key in self.keys_for(ev) {
                tracing::debug!(host = %self.host, action = %ev.action, key = %key, "drift event");
                self.handle.enqueue(key, Reason::DockerEvent);
            }
        }
        Ok(())
    }

    fn relist(&self) {
        if let Some(snap) = self.snapshot.get() {
            for k in snap.keys_on(&self.host) {
                self.handle.enqueue(k.clone(), Reason::Relist);
            }
        }
    }

    fn enqueue_orphans(&self, view: &HostView) {
        let (Some(snap), Some(observed)) = (self.snapshot.get(), view.current()) else {
            return;
        };
        for key in orphans::orphan_keys(&observed, &self.host, &self.instance, &snap.keys) {
            self.handle.enqueue(key, Reason::Source);
        }
    }

    /// The resources an event may concern.
    fn keys_for(&self, ev: &DockerEvent) -> Vec<StatusKey> {
        let Some(snap) = self.snapshot.get() else {
            return Vec::new();
        };
        match ev.kind {
            EventKind::Container => {
                let a = &ev.attributes;
                if a.get(labels::MANAGED_BY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE)
                    || a.get(labels::INSTANCE) != Some(&self.instance)
                    || a.get(labels::HOST) != Some(&self.host)
                    || a.contains_key(labels::HELPER)
                {
                    return Vec::new();
                }
                a.get(labels::RESOURCE)
                    .and_then(|r| r.parse::<ResourceRef>().ok())
                    .map(|r| vec![StatusKey::new(r.kind, &self.host, r.name)])
                    .unwrap_or_default()
            }
            EventKind::Network => {
                let Some(name) = ev.attributes.get("name") else {
                    return Vec::new();
                };
                let Some(desired) = snap.host(&self.host) else {
                    return Vec::new();
                };
                let mut keys = Vec::new();
                if desired.networks.iter().any(|n| &n.name == name) {
                    keys.push(StatusKey::new(Kind::Network, &self.host, name));
                }
                // Stacks (and Newt sites) whose containers use the network (a disconnect hurts them).
                for s in &desired.stacks {
                    let uses = s.networks.iter().any(|n| &n.name == name)
                        || s.containers
                            .iter()
                            .any(|c| c.networks.iter().any(|a| &a.network == name));
                    if uses {
                        keys.push(StatusKey::new(s.kind, &self.host, &s.name));
                    }
                }
                keys
            }
            EventKind::Volume | EventKind::Image => Vec::new(),
        }
    }
}

/// Whether `ev` comes from aegis's own writes: a running reconcile expects it, or it is the
/// rename that ends a replace (`web_aegis_new` → `web`).
fn own_event(view: &HostView, ev: &DockerEvent) -> bool {
    let replace_rename = ev.kind == EventKind::Container
        && ev.action == "rename"
        && ev.attributes.get("oldName").is_some_and(|old| {
            ev.attributes.get("name").is_some_and(|new| {
                old.trim_start_matches('/') == format!("{}{REPLACEMENT_SUFFIX}", new.trim_start_matches('/'))
            })
        });
    replace_rename || view.is_expected(ev)
}

/// One filtered list call per kind of object a batch of events left undescribed.
async fn fetch(host: &DockerHost, refresh: &Refresh) -> Result<Fetched, DockerError> {
    let mut f = Fetched::default();
    if !refresh.containers.is_empty() {
        f.containers = docker::observe_some::containers(host, &refresh.containers).await?;
    }
    if !refresh.networks.is_empty() {
        f.networks = docker::observe_some::networks(host, &refresh.networks).await?;
    }
    if !refresh.volumes.is_empty() {
        f.volumes = docker::observe_some::volumes(host, &refresh.volumes).await?;
    }
    if refresh.images {
        f.images = Some(docker::observe::list_images(host).await?);
    }
    Ok(f)
}
