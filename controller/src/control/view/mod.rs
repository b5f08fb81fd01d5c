//! One view of each host: its containers, networks, volumes and images as the list calls
//! return them ([`ObservedHost`]), kept by the host's events stream (kube-runtime's
//! reflector and store, for Docker).
//!
//! The host's event watcher ([`super::events`]) owns the filling: one listing when it
//! connects (and after every reconnect), every event applied as it arrives ([`update`]), the
//! few objects an event does not describe fetched by ID ([`crate::docker::observe_some`]), and
//! a relist every resync interval to correct anything missed. While the stream is down the
//! view is empty, never stale: a reconcile then waits for the relist, or lists itself.
//!
//! Reconciles plan from the view ([`HostView::current`]). A reconcile that changed something
//! registers what it is about to change ([`Expected`]), so that the watcher does not requeue
//! it for its own events (kube-runtime's debounce), and waits until the view shows its writes
//! ([`settled::reflects`]) before it reports, with a bounded wait and a relist behind it.

pub mod settled;
pub mod update;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    docker::events::{DockerEvent, EventKind},
    observed::{ObservedContainer, ObservedHost, ObservedNetwork, ObservedVolume},
    status::StatusKey,
};

pub use update::Refresh;

/// Every host's view, by host name.
#[derive(Debug, Clone, Default)]
pub struct Views(Arc<Mutex<HashMap<String, Arc<HostView>>>>);

impl Views {
    /// The view of `host`, made empty on first use.
    pub fn of(&self, host: &str) -> Arc<HostView> {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry(host.to_string())
            .or_insert_with(|| Arc::new(HostView::new(host)))
            .clone()
    }

    /// Drops the view of a host that left the desired state.
    pub fn remove(&self, host: &str) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = m.remove(host) {
            v.clear();
        }
    }
}

/// What a running reconcile is about to change: events about these objects are its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Containers it stops or removes (by ID).
    pub container_ids: BTreeSet<String>,
    /// Containers it creates or renames (by name, the temporary replacement name included).
    pub container_names: BTreeSet<String>,
    /// Networks it removes or recreates (by ID and by name).
    pub network_ids: BTreeSet<String>,
    pub network_names: BTreeSet<String>,
}

impl Expected {
    /// Whether `ev` is one of the events these changes cause.
    pub fn covers(&self, ev: &DockerEvent) -> bool {
        let a = &ev.attributes;
        let named = |k: &str| {
            a.get(k)
                .is_some_and(|n| self.container_names.contains(n.trim_start_matches('/')))
        };
        match ev.kind {
            EventKind::Container => self.container_ids.contains(&ev.id) || named("name") || named("oldName"),
            EventKind::Network => {
                self.network_ids.contains(&ev.id)
                    || a.get("name").is_some_and(|n| self.network_names.contains(n))
                    || a.get("container").is_some_and(|c| self.container_ids.contains(c))
            }
            EventKind::Volume | EventKind::Image => false,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    observed: Option<Arc<ObservedHost>>,
    expected: BTreeMap<StatusKey, Expected>,
}

/// The view of one host.
#[derive(Debug)]
pub struct HostView {
    host: String,
    state: Mutex<State>,
    /// Bumped on every change, so waiters wake.
    version: watch::Sender<u64>,
}

impl HostView {
    fn new(host: &str) -> Self {
        Self {
            host: host.to_string(),
            state: Mutex::new(State::default()),
            version: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// The view, if it has been listed since the stream last connected.
    pub fn current(&self) -> Option<Arc<ObservedHost>> {
        self.lock().observed.clone()
    }

    /// Replaces the view with a fresh listing.
    pub fn set(&self, observed: ObservedHost) {
        self.lock().observed = Some(Arc::new(observed));
        self.bump();
    }

    /// Forgets the view (the stream broke: events may be missed until the relist).
    pub fn clear(&self) {
        self.lock().observed = None;
        self.bump();
    }

    /// Applies a batch of events; what they did not describe is returned, to fetch.
    pub fn apply(&self, events: &[DockerEvent]) -> Refresh {
        let mut refresh = Refresh::default();
        {
            let mut st = self.lock();
            let Some(obs) = st.observed.as_mut() else {
                return refresh;
            };
            let obs = Arc::make_mut(obs);
            for ev in events {
                update::apply(obs, &self.host, ev, &mut refresh);
            }
        }
        self.bump();
        refresh
    }

    /// Puts fetched objects in: `asked` are the IDs (names, for volumes) that were fetched,
    /// so one asked for and not returned is gone.
    pub fn merge(&self, asked: &Refresh, fetched: Fetched) {
        {
            let mut st = self.lock();
            let Some(obs) = st.observed.as_mut() else { return };
            let obs = Arc::make_mut(obs);
            replace_by(&mut obs.containers, &asked.containers, fetched.containers, |c| {
                &c.id
            });
            replace_by(&mut obs.networks, &asked.networks, fetched.networks, |n| &n.id);
            replace_by(&mut obs.volumes, &asked.volumes, fetched.volumes, |v| &v.name);
            if let Some(images) = fetched.images {
                obs.images = images;
            }
        }
        self.bump();
    }

    /// Records an image the controller has just made present.
    pub fn add_image(&self, reference: &str, id: &str) {
        {
            let mut st = self.lock();
            let Some(obs) = st.observed.as_mut() else { return };
            Arc::make_mut(obs)
                .images
                .insert(reference.to_string(), id.to_string());
        }
        self.bump();
    }

    /// Waits up to `timeout` until `ready` holds for the view (checked at once and on every
    /// change); the view it held for.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&ObservedHost) -> bool,
    ) -> Option<Arc<ObservedHost>> {
        let mut rx = self.version.subscribe();
        let check = tokio::time::timeout(timeout, async {
            loop {
                if let Some(obs) = self.current().filter(|o| ready(o)) {
                    return Some(obs);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        });
        check.await.ok().flatten()
    }

    /// Registers what `key`'s reconcile is about to change.
    pub fn expect(&self, key: &StatusKey, expected: Expected) {
        self.lock().expected.insert(key.clone(), expected);
    }

    /// Ends `key`'s expectations (its reconcile saw its writes, or gave up waiting).
    pub fn unexpect(&self, key: &StatusKey) {
        self.lock().expected.remove(key);
    }

    /// Whether `ev` is caused by a reconcile of this host that is changing things right now.
    pub fn is_expected(&self, ev: &DockerEvent) -> bool {
        self.lock().expected.values().any(|e| e.covers(ev))
    }
}

/// Objects fetched for a [`Refresh`].
#[derive(Debug, Default)]
pub struct Fetched {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<ObservedNetwork>,
    pub volumes: Vec<ObservedVolume>,
    pub images: Option<BTreeMap<String, String>>,
}

/// Whether two listings describe the same host, whatever the order of their lists (a view
/// kept by events orders them differently from a fresh listing).
pub fn same(a: &ObservedHost, b: &ObservedHost) -> bool {
    fn by<T: Clone, K: Ord>(v: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
        let mut v = v.to_vec();
        v.sort_by_key(|x| key(x));
        v
    }
    by(&a.containers, |c| c.id.clone()) == by(&b.containers, |c| c.id.clone())
        && by(&a.networks, |n| n.id.clone()) == by(&b.networks, |n| n.id.clone())
        && by(&a.volumes, |v| v.name.clone()) == by(&b.volumes, |v| v.name.clone())
        && a.images == b.images
}

/// Drops the entries of `list` whose key was `asked` for, then adds what was `fetched`.
fn replace_by<T>(list: &mut Vec<T>, asked: &BTreeSet<String>, fetched: Vec<T>, key: impl Fn(&T) -> &String) {
    if asked.is_empty() {
        return;
    }
    list.retain(|x| !asked.contains(key(x)));
    list.extend(fetched);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Kind;

    fn ev(kind: EventKind, action: &str, id: &str, attrs: &[(&str, &str)]) -> DockerEvent {
        DockerEvent {
            kind,
            action: action.into(),
            id: id.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            time_nano: 0,
        }
    }

    #[test]
    fn a_replace_covers_its_own_events_and_nothing_else() {
        let e = Expected {
            container_ids: BTreeSet::from(["old".to_string()]),
            container_names: BTreeSet::from(["web".to_string(), "web-aegis-new".to_string()]),
            ..Default::default()
        };
        assert!(e.covers(&ev(EventKind::Container, "die", "old", &[])));
        assert!(e.covers(&ev(EventKind::Container, "destroy", "old", &[])));
        assert!(e.covers(&ev(
            EventKind::Container,
            "rename",
            "new",
            &[("name", "web"), ("oldName", "/web-aegis-new")]
        )));
        assert!(e.covers(&ev(
            EventKind::Network,
            "disconnect",
            "n",
            &[("name", "front"), ("container", "old")]
        )));
        assert!(!e.covers(&ev(EventKind::Container, "die", "other", &[("name", "db")])));
        assert!(!e.covers(&ev(
            EventKind::Network,
            "disconnect",
            "n",
            &[("name", "front"), ("container", "other")]
        )));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_when_the_view_changes_and_gives_up_after_its_timeout() {
        let v = Arc::new(HostView::new("h"));
        assert!(
            v.wait_for(Duration::from_secs(1), |_| true).await.is_none(),
            "no listing yet"
        );
        let waiter = {
            let v = v.clone();
            tokio::spawn(async move {
                v.wait_for(Duration::from_secs(60), |o| {
                    o.networks.iter().any(|n| n.name == "x")
                })
                .await
                .is_some()
            })
        };
        v.set(ObservedHost::default());
        v.merge(
            &Refresh {
                networks: BTreeSet::from(["n1".to_string()]),
                ..Default::default()
            },
            Fetched {
                networks: vec![ObservedNetwork {
                    id: "n1".into(),
                    name: "x".into(),
                    labels: BTreeMap::new(),
                }],
                ..Default::default()
            },
        );
        assert!(waiter.await.expect("waiter"));
        let key = StatusKey::new(Kind::Stack, "h", "s");
        v.expect(
            &key,
            Expected {
                container_ids: BTreeSet::from(["c".to_string()]),
                ..Default::default()
            },
        );
        assert!(v.is_expected(&ev(EventKind::Container, "die", "c", &[])));
        v.unexpect(&key);
        assert!(!v.is_expected(&ev(EventKind::Container, "die", "c", &[])));
    }
}
