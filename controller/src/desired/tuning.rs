//! Kernel and runtime settings of a container that compose passes straight to the engine's
//! `HostConfig`: CPU scheduling, block I/O throttling, OOM behaviour, user/cgroup namespace
//! modes, the OCI runtime. Every field is left out of the spec hash while unset, so that
//! containers created before these keys existed keep their hash.

use serde::Serialize;

/// compose `cpu_*`, `cpuset`, `blkio_config`, `mem_swappiness`, `oom_*`, `userns_mode`,
/// `runtime`, `isolation` and `cgroup`, as Compose v2 maps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Tuning {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<i64>,
    /// Microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    /// Microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    /// Microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_weight_device: Vec<DeviceRate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_read_bps: Vec<DeviceRate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_read_iops: Vec<DeviceRate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_write_bps: Vec<DeviceRate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_write_iops: Vec<DeviceRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `default`, `process` or `hyperv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// compose `cgroup`: `host` or `private` (the engine's `CgroupnsMode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroupns: Option<String>,
}

impl Tuning {
    pub fn is_unset(&self) -> bool {
        *self == Tuning::default()
    }
}

/// A block device and a number: a weight (10-1000), bytes or operations per second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRate {
    pub path: String,
    pub rate: i64,
}
