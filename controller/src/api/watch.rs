//! `GET /api/v1/watch`: newline-delimited JSON, one [`Change`] per line. It starts with
//! every matching resource as `Added` (so a client needs no separate list), then follows
//! the store. An empty line every 30 s keeps idle proxies from closing the stream.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{
    error::ApiError,
    routes::{AppState, ListQuery},
};
use crate::status::{Change, ChangeType, ResourceStatus};

const HEARTBEAT: Duration = Duration::from_secs(30);

pub(crate) async fn watch_changes(
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter()?;
    // Subscribe before the snapshot so that nothing falls between them; a change seen in
    // both is harmless (the client just prints the row again).
    let mut changes = app.api.store.subscribe();
    let initial = app.api.store.list(&filter);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let mut shutdown = app.shutdown.clone();
    let shutdown = async move {
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let store = app.api.store.clone();
    tokio::spawn(async move {
        if !send_all(&tx, initial, ChangeType::Added).await {
            return;
        }
        tokio::pin!(shutdown);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            let ok = tokio::select! {
                change = changes.recv() => match change {
                    Ok(c) if filter.matches(&c.resource) => send(&tx, &c).await,
                    Ok(_) => true,
                    // Fell behind: resend the current state rather than drop changes.
                    Err(RecvError::Lagged(_)) => send_all(&tx, store.list(&filter), ChangeType::Modified).await,
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

async fn send_all(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    resources: Vec<ResourceStatus>,
    type_: ChangeType,
) -> bool {
    for resource in resources {
        if !send(tx, &Change { type_, resource }).await {
            return false;
        }
    }
    true
}

async fn send(tx: &mpsc::Sender<Result<Bytes, Infallible>>, change: &Change) -> bool {
    let mut line = serde_json::to_vec(change).expect("a change serializes to JSON");
    line.push(b'\n');
    tx.send(Ok(Bytes::from(line))).await.is_ok()
}
