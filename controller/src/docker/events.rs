//! The Docker events stream of one host, as plain events.
//!
//! The stream has no timeout of its own (bollard's request timeout does not cover streams),
//! so callers must detect a dead engine themselves: [`ping`] it periodically. Events are not
//! filtered by label here because network events carry no labels; callers map them.

use std::collections::BTreeMap;

use bollard::{models::EventMessageTypeEnum, query_parameters::EventsOptionsBuilder};
use futures::{Stream, StreamExt};

use super::{
    client::DockerHost,
    error::{connect_reason, DockerError, Result},
};

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Container,
    Network,
    Volume,
    Image,
}

/// One engine event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerEvent {
    pub kind: EventKind,
    /// e.g. `die`, `destroy`, `stop`, `health_status: unhealthy`, `disconnect`.
    pub action: String,
    /// The container or network ID.
    pub id: String,
    /// Actor attributes: for containers their labels plus `name` and `image`; for networks
    /// `name`, `type` and (for connect/disconnect) `container`.
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl DockerEvent {
    /// Whether the event can mean that actual state drifted from desired state.
    pub fn is_drift(&self) -> bool {
        match self.kind {
            EventKind::Container => {
                matches!(
                    self.action.as_str(),
                    "die" | "destroy" | "stop" | "kill" | "oom" | "pause" | "rename"
                ) || self.action == "health_status: unhealthy"
            }
            EventKind::Network => matches!(self.action.as_str(), "destroy" | "disconnect"),
            // They change the host's view, never a resource's state by themselves.
            EventKind::Volume | EventKind::Image => false,
        }
    }
}

/// Container, network, volume and image events from now on (or from `since_nano`, to bridge a reconnect).
pub fn stream(
    host: &DockerHost,
    since_nano: Option<i64>,
) -> impl Stream<Item = Result<DockerEvent>> + Send + 'static {
    let filters =
        std::collections::HashMap::from([("type", vec!["container", "network", "volume", "image"])]);
    let mut opts = EventsOptionsBuilder::new().filters(&filters);
    if let Some(ns) = since_nano {
        opts = opts.since(&format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000));
    }
    let name = host.host().to_string();
    let endpoint = host.endpoint().to_string();
    host.call().events(Some(opts.build())).filter_map(move |item| {
        let out = match item {
            Ok(m) => {
                let kind = match m.typ {
                    Some(EventMessageTypeEnum::CONTAINER) => Some(EventKind::Container),
                    Some(EventMessageTypeEnum::NETWORK) => Some(EventKind::Network),
                    Some(EventMessageTypeEnum::VOLUME) => Some(EventKind::Volume),
                    Some(EventMessageTypeEnum::IMAGE) => Some(EventKind::Image),
                    _ => None,
                };
                let actor = m.actor.unwrap_or_default();
                kind.map(|kind| DockerEvent {
                    kind,
                    action: m.action.unwrap_or_default(),
                    id: actor.id.unwrap_or_default(),
                    attributes: actor.attributes.unwrap_or_default().into_iter().collect(),
                    time_nano: m.time_nano.unwrap_or_default(),
                })
                .map(Ok)
            }
            Err(e) => Some(Err(DockerError::Connect {
                host: name.clone(),
                endpoint: endpoint.clone(),
                reason: format!("the events stream broke: {}", connect_reason(&e)),
                source: Some(e),
            })),
        };
        futures::future::ready(out)
    })
}

/// One cheap round trip to the engine (`/_ping`), to tell a quiet stream from a dead engine.
pub async fn ping(host: &DockerHost) -> Result<()> {
    host.api("ping", |d| d.ping())
        .await
        .map(drop)
        .map_err(|e| DockerError::Connect {
            host: host.host().to_string(),
            endpoint: host.endpoint().to_string(),
            reason: connect_reason(&e),
            source: Some(e),
        })
}
