//! [`StatusStore`]: the in-memory map of statuses that the control loop writes and the
//! API reads, with change notifications (for `aegisctl get -w`) and debounced persistence.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch, Mutex};

use super::{
    model::{ResourceStatus, StatusKey},
    persist::{self, StatusFile},
    selector::LabelSelector,
    source::SourceStatus,
};
use crate::desired::Kind;

/// Persistence writes at most once per this interval; a burst of updates in between costs
/// one write.
pub const PERSIST_DEBOUNCE: Duration = Duration::from_millis(200);

/// After a failed save (a full disk), the next try comes after this long even if nothing
/// changed, so the error clears soon after the cause is gone.
pub const PERSIST_RETRY: Duration = Duration::from_secs(2);

/// How many changes a slow watcher may fall behind before it is told it lagged.
const CHANGES_CAPACITY: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The state directory or `status.json` could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `status.json` exists but is not valid JSON of the expected shape.
    #[error("{path} is not a valid aegis status file: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `status.json` was written by a newer aegis.
    #[error("{path} has status format version {version}, which this aegis does not read")]
    UnsupportedVersion { path: PathBuf, version: u32 },
}

/// What kind of change a [`Change`] is, in the words of a Kubernetes watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One change to the store; for `Deleted`, the last status before removal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    #[serde(rename = "type")]
    pub type_: ChangeType,
    pub resource: ResourceStatus,
}

/// Which statuses [`StatusStore::list`] returns; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub kind: Option<Kind>,
    pub host: Option<String>,
    pub selector: Option<LabelSelector>,
}

impl ListFilter {
    pub fn matches(&self, s: &ResourceStatus) -> bool {
        self.kind.is_none_or(|k| k == s.kind)
            && self.host.as_deref().is_none_or(|h| h == s.host)
            && self.selector.as_ref().is_none_or(|sel| sel.matches(&s.labels))
    }
}

/// Cheap to clone; all clones share one map.
#[derive(Clone)]
pub struct StatusStore {
    inner: Arc<Inner>,
}

struct Inner {
    map: RwLock<BTreeMap<StatusKey, ResourceStatus>>,
    source: RwLock<Option<SourceStatus>>,
    changes: broadcast::Sender<Change>,
    persist: Option<Persist>,
    /// The last save's error, until a save works (served as the source's `state_error`).
    save_error: RwLock<Option<String>>,
}

struct Persist {
    path: PathBuf,
    /// Bumped on every change; the writer task wakes on it.
    dirty: watch::Sender<u64>,
    /// Serializes writes so that a later snapshot is never overwritten by an earlier one.
    write_lock: Mutex<()>,
}

impl StatusStore {
    /// A store that keeps nothing on disk (tests, `aegisctl` fakes).
    pub fn in_memory() -> Self {
        Self::with_persist(BTreeMap::new(), None, None)
    }

    /// Restores the store from `dir/status.json` (an absent file is an empty store),
    /// creating `dir` if needed, and starts the debounced writer task. Must be called
    /// inside a tokio runtime. Call [`flush`](Self::flush) on shutdown.
    pub async fn load(dir: impl AsRef<Path>) -> Result<Self, StatusError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(persist::FILE_NAME);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StatusError::Io { path, source }
        };
        tokio::fs::create_dir_all(&dir).await.map_err(io_err(&dir))?;
        let (map, source) = match tokio::fs::read(&path).await {
            Ok(bytes) => {
                let file: StatusFile =
                    serde_json::from_slice(&bytes).map_err(|source| StatusError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                if !file.is_supported() {
                    return Err(StatusError::UnsupportedVersion {
                        path,
                        version: file.version,
                    });
                }
                let map = file.resources.into_iter().map(|s| (s.key(), s)).collect();
                (map, file.source)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (BTreeMap::new(), None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let (dirty, dirty_rx) = watch::channel(0);
        let store = Self::with_persist(
            map,
            source,
            Some(Persist {
                path,
                dirty,
                write_lock: Mutex::new(()),
            }),
        );
        tokio::spawn(write_behind(Arc::downgrade(&store.inner), dirty_rx));
        Ok(store)
    }

    fn with_persist(
        map: BTreeMap<StatusKey, ResourceStatus>,
        source: Option<SourceStatus>,
        persist: Option<Persist>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                map: RwLock::new(map),
                source: RwLock::new(source),
                changes: broadcast::channel(CHANGES_CAPACITY).0,
                persist,
                save_error: RwLock::new(None),
            }),
        }
    }

    pub fn get(&self, key: &StatusKey) -> Option<ResourceStatus> {
        self.read().get(key).cloned()
    }

    /// The status of `kind`/`name` on whichever host it is (names are unique per kind).
    pub fn get_by_name(&self, kind: Kind, name: &str) -> Option<ResourceStatus> {
        self.read()
            .values()
            .find(|s| s.kind == kind && s.name == name)
            .cloned()
    }

    /// Matching statuses, ordered by kind, host, name.
    pub fn list(&self, filter: &ListFilter) -> Vec<ResourceStatus> {
        self.read()
            .values()
            .filter(|s| filter.matches(s))
            .cloned()
            .collect()
    }

    /// Runs `f` on the status of `key`, creating a fresh one first if there is none.
    /// Watchers are told and a save is scheduled only if `f` changed something, so a
    /// no-op resync costs nothing downstream.
    pub fn update<R>(&self, key: &StatusKey, f: impl FnOnce(&mut ResourceStatus) -> R) -> R {
        let (result, change) = {
            let mut map = self.inner.map.write().unwrap_or_else(|e| e.into_inner());
            let existed = map.contains_key(key);
            let entry = map.entry(key.clone()).or_insert_with(|| ResourceStatus::new(key));
            let before = existed.then(|| entry.clone());
            let result = f(entry);
            let change = match before {
                None => Some(ChangeType::Added),
                Some(b) if b != *entry => Some(ChangeType::Modified),
                Some(_) => None,
            };
            (
                result,
                change.map(|type_| Change {
                    type_,
                    resource: entry.clone(),
                }),
            )
        };
        if let Some(change) = change {
            self.changed(change);
        }
        result
    }

    /// The source's status; `None` until a controller has set one. It carries the error of
    /// the last save while saving fails.
    pub fn source(&self) -> Option<SourceStatus> {
        let mut s = self
            .inner
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        s.state_error = self.save_error();
        Some(s)
    }

    /// Why the last save failed, while saving fails.
    pub fn save_error(&self) -> Option<String> {
        self.inner
            .save_error
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` on the source's status (a fresh one for `url` if there is none, or if it was
    /// for another source) and schedules a save if it changed.
    pub fn update_source(&self, url: &str, f: impl FnOnce(&mut SourceStatus)) {
        let changed = {
            let mut slot = self.inner.source.write().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_none_or(|s| s.url != url) {
                *slot = Some(SourceStatus::new(url));
            }
            let Some(status) = slot.as_mut() else { return };
            let before = status.clone();
            f(status);
            *status != before
        };
        if changed {
            self.mark_dirty();
        }
    }

    /// Removes `key`'s status; returns it if there was one.
    pub fn remove(&self, key: &StatusKey) -> Option<ResourceStatus> {
        let removed = self
            .inner
            .map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if let Some(resource) = &removed {
            self.changed(Change {
                type_: ChangeType::Deleted,
                resource: resource.clone(),
            });
        }
        removed
    }

    /// Keeps only the statuses for which `keep` is true, e.g. after a revision that
    /// dropped resources. Each removal is a `Deleted` change.
    pub fn retain(&self, mut keep: impl FnMut(&StatusKey) -> bool) {
        let removed: Vec<_> = {
            let mut map = self.inner.map.write().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<_> = map.keys().filter(|k| !keep(k)).cloned().collect();
            gone.iter().filter_map(|k| map.remove(k)).collect()
        };
        for resource in removed {
            self.changed(Change {
                type_: ChangeType::Deleted,
                resource,
            });
        }
    }

    /// Changes from now on. A receiver that falls more than a few hundred changes behind
    /// gets `RecvError::Lagged` and should re-list.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// How many [`subscribe`](Self::subscribe) receivers are open (API watches): what a
    /// test waits for before it makes the change a watch must see.
    pub fn subscribers(&self) -> usize {
        self.inner.changes.receiver_count()
    }

    /// Writes `status.json` now (no-op for an in-memory store). Call on shutdown.
    pub async fn flush(&self) -> Result<(), StatusError> {
        self.inner.write_now().await
    }

    fn changed(&self, change: Change) {
        // No receivers is fine: nobody is watching.
        let _ = self.inner.changes.send(change);
        self.mark_dirty();
    }

    fn mark_dirty(&self) {
        if let Some(p) = &self.inner.persist {
            p.dirty.send_modify(|g| *g = g.wrapping_add(1));
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<StatusKey, ResourceStatus>> {
        self.inner.map.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    async fn write_now(&self) -> Result<(), StatusError> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let _guard = p.write_lock.lock().await;
        let snapshot: Vec<ResourceStatus> = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let source = self.source.read().unwrap_or_else(|e| e.into_inner()).clone();
        let bytes =
            serde_json::to_vec_pretty(&StatusFile::new(snapshot, source)).expect("status serializes to JSON");
        let path = p.path.clone();
        tokio::task::spawn_blocking(move || {
            persist::write_atomic(&path, &bytes).map_err(|source| (path, source))
        })
        .await
        .map_err(|e| StatusError::Io {
            path: p.path.clone(),
            source: io::Error::other(e),
        })?
        .map_err(|(path, source)| StatusError::Io { path, source })
    }
}

/// Writes the store after changes, at most once per [`PERSIST_DEBOUNCE`]; while saving
/// fails, also every [`PERSIST_RETRY`]. The error is logged once and served in the source's
/// status until a save works. Ends when the store is dropped.
async fn write_behind(store: Weak<Inner>, mut dirty: watch::Receiver<u64>) {
    let mut failing = false;
    loop {
        let changed = if failing {
            tokio::select! {
                r = dirty.changed() => r.is_ok(),
                () = tokio::time::sleep(PERSIST_RETRY) => true,
            }
        } else {
            dirty.changed().await.is_ok()
        };
        if !changed {
            break;
        }
        tokio::time::sleep(PERSIST_DEBOUNCE).await;
        dirty.borrow_and_update();
        let Some(inner) = store.upgrade() else { break };
        let result = inner.write_now().await;
        let mut slot = inner.save_error.write().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => {
                if slot.take().is_some() {
                    tracing::info!("the status is saved again");
                }
                failing = false;
            }
            Err(e) => {
                let msg = e.to_string();
                if slot.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        "cannot save the status ({msg}); reconciling goes on, retrying every {}s",
                        PERSIST_RETRY.as_secs()
                    );
                }
                *slot = Some(msg);
                failing = true;
            }
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
