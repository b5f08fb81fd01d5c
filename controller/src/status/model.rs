//! The status of one resource, as the API serves it and `status.json` keeps it.

use std::{
    collections::{BTreeMap, VecDeque},
    fmt,
};

use serde::{Deserialize, Serialize};

use super::{
    conditions::{self, reason, ConditionStatus, ConditionType},
    time::Timestamp,
};
use crate::desired::Kind;

/// How many events a resource keeps; older ones fall off the front.
pub const EVENTS_MAX: usize = 50;

/// The identity of a status entry. Names are unique per kind across the whole desired
/// state; the host is part of the key so that listing by host needs no join.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StatusKey {
    pub kind: Kind,
    pub host: String,
    pub name: String,
}

impl StatusKey {
    pub fn new(kind: Kind, host: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind,
            host: host.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for StatusKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} on {}", self.kind, self.name, self.host)
    }
}

/// One condition, kstatus style. See [`conditions::set_condition`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: ConditionStatus,
    /// CamelCase, one of [`reason`]'s constants.
    pub reason: String,
    pub message: String,
    pub last_transition: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What happened, in the words of `aegisctl describe`'s REASON column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventReason {
    Created,
    Recreated,
    Pruned,
    DriftRepaired,
    Failed,
    RolledBack,
    Started,
    Suspended,
    Resumed,
    /// A source revision was rejected whole; the last good one keeps running.
    Rejected,
    /// An operator restarted containers (`aegisctl restart`).
    Restarted,
    /// A commit-confirmed change of a critical container began (its watchdog starts).
    Confirming,
    /// A commit-confirmed change of a critical container was confirmed.
    Confirmed,
    /// An agent repaired something on its host (a DnsGuard restored `resolv.conf`).
    AgentRepaired,
}

impl fmt::Display for EventReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub time: Timestamp,
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: EventReason,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InventoryKind {
    Container,
    Network,
    Volume,
}

impl fmt::Display for InventoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InventoryKind::Container => "container",
            InventoryKind::Network => "network",
            InventoryKind::Volume => "volume",
        })
    }
}

/// One Docker object a resource owns, as last observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub kind: InventoryKind,
    pub name: String,
    /// Like `docker ps`'s state: `running`, `exited (1)`, `restarting`, `created`; for
    /// networks and volumes `present`.
    pub state: String,
    /// The healthcheck's status (`healthy`, `unhealthy`, `starting`); `None` when the
    /// container has no healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

impl InventoryItem {
    pub fn container(name: impl Into<String>, state: impl Into<String>, health: Option<&str>) -> Self {
        Self {
            kind: InventoryKind::Container,
            name: name.into(),
            state: state.into(),
            health: health.map(str::to_owned),
        }
    }
}

/// Everything `aegisctl get` and `describe` show about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub kind: Kind,
    pub name: String,
    pub host: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub suspended: bool,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The git revision (or source digest) last applied successfully.
    #[serde(default)]
    pub observed_revision: Option<String>,
    #[serde(default)]
    pub last_applied: Option<Timestamp>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub inventory: Vec<InventoryItem>,
    /// Newest last; at most [`EVENTS_MAX`].
    #[serde(default)]
    pub events: VecDeque<Event>,
    pub created: Timestamp,
    /// A DnsGuard's agent status, a TunnelClient's connection (see [`super::agent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<super::agent::AgentReport>,
    /// Critical container specs a commit-confirmed change rolled back: not retried until a
    /// new revision changes them (see [`super::rollback`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<RolledBackSpec>,
}

/// One rolled-back change of a critical container: the spec that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolledBackSpec {
    pub container: String,
    /// The `aegis.dev/spec-hash` of the spec that was rolled back (`removal` for a removal).
    pub spec_hash: String,
    /// The watchdog attempt.
    pub attempt: String,
    /// The source revision that asked for it.
    pub revision: String,
}

impl ResourceStatus {
    pub fn new(key: &StatusKey) -> Self {
        Self {
            kind: key.kind,
            name: key.name.clone(),
            host: key.host.clone(),
            labels: BTreeMap::new(),
            suspended: false,
            conditions: Vec::new(),
            observed_revision: None,
            last_applied: None,
            last_error: None,
            inventory: Vec::new(),
            events: VecDeque::new(),
            created: Timestamp::now(),
            rolled_back: Vec::new(),
            agent: None,
        }
    }

    pub fn key(&self) -> StatusKey {
        StatusKey::new(self.kind, &self.host, &self.name)
    }

    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// See [`conditions::set_condition`].
    pub fn set_condition(
        &mut self,
        type_: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) -> bool {
        conditions::set_condition(&mut self.conditions, type_, status, reason, message)
    }

    /// Appends an event, dropping the oldest beyond [`EVENTS_MAX`].
    pub fn record_event(&mut self, type_: EventType, reason: EventReason, message: impl Into<String>) {
        while self.events.len() >= EVENTS_MAX {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            time: Timestamp::now(),
            type_,
            reason,
            message: message.into(),
        });
    }

    /// The READY column: the `Ready` condition's status, `Unknown` before the first pass.
    pub fn ready(&self) -> ConditionStatus {
        self.condition(ConditionType::Ready)
            .map_or(ConditionStatus::Unknown, |c| c.status)
    }

    /// The STATUS column, one word: `Suspended`, the reason of a true `Stalled` or
    /// `Reconciling`, else the `Ready` reason; `Pending` before the first pass.
    pub fn status_word(&self) -> &str {
        if self.suspended {
            return reason::SUSPENDED;
        }
        for t in [ConditionType::Stalled, ConditionType::Reconciling] {
            if let Some(c) = self.condition(t).filter(|c| c.status == ConditionStatus::True) {
                return &c.reason;
            }
        }
        self.condition(ConditionType::Ready)
            .map_or("Pending", |c| c.reason.as_str())
    }

    /// The MESSAGE column: why it is not ready or stalled (the first non-empty message of
    /// a true `Stalled`, a non-true `Ready`, or the last error). Empty when all is well.
    pub fn message(&self) -> &str {
        let stalled = self
            .condition(ConditionType::Stalled)
            .filter(|c| c.status == ConditionStatus::True);
        let unready = self
            .condition(ConditionType::Ready)
            .filter(|c| c.status != ConditionStatus::True);
        if stalled.is_none() && unready.is_none() {
            return "";
        }
        [stalled, unready]
            .into_iter()
            .flatten()
            .map(|c| c.message.as_str())
            .chain(self.last_error.as_deref())
            .find(|m| !m.is_empty())
            .unwrap_or("")
    }

    /// Containers running / containers in the inventory, for `-o wide`.
    pub fn containers_running(&self) -> (usize, usize) {
        let containers = self
            .inventory
            .iter()
            .filter(|i| i.kind == InventoryKind::Container);
        let total = containers.clone().count();
        let running = containers.filter(|i| i.state == "running").count();
        (running, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> ResourceStatus {
        ResourceStatus::new(&StatusKey::new(Kind::Stack, "local", "demo"))
    }

    #[test]
    fn events_are_a_ring_of_fifty() {
        let mut s = status();
        for i in 0..60 {
            s.record_event(EventType::Normal, EventReason::Created, format!("event {i}"));
        }
        assert_eq!(s.events.len(), EVENTS_MAX);
        assert_eq!(s.events.front().unwrap().message, "event 10");
        assert_eq!(s.events.back().unwrap().message, "event 59");
    }

    #[test]
    fn status_word_prefers_suspended_then_stalled() {
        let mut s = status();
        assert_eq!(s.status_word(), "Pending");
        assert_eq!(s.ready(), ConditionStatus::Unknown);
        s.set_condition(
            ConditionType::Ready,
            ConditionStatus::False,
            "ContainerUnhealthy",
            "c is unhealthy",
        );
        assert_eq!(s.status_word(), "ContainerUnhealthy");
        assert_eq!(s.message(), "c is unhealthy");
        s.set_condition(
            ConditionType::Stalled,
            ConditionStatus::True,
            "HostUnreachable",
            "no route",
        );
        assert_eq!(s.status_word(), "HostUnreachable");
        assert_eq!(s.message(), "no route");
        s.suspended = true;
        assert_eq!(s.status_word(), "Suspended");
    }

    #[test]
    fn wire_format_uses_camel_case_and_type() {
        let mut s = status();
        s.set_condition(
            ConditionType::Ready,
            ConditionStatus::True,
            "ReconciliationSucceeded",
            "",
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "Stack");
        assert_eq!(v["conditions"][0]["type"], "Ready");
        assert_eq!(v["conditions"][0]["status"], "True");
        assert!(v["conditions"][0]["lastTransition"].is_string());
        assert!(v.get("observedRevision").is_some());
    }
}
