//! What is on a host right now, as plain data.
//!
//! The docker layer fills this from a handful of list calls (containers filtered by the owner
//! label, networks, volumes, images): O(1) calls per host whatever the number of containers.
//! `plan` reads it; it holds no Docker client types.

use std::collections::BTreeMap;

use crate::labels;

pub mod rollback;

pub use rollback::RollbackAttempt;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedHost {
    /// Negotiated Docker API version, e.g. `1.41`.
    pub api_version: String,
    /// Containers that carry the aegis owner label for this host.
    pub containers: Vec<ObservedContainer>,
    /// Every network on the host (owned or not): needed for `external` checks and conflicts.
    pub networks: Vec<ObservedNetwork>,
    /// Every volume on the host.
    pub volumes: Vec<ObservedVolume>,
    /// Image reference (as written in specs, e.g. `busybox:1.36`) → image ID, for the images
    /// present locally.
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
    pub health: Option<Health>,
    /// Exit code of an exited container, parsed from the list's status text.
    pub exit_code: Option<i64>,
    pub image_id: String,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
}

impl ObservedHost {
    /// The rollback attempts in flight on this host, read from their watchdogs' labels, with
    /// the watchdog container. A watchdog whose labels don't parse is skipped here (the
    /// recovery reports it).
    pub fn rollback_attempts(&self) -> Vec<(RollbackAttempt, &ObservedContainer)> {
        self.containers
            .iter()
            .filter(|c| rollback::is_watchdog(&c.labels))
            .filter_map(|c| RollbackAttempt::from_labels(&c.labels).ok().map(|a| (a, c)))
            .collect()
    }
}

impl ObservedContainer {
    pub fn spec_hash(&self) -> Option<&str> {
        self.labels.get(labels::SPEC_HASH).map(String::as_str)
    }
    pub fn resource(&self) -> Option<&str> {
        self.labels.get(labels::RESOURCE).map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Removing,
    Dead,
    Unknown,
}

impl ContainerState {
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "restarting" => Self::Restarting,
            "paused" => Self::Paused,
            "exited" => Self::Exited,
            "removing" => Self::Removing,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl ObservedNetwork {
    pub fn is_owned(&self) -> bool {
        self.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVolume {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl ObservedVolume {
    pub fn is_owned(&self) -> bool {
        self.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
    }
}
