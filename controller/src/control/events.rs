//! Docker events → requeues: the drift-repair path.
//!
//! One watcher per host. A container event carries the container's labels, so it maps straight
//! to its resource; network events carry no labels, so they map through the desired state.
//! The stream has no timeout of its own, so the engine is pinged every few seconds to tell a
//! quiet stream from a dead engine. After any reconnect every key of the host is requeued
//! (a relist), because events may have been missed while the stream was down.

use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{hosts::Pool, snapshot::Shared};
use crate::{
    desired::{Kind, ResourceRef},
    docker::events::{self, DockerEvent, EventKind},
    labels,
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
    pub stop: CancellationToken,
}

impl Watcher {
    pub async fn run(self) {
        let mut delay = RECONNECT_MIN;
        let mut first = true;
        while !self.stop.is_cancelled() {
            let Some(spec) = self
                .snapshot
                .get()
                .and_then(|s| s.host(&self.host).map(|h| h.host.clone()))
            else {
                return; // the host left the desired state
            };
            match self.pool.get(&spec).await {
                Ok(host) => {
                    if !first {
                        self.relist();
                    }
                    first = false;
                    delay = RECONNECT_MIN;
                    let mut stream = Box::pin(events::stream(&host, None));
                    let mut ping = tokio::time::interval(PING_EVERY);
                    ping.tick().await;
                    loop {
                        tokio::select! {
                            _ = self.stop.cancelled() => return,
                            item = stream.next() => match item {
                                Some(Ok(ev)) => self.on_event(&ev),
                                Some(Err(e)) => { tracing::warn!(host = %self.host, "{e}"); break; }
                                None => { tracing::warn!(host = %self.host, "the Docker events stream ended"); break; }
                            },
                            _ = ping.tick() => {
                                if let Err(e) = events::ping(&host).await {
                                    tracing::warn!(host = %self.host, "{e}");
                                    break;
                                }
                            }
                        }
                    }
                    self.pool.invalidate(&self.host);
                    // The engine may be gone: look at the host itself now, so its status
                    // says so at once. Whatever happened to the resources while we were not
                    // listening is found by the relist that follows the reconnect.
                    self.handle.enqueue(
                        StatusKey::new(Kind::Host, &self.host, &self.host),
                        Reason::DockerEvent,
                    );
                }
                Err(e) => {
                    tracing::debug!(host = %self.host, "events: {e}");
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    fn relist(&self) {
        if let Some(snap) = self.snapshot.get() {
            for k in snap.keys_on(&self.host) {
                self.handle.enqueue(k.clone(), Reason::Relist);
            }
        }
    }

    fn on_event(&self, ev: &DockerEvent) {
        if !ev.is_drift() {
            return;
        }
        for key in self.keys_for(ev) {
            tracing::debug!(host = %self.host, action = %ev.action, key = %key, "drift event");
            self.handle.enqueue(key, Reason::DockerEvent);
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
        }
    }
}
