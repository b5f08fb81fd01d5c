use std::collections::BTreeMap;

use super::*;
use crate::status::{ConditionStatus, ConditionType, EventReason, EventType, InventoryItem, LabelSelector};

fn key(kind: Kind, host: &str, name: &str) -> StatusKey {
    StatusKey::new(kind, host, name)
}

fn seeded() -> StatusStore {
    let store = StatusStore::in_memory();
    store.update(&key(Kind::Stack, "local", "demo"), |s| {
        s.labels = BTreeMap::from([("tier".into(), "edge".into())]);
    });
    store.update(&key(Kind::Stack, "vps", "pangolin"), |_| {});
    store.update(&key(Kind::Network, "local", "web"), |_| {});
    store
}

#[test]
fn list_filters_by_kind_host_and_selector() {
    let store = seeded();
    let names = |f: ListFilter| store.list(&f).into_iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(ListFilter::default()).len(), 3);
    assert_eq!(
        names(ListFilter {
            kind: Some(Kind::Stack),
            ..Default::default()
        }),
        ["demo", "pangolin"]
    );
    assert_eq!(
        names(ListFilter {
            host: Some("local".into()),
            ..Default::default()
        }),
        ["web", "demo"]
    );
    assert_eq!(
        names(ListFilter {
            selector: Some("tier=edge".parse::<LabelSelector>().unwrap()),
            ..Default::default()
        }),
        ["demo"]
    );
    assert_eq!(store.get_by_name(Kind::Stack, "pangolin").unwrap().host, "vps");
    assert!(store.get_by_name(Kind::Stack, "nope").is_none());
}

#[tokio::test]
async fn changes_are_sent_only_when_something_changed() {
    let store = StatusStore::in_memory();
    let mut rx = store.subscribe();
    let k = key(Kind::Stack, "local", "demo");
    store.update(&k, |_| {});
    assert_eq!(rx.try_recv().unwrap().type_, ChangeType::Added);
    store.update(&k, |_| {});
    assert!(rx.try_recv().is_err(), "a no-op update must not notify");
    store.update(&k, |s| s.observed_revision = Some("abc".into()));
    let change = rx.try_recv().unwrap();
    assert_eq!(change.type_, ChangeType::Modified);
    assert_eq!(change.resource.observed_revision.as_deref(), Some("abc"));
    store.remove(&k);
    assert_eq!(rx.try_recv().unwrap().type_, ChangeType::Deleted);
    assert!(store.get(&k).is_none());
}

#[tokio::test]
async fn retain_drops_the_rest_and_reports_deletions() {
    let store = seeded();
    let mut rx = store.subscribe();
    store.retain(|k| k.kind == Kind::Stack);
    assert_eq!(store.list(&ListFilter::default()).len(), 2);
    let change = rx.try_recv().unwrap();
    assert_eq!(
        (change.type_, change.resource.name.as_str()),
        (ChangeType::Deleted, "web")
    );
}

#[tokio::test]
async fn persistence_round_trips_through_flush() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(Kind::Stack, "local", "demo");
    let original = {
        let store = StatusStore::load(dir.path()).await.unwrap();
        store.update(&k, |s| {
            s.suspended = true;
            s.observed_revision = Some("0d89988".into());
            s.last_applied = Some(crate::status::Timestamp::now());
            s.last_error = Some("boom".into());
            s.labels.insert("tier".into(), "edge".into());
            s.inventory
                .push(InventoryItem::container("demo-api-1", "running", Some("healthy")));
            s.set_condition(
                ConditionType::Ready,
                ConditionStatus::True,
                "ReconciliationSucceeded",
                "ok",
            );
            s.record_event(
                EventType::Warning,
                EventReason::DriftRepaired,
                "demo-api-1 was removed",
            );
        });
        store.update_source("file:///r.git", |s| {
            s.accepted("0d89988".into(), crate::status::Timestamp::now());
            s.rejected("bad".into(), vec!["a.yaml:1: x".into()]);
        });
        store.flush().await.unwrap();
        (store.get(&k).unwrap(), store.source())
    };
    let restored = StatusStore::load(dir.path()).await.unwrap();
    assert_eq!(restored.get(&k).unwrap(), original.0);
    assert_eq!(restored.source(), original.1);
    assert!(restored.source().is_some_and(|s| s.rejected.is_some()));
    assert!(!dir.path().join(".status.json.tmp").exists());
}

#[tokio::test]
async fn changes_are_saved_in_the_background_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = StatusStore::load(dir.path()).await.unwrap();
    for i in 0..20 {
        store.update(&key(Kind::Stack, "local", &format!("s{i}")), |_| {});
    }
    let path = dir.path().join("status.json");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(bytes) = std::fs::read(&path) {
            let file: StatusFile = serde_json::from_slice(&bytes).unwrap();
            if file.resources.len() == 20 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status.json was not written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn corrupt_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("status.json"), "{not json").unwrap();
    let err = StatusStore::load(dir.path()).await.err().unwrap();
    assert!(
        err.to_string().contains("is not a valid aegis status file"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_dir_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let store = StatusStore::load(&nested).await.unwrap();
    store.flush().await.unwrap();
    assert!(nested.join("status.json").exists());
}

/// A save that fails (a full disk) is served in the source's status, and cleared by the next
/// save that works, which comes on its own (no change needed) once the cause is gone.
#[tokio::test]
async fn a_failing_save_is_reported_and_retried_until_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let store = StatusStore::load(dir.path()).await.unwrap();
    store.update_source("src", |s| {
        s.accepted("rev1".into(), crate::status::Timestamp::now())
    });
    // The temporary file's name taken by a directory: the write fails like on a full disk.
    let blocker = dir.path().join(".status.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    store.update(&key(Kind::Stack, "local", "demo"), |_| {});
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let reported = loop {
        if let Some(e) = store.source().and_then(|s| s.state_error) {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed save was not reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reported.contains("status.json"), "{reported}");
    let source = store.source().unwrap();
    assert!(!source.ready());
    assert_eq!(source.reason(), "StateNotSaved");
    std::fs::remove_dir(&blocker).unwrap();
    // No further change: the retry alone saves it and clears the error.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.save_error().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the save was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let file: StatusFile =
        serde_json::from_slice(&std::fs::read(dir.path().join("status.json")).unwrap()).unwrap();
    assert_eq!(file.resources.len(), 1);
    assert!(
        file.source.unwrap().state_error.is_none(),
        "the error itself is never saved"
    );
}
