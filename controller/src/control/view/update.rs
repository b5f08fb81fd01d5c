//! One Docker event applied to a host's view: pure, so every case is unit-tested.
//!
//! An event changes the view directly when it says everything needed (a destroy, a die with
//! its exit code, a rename, a network connect). When it does not (a container's create or
//! start: its image ID, networks and health are not in the event), it names what to refresh,
//! and the host view refreshes exactly that with one filtered list call per batch of events.

use std::collections::BTreeSet;

use crate::{
    docker::events::{DockerEvent, EventKind},
    labels,
    observed::{ContainerState, Health, ObservedHost},
};

/// What the view still has to fetch after a batch of events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// Container IDs to list again (gone from the list: dropped from the view).
    pub containers: BTreeSet<String>,
    /// Network IDs to list again.
    pub networks: BTreeSet<String>,
    /// Volume names to list again.
    pub volumes: BTreeSet<String>,
    /// The image list changed (pull, tag, delete).
    pub images: bool,
}

impl Refresh {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty() && !self.images
    }
}

/// Applies `ev` to `view` for host `host`, adding to `refresh` what the event does not say.
pub fn apply(view: &mut ObservedHost, host: &str, ev: &DockerEvent, refresh: &mut Refresh) {
    match ev.kind {
        EventKind::Container => container(view, host, ev, refresh),
        EventKind::Network => network(view, ev, refresh),
        EventKind::Volume => match ev.action.as_str() {
            "destroy" => view.volumes.retain(|v| v.name != ev.id),
            "create" => {
                refresh.volumes.insert(ev.id.clone());
            }
            _ => {}
        },
        EventKind::Image => image(view, ev, refresh),
    }
}

/// Whether a container event is about a container the view holds: aegis's, on this host
/// (what the container list is filtered by).
fn in_scope(host: &str, ev: &DockerEvent) -> bool {
    let a = &ev.attributes;
    a.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && a.get(labels::HOST).map(String::as_str) == Some(host)
}

fn container(view: &mut ObservedHost, host: &str, ev: &DockerEvent, refresh: &mut Refresh) {
    if ev.action == "destroy" {
        view.containers.retain(|c| c.id != ev.id);
        refresh.containers.remove(&ev.id);
        return;
    }
    if !in_scope(host, ev) {
        return;
    }
    let Some(c) = view.containers.iter_mut().find(|c| c.id == ev.id) else {
        // Not in the view yet (created since the listing): fetch it whole.
        if ev.action != "exec_create" && !ev.action.starts_with("exec_") {
            refresh.containers.insert(ev.id.clone());
        }
        return;
    };
    let action = ev.action.as_str();
    match action {
        "die" => {
            c.state = ContainerState::Exited;
            c.health = None;
            c.exit_code = ev.attributes.get("exitCode").and_then(|s| s.parse().ok());
        }
        "pause" => c.state = ContainerState::Paused,
        "unpause" => c.state = ContainerState::Running,
        "rename" => {
            if let Some(name) = ev.attributes.get("name") {
                c.name = name.trim_start_matches('/').to_string();
            }
        }
        "health_status: healthy" => c.health = Some(Health::Healthy),
        "health_status: unhealthy" => c.health = Some(Health::Unhealthy),
        "health_status: starting" => c.health = Some(Health::Starting),
        // A start resets health to "starting" if the container has a healthcheck: its spec
        // label says whether it has one (a container without it is fetched).
        "start" => match has_healthcheck(&c.labels) {
            Some(hc) => {
                c.state = ContainerState::Running;
                c.exit_code = None;
                c.health = hc.then_some(Health::Starting);
            }
            None => {
                refresh.containers.insert(ev.id.clone());
            }
        },
        // Create and update change what the list shows in ways the event does not carry.
        "create" | "update" => {
            refresh.containers.insert(ev.id.clone());
        }
        // kill, stop, oom, attach, exec_*, …: a die follows, or nothing the view holds changes.
        _ => {}
    }
}

/// Whether the container's spec (its `aegis.dev/spec` label) has a healthcheck (`NONE`
/// disables one); `None` without a readable label.
fn has_healthcheck(labels: &std::collections::BTreeMap<String, String>) -> Option<bool> {
    let spec: serde_json::Value = serde_json::from_str(labels.get(labels::SPEC)?).ok()?;
    let hc = spec.get("healthcheck")?;
    let disabled = hc.get("test").and_then(|t| t.get(0)).and_then(|t| t.as_str()) == Some("NONE");
    Some(hc.is_object() && !disabled)
}

/// Image events: a tag names its image ID, an untag or delete drops the ID's references (a
/// reference that still exists is found again by the next pull's inspect); a pull or load
/// says no ID: the image list is fetched.
fn image(view: &mut ObservedHost, ev: &DockerEvent, refresh: &mut Refresh) {
    match ev.action.as_str() {
        "tag" => {
            if let Some(name) = ev.attributes.get("name").filter(|_| ev.id.starts_with("sha256:")) {
                view.images.insert(name.clone(), ev.id.clone());
                view.images
                    .insert(crate::docker::images::normalize_reference(name), ev.id.clone());
            } else {
                refresh.images = true;
            }
        }
        "untag" | "delete" => view.images.retain(|_, id| id != &ev.id),
        "pull" | "load" | "import" => refresh.images = true,
        _ => {}
    }
}

fn network(view: &mut ObservedHost, ev: &DockerEvent, refresh: &mut Refresh) {
    let name = ev.attributes.get("name").cloned().unwrap_or_default();
    match ev.action.as_str() {
        "create" => {
            refresh.networks.insert(ev.id.clone());
        }
        "destroy" => {
            view.networks.retain(|n| n.id != ev.id);
            refresh.networks.remove(&ev.id);
        }
        "connect" | "disconnect" => {
            let Some(cid) = ev.attributes.get("container") else {
                return;
            };
            // Containers list networks by name: an event for a network this view does not
            // know by ID still names it.
            let name = view
                .networks
                .iter()
                .find(|n| n.id == ev.id)
                .map(|n| n.name.clone())
                .unwrap_or(name);
            if name.is_empty() {
                return;
            }
            if let Some(c) = view.containers.iter_mut().find(|c| &c.id == cid) {
                c.networks.retain(|n| n != &name);
                if ev.action == "connect" {
                    c.networks.push(name);
                    c.networks.sort();
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::observed::{ObservedContainer, ObservedNetwork, ObservedVolume};

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

    fn ours(action: &str, id: &str) -> DockerEvent {
        ev(
            EventKind::Container,
            action,
            id,
            &[
                (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
                (labels::HOST, "h"),
            ],
        )
    }

    fn view() -> ObservedHost {
        ObservedHost {
            containers: vec![ObservedContainer {
                id: "c1".into(),
                name: "web".into(),
                labels: BTreeMap::new(),
                state: ContainerState::Running,
                health: Some(Health::Healthy),
                exit_code: None,
                image_id: "sha256:i".into(),
                networks: vec!["front".into()],
            }],
            networks: vec![ObservedNetwork {
                id: "n1".into(),
                name: "front".into(),
                labels: BTreeMap::new(),
            }],
            volumes: vec![ObservedVolume {
                name: "data".into(),
                labels: BTreeMap::new(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_die_sets_exited_with_its_code_and_clears_health() {
        let mut v = view();
        let mut r = Refresh::default();
        let mut die = ours("die", "c1");
        die.attributes.insert("exitCode".into(), "137".into());
        apply(&mut v, "h", &die, &mut r);
        let c = &v.containers[0];
        assert_eq!(
            (c.state, c.exit_code, c.health),
            (ContainerState::Exited, Some(137), None)
        );
        assert!(r.is_empty(), "a die says everything: {r:?}");
    }

    #[test]
    fn a_destroy_removes_the_container_even_without_labels() {
        let mut v = view();
        let mut r = Refresh::default();
        r.containers.insert("c1".into());
        apply(
            &mut v,
            "h",
            &ev(EventKind::Container, "destroy", "c1", &[]),
            &mut r,
        );
        assert!(v.containers.is_empty());
        assert!(r.is_empty(), "nothing left to refresh for a destroyed container");
    }

    #[test]
    fn a_create_asks_for_a_refresh_of_that_container_only() {
        let mut v = view();
        let mut r = Refresh::default();
        apply(&mut v, "h", &ours("create", "c2"), &mut r);
        apply(&mut v, "h", &ours("start", "c1"), &mut r);
        assert_eq!(
            r.containers,
            BTreeSet::from(["c1".to_string(), "c2".to_string()]),
            "c1 has no spec label: fetched"
        );
        assert_eq!(v, view(), "the view waits for the refresh");
    }

    #[test]
    fn a_start_applies_directly_when_the_spec_label_says_whether_it_has_a_healthcheck() {
        for (spec, health) in [
            (r#"{"name":"web","healthcheck":null}"#, None),
            (
                r#"{"name":"web","healthcheck":{"test":["CMD","true"]}}"#,
                Some(Health::Starting),
            ),
            (r#"{"name":"web","healthcheck":{"test":["NONE"]}}"#, None),
        ] {
            let mut v = view();
            v.containers[0].state = ContainerState::Exited;
            v.containers[0].exit_code = Some(1);
            v.containers[0].labels.insert(labels::SPEC.into(), spec.into());
            let mut r = Refresh::default();
            apply(&mut v, "h", &ours("start", "c1"), &mut r);
            let c = &v.containers[0];
            assert_eq!(
                (c.state, c.exit_code, c.health),
                (ContainerState::Running, None, health)
            );
            assert!(r.is_empty(), "{r:?}");
        }
    }

    #[test]
    fn containers_of_other_hosts_or_not_aegis_are_ignored() {
        let mut v = view();
        let mut r = Refresh::default();
        let other = ev(
            EventKind::Container,
            "create",
            "x",
            &[
                (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
                (labels::HOST, "other"),
            ],
        );
        apply(&mut v, "h", &other, &mut r);
        apply(&mut v, "h", &ev(EventKind::Container, "create", "y", &[]), &mut r);
        assert!(r.is_empty(), "{r:?}");
    }

    #[test]
    fn rename_health_and_pause_apply_directly() {
        let mut v = view();
        let mut r = Refresh::default();
        let mut rename = ours("rename", "c1");
        rename.attributes.insert("name".into(), "/web2".into());
        apply(&mut v, "h", &rename, &mut r);
        apply(&mut v, "h", &ours("health_status: unhealthy", "c1"), &mut r);
        apply(&mut v, "h", &ours("pause", "c1"), &mut r);
        let c = &v.containers[0];
        assert_eq!(c.name, "web2");
        assert_eq!(c.health, Some(Health::Unhealthy));
        assert_eq!(c.state, ContainerState::Paused);
        assert!(r.is_empty());
    }

    #[test]
    fn network_connect_and_disconnect_update_the_container() {
        let mut v = view();
        let mut r = Refresh::default();
        apply(
            &mut v,
            "h",
            &ev(
                EventKind::Network,
                "connect",
                "n2",
                &[("name", "back"), ("container", "c1")],
            ),
            &mut r,
        );
        assert_eq!(
            v.containers[0].networks,
            vec!["back".to_string(), "front".to_string()]
        );
        apply(
            &mut v,
            "h",
            &ev(
                EventKind::Network,
                "disconnect",
                "n1",
                &[("name", "front"), ("container", "c1")],
            ),
            &mut r,
        );
        assert_eq!(v.containers[0].networks, vec!["back".to_string()]);
        assert!(r.is_empty());
    }

    #[test]
    fn network_create_refreshes_and_destroy_removes() {
        let mut v = view();
        let mut r = Refresh::default();
        apply(
            &mut v,
            "h",
            &ev(EventKind::Network, "create", "n9", &[("name", "x")]),
            &mut r,
        );
        assert_eq!(r.networks, BTreeSet::from(["n9".to_string()]));
        apply(
            &mut v,
            "h",
            &ev(EventKind::Network, "destroy", "n1", &[("name", "front")]),
            &mut r,
        );
        assert!(v.networks.is_empty());
    }

    #[test]
    fn volumes_and_images() {
        let mut v = view();
        let mut r = Refresh::default();
        apply(
            &mut v,
            "h",
            &ev(EventKind::Volume, "destroy", "data", &[]),
            &mut r,
        );
        assert!(v.volumes.is_empty());
        apply(&mut v, "h", &ev(EventKind::Volume, "create", "logs", &[]), &mut r);
        assert_eq!(r.volumes, BTreeSet::from(["logs".to_string()]));
        apply(
            &mut v,
            "h",
            &ev(EventKind::Image, "tag", "sha256:i", &[("name", "web:1")]),
            &mut r,
        );
        assert_eq!(v.images.get("web:1").map(String::as_str), Some("sha256:i"));
        apply(
            &mut v,
            "h",
            &ev(EventKind::Image, "untag", "sha256:i", &[]),
            &mut r,
        );
        assert!(v.images.is_empty());
        assert!(!r.images, "tag and untag say everything");
        apply(
            &mut v,
            "h",
            &ev(EventKind::Image, "pull", "web:2", &[("name", "web:2")]),
            &mut r,
        );
        assert!(r.images);
    }
}
