//! `GET /api/v1/events?kind=&host=&selector=&watch=`: the events of every matching resource
//! in one timeline, oldest first, like `flux events` (time, type, reason, object, message).
//! Without `watch`, one JSON array. With `watch=true`, newline-delimited JSON: the same
//! events first, then each new event as the control loop records it (found by comparing a
//! resource's events ring before and after each change of its status).

use std::{collections::HashMap, convert::Infallible, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{
    error::ApiError,
    routes::{AppState, ListQuery},
};
use crate::{
    desired::Kind,
    status::{ChangeType, Event, EventReason, EventType, ResourceStatus, StatusKey, Timestamp},
};

const HEARTBEAT: Duration = Duration::from_secs(30);

/// One event of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub time: Timestamp,
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: EventReason,
    pub kind: Kind,
    pub name: String,
    pub host: String,
    pub message: String,
}

impl EventRow {
    fn new(s: &ResourceStatus, e: &Event) -> Self {
        Self {
            time: e.time,
            type_: e.type_,
            reason: e.reason,
            kind: s.kind,
            name: s.name.clone(),
            host: s.host.clone(),
            message: e.message.clone(),
        }
    }

    /// `Stack/demo`, as `flux events` writes its OBJECT column.
    pub fn object(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// (Not `#[serde(flatten)]` over [`ListQuery`]: a flattened query string reaches a `bool`
/// as a string and fails.)
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    kind: Option<String>,
    host: Option<String>,
    selector: Option<String>,
    #[serde(default)]
    watch: bool,
}

/// Every event of `statuses`, oldest first.
pub fn timeline(statuses: &[ResourceStatus]) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = statuses
        .iter()
        .flat_map(|s| s.events.iter().map(move |e| EventRow::new(s, e)))
        .collect();
    rows.sort_by_key(|r| (r.time, r.object()));
    rows
}

/// The events of `now` that `before` did not have: those after `before`'s newest one (the
/// ring only grows at the back). If that one fell off the ring, everything is new.
pub fn new_events<'a>(before: &[Event], now: &'a [Event]) -> &'a [Event] {
    let Some(last) = before.last() else { return now };
    match now.iter().rposition(|e| e == last) {
        Some(i) => &now[i + 1..],
        None => now,
    }
}

pub(crate) async fn events(
    State(app): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let filter = ListQuery {
        kind: q.kind,
        host: q.host,
        selector: q.selector,
    }
    .filter()?;
    // Subscribe before the snapshot so that no event falls between them.
    let mut changes = app.api.store.subscribe();
    let initial = app.api.store.list(&filter);
    if !q.watch {
        return Ok(Json(timeline(&initial)).into_response());
    }
    let mut seen: HashMap<StatusKey, Vec<Event>> = initial
        .iter()
        .map(|s| (s.key(), s.events.iter().cloned().collect()))
        .collect();
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let mut shutdown = app.shutdown.clone();
    let shutdown = async move {
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let store = app.api.store.clone();
    tokio::spawn(async move {
        if !send_rows(&tx, timeline(&initial)).await {
            return;
        }
        tokio::pin!(shutdown);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            let ok = tokio::select! {
                change = changes.recv() => match change {
                    Ok(c) if c.type_ != ChangeType::Deleted && filter.matches(&c.resource) => {
                        let s = &c.resource;
                        let now: Vec<Event> = s.events.iter().cloned().collect();
                        let before = seen.get(&s.key()).map(Vec::as_slice).unwrap_or_default();
                        let rows: Vec<EventRow> = new_events(before, &now).iter().map(|e| EventRow::new(s, e)).collect();
                        seen.insert(s.key(), now);
                        send_rows(&tx, rows).await
                    }
                    Ok(_) => true,
                    // Fell behind: catch up from the store, sending only what is new.
                    Err(RecvError::Lagged(_)) => {
                        let mut rows = Vec::new();
                        for s in store.list(&filter) {
                            let now: Vec<Event> = s.events.iter().cloned().collect();
                            let before = seen.get(&s.key()).map(Vec::as_slice).unwrap_or_default();
                            rows.extend(new_events(before, &now).iter().map(|e| EventRow::new(&s, e)));
                            seen.insert(s.key(), now);
                        }
                        rows.sort_by_key(|r| r.time);
                        send_rows(&tx, rows).await
                    }
                    Err(RecvError::Closed) => false,
                },
                _ = heartbeat.tick() => tx.send(Ok(Bytes::from_static(b"\n"))).await.is_ok(),
                () = &mut shutdown => false,
                () = tx.closed() => false,
            };
            if !ok {
                break;
            }
        }
    });
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

async fn send_rows(tx: &mpsc::Sender<Result<Bytes, Infallible>>, rows: Vec<EventRow>) -> bool {
    for r in rows {
        let mut line = serde_json::to_vec(&r).expect("an event serializes to JSON");
        line.push(b'\n');
        if tx.send(Ok(Bytes::from(line))).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(msg: &str) -> Event {
        Event {
            time: Timestamp(std::time::UNIX_EPOCH),
            type_: EventType::Normal,
            reason: EventReason::Created,
            message: msg.into(),
        }
    }

    #[test]
    fn new_events_are_those_after_the_last_seen() {
        let (a, b, c) = (ev("a"), ev("b"), ev("c"));
        let all = [a.clone(), b.clone(), c.clone()];
        assert_eq!(new_events(&[], &all[..1]), &all[..1]);
        assert_eq!(new_events(&all[..1], &all), &all[1..]);
        assert!(new_events(&all[..2], &all[..2]).is_empty());
        // The ring dropped `a` and more: all of it is new.
        assert_eq!(new_events(&all[..1], &all[1..]), &all[1..]);
    }
}
