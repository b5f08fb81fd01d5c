//! The compose keys aegis supports, as typed structs.
//!
//! Every struct denies unknown fields, so a key we do not support is an error that names it,
//! never silently ignored. Numbers and booleans use the [`flex`](super::flex) types, because
//! after interpolation `cpus: ${CPUS}` is a string.

use indexmap::IndexMap;
use serde::Deserialize;

use super::flex::{
    Bool, CommandLine, ExtraHosts, Int, ListOrMap, NamesOrMap, OneOrMany, Scalar, StrOr, StringOrList,
};

/// One service. Keys compose knows but aegis does not support are caught earlier with a
/// hint (see `keys.rs`); anything else unknown fails here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: Option<String>,
    /// compose `build:`, parsed by `build.rs`.
    pub build: Option<serde_json::Value>,
    pub container_name: Option<String>,
    pub restart: Option<Scalar>,
    #[serde(default)]
    pub labels: ListOrMap,
    pub networks: Option<NamesOrMap<ServiceNetwork>>,
    pub network_mode: Option<String>,
    #[serde(default)]
    pub volumes: Vec<StrOr<VolumeLong>>,
    pub tmpfs: Option<StringOrList>,
    #[serde(default)]
    pub environment: ListOrMap,
    pub env_file: Option<OneOrMany<StrOr<EnvFileLong>>>,
    #[serde(default)]
    pub ports: Vec<StrOr<PortLong>>,
    #[serde(default)]
    pub expose: Vec<Scalar>,
    pub command: Option<CommandLine>,
    pub entrypoint: Option<CommandLine>,
    pub user: Option<Scalar>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub devices: Vec<StrOr<DeviceLong>>,
    pub dns: Option<StringOrList>,
    pub dns_search: Option<StringOrList>,
    #[serde(default)]
    pub dns_opt: Vec<String>,
    #[serde(default)]
    pub extra_hosts: ExtraHosts,
    pub healthcheck: Option<HealthcheckDef>,
    /// compose `secrets:` (names of top-level secrets, or the long form).
    pub secrets: Option<Vec<StrOr<ServiceSecretLong>>>,
    #[serde(default)]
    pub depends_on: NamesOrMap<DependsOnLong>,
    pub privileged: Option<Bool>,
    pub read_only: Option<Bool>,
    pub init: Option<Bool>,
    pub tty: Option<Bool>,
    pub stdin_open: Option<Bool>,
    #[serde(default)]
    pub security_opt: Vec<String>,
    #[serde(default)]
    pub sysctls: ListOrMap,
    #[serde(default)]
    pub ulimits: IndexMap<String, UlimitDef>,
    pub logging: Option<LoggingDef>,
    pub stop_grace_period: Option<Scalar>,
    pub stop_signal: Option<String>,
    pub mem_limit: Option<Scalar>,
    pub mem_reservation: Option<Scalar>,
    pub shm_size: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub cpu_shares: Option<Int>,
    pub pids_limit: Option<Int>,
    #[serde(default)]
    pub group_add: Vec<Scalar>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub deploy: Option<Deploy>,
    pub pull_policy: Option<String>,
    pub platform: Option<String>,
    pub scale: Option<Int>,
    pub gpus: Option<super::deploy::Gpus>,
    pub memswap_limit: Option<Scalar>,
    pub mac_address: Option<String>,
    pub uts: Option<String>,
    pub cgroup_parent: Option<String>,
    #[serde(default)]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default)]
    pub storage_opt: IndexMap<String, Scalar>,
    pub label_file: Option<StringOrList>,
    #[serde(default)]
    pub annotations: ListOrMap,
    #[serde(default)]
    pub links: Vec<String>,
    #[serde(default)]
    pub external_links: Vec<String>,
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `use_api_socket: true`: the engine's socket bound in (see `service.rs`).
    #[serde(default)]
    pub use_api_socket: bool,
    /// compose `configs:` (names of top-level configs, or the long form).
    pub configs: Option<Vec<StrOr<ServiceSecretLong>>>,
    // Runtime keys (see `cpu.rs`, `blkio.rs`).
    pub cpu_count: Option<Int>,
    pub cpu_percent: Option<Int>,
    pub cpu_period: Option<Int>,
    pub cpu_quota: Option<Int>,
    pub cpu_rt_period: Option<Int>,
    pub cpu_rt_runtime: Option<Int>,
    pub cpuset: Option<String>,
    pub blkio_config: Option<super::blkio::BlkioConfig>,
    pub mem_swappiness: Option<Int>,
    pub oom_kill_disable: Option<Bool>,
    pub oom_score_adj: Option<Int>,
    pub userns_mode: Option<String>,
    pub runtime: Option<String>,
    pub isolation: Option<String>,
    pub cgroup: Option<String>,
    /// Lifecycle hooks (see `hooks.rs`).
    #[serde(default)]
    pub post_start: Vec<super::hooks::HookDef>,
    #[serde(default)]
    pub pre_stop: Vec<super::hooks::HookDef>,
    /// Only `compose up`'s log attachment: nothing for aegis to do.
    #[allow(dead_code)]
    pub attach: Option<Bool>,
    /// Taken out before the decode (see `profiles.rs`).
    #[serde(default)]
    #[allow(dead_code)]
    pub profiles: Vec<String>,
}

/// The service keys [`Service`] accepts (checked against the struct by a test).
pub const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "secrets",
    "container_name",
    "restart",
    "labels",
    "networks",
    "network_mode",
    "volumes",
    "tmpfs",
    "environment",
    "env_file",
    "ports",
    "expose",
    "command",
    "entrypoint",
    "user",
    "working_dir",
    "hostname",
    "domainname",
    "cap_add",
    "cap_drop",
    "devices",
    "dns",
    "dns_search",
    "dns_opt",
    "extra_hosts",
    "healthcheck",
    "depends_on",
    "privileged",
    "read_only",
    "init",
    "tty",
    "stdin_open",
    "security_opt",
    "sysctls",
    "ulimits",
    "logging",
    "stop_grace_period",
    "stop_signal",
    "mem_limit",
    "mem_reservation",
    "shm_size",
    "cpus",
    "cpu_shares",
    "pids_limit",
    "group_add",
    "pid",
    "ipc",
    "deploy",
    "pull_policy",
    "platform",
    "scale",
    "gpus",
    "memswap_limit",
    "mac_address",
    "uts",
    "cgroup_parent",
    "device_cgroup_rules",
    "storage_opt",
    "label_file",
    "annotations",
    "links",
    "external_links",
    "volumes_from",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpuset",
    "blkio_config",
    "mem_swappiness",
    "oom_kill_disable",
    "oom_score_adj",
    "userns_mode",
    "runtime",
    "isolation",
    "cgroup",
    "attach",
    "profiles",
    "use_api_socket",
    "post_start",
    "pre_stop",
];

/// A service's entry under `networks:` (map form).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub mac_address: Option<String>,
}

/// Long `devices` syntax: `{source, target, permissions}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceLong {
    pub source: String,
    pub target: Option<String>,
    pub permissions: Option<String>,
}

/// Long volume syntax.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLong {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: Option<Bool>,
    pub bind: Option<BindOptions>,
    pub volume: Option<VolumeOptions>,
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    pub propagation: Option<String>,
    pub create_host_path: Option<Bool>,
    /// `z` or `Z`.
    pub selinux: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    pub nocopy: Option<Bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    pub size: Option<Scalar>,
    pub mode: Option<Scalar>,
}

/// Long `env_file` syntax.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFileLong {
    pub path: String,
    pub required: Option<Bool>,
}

/// Long port syntax.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortLong {
    pub target: Int,
    pub published: Option<Scalar>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
    /// `host` or `ingress`; without Swarm both publish on the host, as in compose.
    pub mode: Option<String>,
    /// A human-readable label; compose does not pass it to Docker either.
    #[allow(dead_code)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckDef {
    pub test: Option<CommandLine>,
    pub interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub retries: Option<Int>,
    pub start_period: Option<Scalar>,
    pub start_interval: Option<Scalar>,
    pub disable: Option<Bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsOnLong {
    pub condition: Option<String>,
    pub required: Option<Bool>,
    pub restart: Option<Bool>,
}

/// `nofile: 1024` or `nofile: {soft: 1024, hard: 2048}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum UlimitDef {
    Single(Int),
    Pair(UlimitPair),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UlimitPair {
    pub soft: Int,
    pub hard: Int,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingDef {
    pub driver: Option<String>,
    #[serde(default)]
    pub options: Option<ListOrMap>,
}

pub use super::deploy::Deploy;

/// A top-level network.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: IndexMap<String, Scalar>,
    pub internal: Option<Bool>,
    pub attachable: Option<Bool>,
    pub enable_ipv6: Option<Bool>,
    pub ipam: Option<IpamDef>,
    #[serde(default)]
    pub labels: ListOrMap,
    pub external: Option<External>,
    pub name: Option<String>,
}

/// `external: true`, or the legacy `external: {name: NAME}` (compose v2 still accepts it:
/// the name becomes the resource's name).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum External {
    Flag(Bool),
    Named(ExternalNamed),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalNamed {
    pub name: Option<String>,
}

impl External {
    /// Whether the resource is external, and the name the legacy form gives it.
    pub fn resolve(&self) -> (bool, Option<String>) {
        match self {
            External::Flag(b) => (b.0, None),
            External::Named(n) => (true, n.name.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamDef {
    pub driver: Option<String>,
    #[serde(default)]
    pub config: Vec<IpamConfigDef>,
    #[serde(default)]
    pub options: IndexMap<String, Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamConfigDef {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    #[serde(default)]
    pub aux_addresses: IndexMap<String, String>,
}

/// A service's `secrets:` entry in long form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSecretLong {
    pub source: String,
    pub target: Option<String>,
    pub uid: Option<Scalar>,
    pub gid: Option<Scalar>,
    pub mode: Option<Scalar>,
}

/// A top-level secret.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretDef {
    pub file: Option<String>,
    pub environment: Option<String>,
    pub external: Option<Bool>,
    pub name: Option<String>,
}

/// A top-level config: exactly one of `file`, `content` and `environment`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDef {
    pub file: Option<String>,
    pub content: Option<String>,
    pub environment: Option<String>,
    pub external: Option<External>,
    /// The Swarm object's name: nothing to name on one engine.
    #[allow(dead_code)]
    pub name: Option<String>,
    #[allow(dead_code)]
    pub template_driver: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub labels: ListOrMap,
}

/// A top-level volume.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: IndexMap<String, Scalar>,
    #[serde(default)]
    pub labels: ListOrMap,
    pub external: Option<External>,
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every key in [`SERVICE_KEYS`] is a field of [`Service`], and no field is missing from it.
    #[test]
    fn service_keys_match_the_struct() {
        for key in SERVICE_KEYS {
            let err = serde_json::from_value::<Service>(json!({ *key: {"__bogus": [1]} }));
            if let Err(e) = err {
                assert!(
                    !e.to_string().contains(&format!("unknown field `{key}`")),
                    "{key}: {e}"
                );
            }
        }
        let e = serde_json::from_value::<Service>(json!({"__nope": 1})).expect_err("unknown");
        let msg = e.to_string();
        let expected = msg.split("expected one of ").nth(1).expect("lists fields");
        assert_eq!(expected.matches('`').count() / 2, SERVICE_KEYS.len(), "{msg}");
    }
}
