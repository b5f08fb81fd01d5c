//! The desired configuration of one container, resolved from a compose service.
//!
//! Everything that goes into Docker's create call is here, already interpolated, with
//! defaults applied and units converted, so that two equal specs create equal containers and
//! the spec hash changes exactly when the container would change. Maps are `BTreeMap`s so
//! that serialization (and therefore the hash) is deterministic.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Serialize, Serializer};

/// One container of a Stack.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ContainerSpec {
    /// Docker container name: `container_name`, or `<stack>-<service>-1`.
    pub name: String,
    /// The Stack (compose project) it belongs to.
    pub stack: String,
    /// The compose service it comes from.
    pub service: String,
    /// Image reference as written (`busybox:1.36`). The image *ID* is added to the hash at
    /// plan time, so a re-tagged image recreates the container.
    pub image: String,
    /// User labels (ownership labels are added by the docker layer).
    pub labels: BTreeMap<String, String>,
    /// Final environment after `env_file`, `environment` and interpolation.
    pub env: BTreeMap<String, super::EnvValue>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub restart: RestartPolicy,
    pub network_mode: NetworkMode,
    /// Networks to join (only when `network_mode` is [`NetworkMode::Networks`]), by Docker name.
    pub networks: Vec<NetworkAttachment>,
    pub mounts: Vec<Mount>,
    /// Compose `secrets:`, and `configs:` that are not plain repository files (SOPS files,
    /// `content:`, `environment:`): files written into the container before it starts.
    pub secret_files: Vec<super::SecretFile>,
    /// Service-level `tmpfs:` entries: target → options (e.g. `size=64m`), as compose maps them
    /// to `HostConfig.Tmpfs`.
    pub tmpfs: BTreeMap<String, String>,
    pub ports: Vec<PortBinding>,
    /// `expose:` ports, as `80/tcp`.
    pub expose: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub devices: Vec<Device>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    /// `host:ip` entries.
    pub extra_hosts: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub privileged: bool,
    pub read_only: bool,
    pub init: Option<bool>,
    pub tty: bool,
    pub stdin_open: bool,
    pub security_opt: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub logging: Option<Logging>,
    pub stop_signal: Option<String>,
    /// Seconds (compose `stop_grace_period`).
    pub stop_timeout: Option<i64>,
    /// Bytes (compose `mem_limit`).
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// Billionths of a CPU (compose `cpus`).
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    pub shm_size: Option<i64>,
    pub group_add: Vec<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    // Keys added after the first release: not serialized while unset, so that containers
    // created before keep their spec hash (and are not recreated by an upgrade).
    /// Bytes (compose `memswap_limit`; -1 = unlimited swap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    /// compose `uts` (`host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// GPUs and CDI devices (`deploy.resources.reservations.devices`, `gpus`, CDI names in
    /// `devices`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_requests: Vec<DeviceRequest>,
    /// Legacy links, `container:alias`, as compose v2 sends them (`HostConfig.Links`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// `volumes_from`, `container[:ro|:rw]` by container name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// compose `platform:`, normalised (`linux/amd64`): sent on pull and on create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// CPU, block I/O, OOM, namespace and runtime settings (see [`super::Tuning`]).
    #[serde(skip_serializing_if = "super::Tuning::is_unset")]
    pub tuning: super::Tuning,
    /// compose `post_start`: run after each start aegis does (see `docker/hooks.rs`). In the
    /// hash because Compose v2's config hash holds them: a changed hook recreates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<super::Hook>,
    /// compose `pre_stop`: run before `aegisctl restart` stops the container.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<super::Hook>,
    /// The replica number (compose's `com.docker.compose.container-number`), 1 for a service
    /// that runs one container.
    #[serde(skip_serializing_if = "is_first")]
    pub number: u32,
    /// Ordering only: not part of the container's configuration, so not hashed.
    #[serde(skip)]
    pub depends_on: Vec<DependsOn>,
    /// compose `depends_on.<svc>.restart: true`: services whose recreation must also restart
    /// this container. Behaviour, not configuration, so not hashed.
    #[serde(skip)]
    pub restart_with: Vec<String>,
    /// compose `pull_policy`; `None` means compose's default (`missing`). It decides when to
    /// pull, not what the container is, so it is not hashed.
    #[serde(skip)]
    pub pull_policy: Option<PullPolicy>,
    /// compose `build:`: the image is built on the host and tagged by its content hash. Not
    /// hashed itself: a changed build gives a changed image ID, which is.
    #[serde(skip)]
    pub build: Option<Box<super::BuildSpec>>,
}

fn is_first(n: &u32) -> bool {
    *n <= 1
}

/// A device request (`HostConfig.DeviceRequests`): GPUs, CDI devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DeviceRequest {
    pub driver: Option<String>,
    /// -1 = all.
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<Vec<String>>,
    pub options: BTreeMap<String, String>,
}

/// compose `pull_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only when the image is not present (compose `missing` / `if_not_present`).
    #[default]
    Missing,
    /// Pull on every apply.
    Always,
    /// Never pull; the image must already be on the host.
    Never,
}

/// Compose `restart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum RestartPolicy {
    /// No `restart:` key: no policy is sent, and `docker inspect` shows `Name: ""`.
    #[default]
    No,
    /// `restart: "no"` written out. It behaves as [`RestartPolicy::No`], but compose sends
    /// it as the policy `no`, so `docker inspect` shows `Name: "no"`.
    ExplicitNo,
    Always,
    UnlessStopped,
    OnFailure {
        max_retries: Option<i64>,
    },
}

/// Compose `network_mode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum NetworkMode {
    /// Join the networks in [`ContainerSpec::networks`] (compose's default).
    #[default]
    Networks,
    Host,
    None,
    /// `service:X`: share the network namespace of service X of the same stack.
    Service(String),
    /// `container:NAME`: share the namespace of an existing container.
    Container(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkAttachment {
    /// Docker network name (already `<stack>_<name>` for stack-local networks).
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    /// compose `mac_address` (per network, or the service's on its first network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub target: String,
    pub read_only: bool,
    pub kind: MountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountKind {
    Bind {
        source: BindSource,
        /// compose long syntax `bind.propagation`
        propagation: Option<String>,
        /// compose long syntax `bind.create_host_path` (short syntax implies true).
        create_host_path: bool,
        /// SELinux relabelling, `z` or `Z` (short syntax; long syntax `bind.selinux`), passed
        /// to Docker, which relabels. Not serialized when unset (hash stability).
        #[serde(skip_serializing_if = "Option::is_none")]
        relabel: Option<String>,
    },
    /// A named volume (Docker name, already `<stack>_<name>` unless external), or anonymous.
    Volume {
        name: Option<String>,
        nocopy: bool,
        /// `z` or `Z` (short syntax, as on binds): passed on in the bind string, as Compose v2
        /// does. Not serialized when unset (hash stability).
        #[serde(skip_serializing_if = "Option::is_none")]
        relabel: Option<String>,
    },
    Tmpfs {
        size: Option<i64>,
        mode: Option<u32>,
    },
}

/// Where a bind mount's source lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BindSource {
    /// An absolute path on the target host, passed through untouched. Also a state directory
    /// in the stack's project directory (see [`crate::compose::state_dir`]).
    Host(String),
    /// A file or directory from the repository (a relative path in compose). The docker layer
    /// delivers it to the host under a content-addressed directory; the hash makes a content
    /// change recreate the container.
    Repo(RepoFile),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Absolute path of the file or directory in the local checkout.
    pub local: PathBuf,
    /// Hex SHA-256 of the content (for a directory: of its paths, modes and contents).
    pub content_hash: String,
    pub is_dir: bool,
    /// What is delivered, decided when the revision was resolved: the file itself, or the
    /// directory and everything below it, symlinks already followed inside the source root
    /// (see [`crate::source::root`]). Delivery copies exactly this list and follows nothing.
    pub tree: Vec<crate::source::root::TreeEntry>,
}

impl RepoFile {
    /// The last path component, used as the name on the host.
    pub fn file_name(&self) -> String {
        self.local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into())
    }
}

/// Only the name and the content hash matter for the container: the checkout location does not.
impl Serialize for RepoFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RepoFile", 3)?;
        st.serialize_field("name", &self.file_name())?;
        st.serialize_field("content_hash", &self.content_hash)?;
        st.serialize_field("is_dir", &self.is_dir)?;
        st.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortBinding {
    pub host_ip: Option<String>,
    /// `None`: an ephemeral host port.
    pub host_port: Option<String>,
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub host: String,
    pub container: String,
    pub permissions: String,
}

/// Durations are in nanoseconds, as the Docker API wants them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// e.g. `["CMD-SHELL", "wget -q -O- localhost"]`, or `["NONE"]` for `disable: true`.
    pub test: Vec<String>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub retries: Option<i64>,
    pub start_period: Option<i64>,
    pub start_interval: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

/// Compose `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependsOn {
    pub service: String,
    pub condition: DependsCondition,
    /// compose `required: false`: a missing dependency is not an error.
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependsCondition {
    Started,
    Healthy,
    CompletedSuccessfully,
}
