//! `ContainerSpec` → Docker's create body, the way Docker Compose v2 builds it.
//!
//! Pure: no Docker needed, unit-tested below. Choices checked against `docker inspect` of
//! containers created by docker-compose 1.29.2 on engine 20.10 (API 1.41):
//!
//! - Short-syntax binds and named volumes go to `HostConfig.Binds` (`src:dst:rw|ro`, the
//!   container path cleaned of a trailing `/`), anonymous volumes to `Config.Volumes`, as
//!   Compose v2 does. `Binds` creates a missing host directory, which short-syntax compose
//!   binds promise (and long-syntax ones without a `bind:` block). Binds that must not create
//!   their source (long syntax with `bind:` but not `create_host_path: true`) or that have a
//!   propagation, volumes with `nocopy`, and tmpfs mounts go to `HostConfig.Mounts`, as
//!   Compose v2 does.
//! - Ports: `PortBindings` per `port/proto` (an ephemeral port is `HostPort: ""`), and
//!   `ExposedPorts` holds every published and every `expose:` port.
//! - No `restart:` key sends no policy (inspect shows `Name: ""`); `restart: "no"` sends the
//!   policy `no`, as docker-compose does (inspect shows `Name: "no"`).
//! - The container joins one network at create (`NetworkMode` = that network's name); API
//!   1.41 cannot take more, so the rest are connected before start (see `containers.rs`).
//!   Every attachment carries the container name and the service name as aliases, as
//!   Compose v2 adds them, then the file's own aliases.
//! - Capabilities carry the `CAP_` prefix, and an `expose:` port is sent as written
//!   (`5432`), as Compose v2 sends them.
//! - Labels: the user's, compose's project/service/number/oneoff labels (so `docker compose
//!   ps` and Komodo see the container), then aegis's ownership labels, which win.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, DeviceRequest, EndpointIpamConfig, EndpointSettings, HealthConfig,
    HostConfig, HostConfigLogConfig, Mount as ApiMount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTmpfsOptions, MountType, MountVolumeOptions, NetworkingConfig, PortBinding as ApiPortBinding,
    ResourcesUlimits, RestartPolicy as ApiRestartPolicy, RestartPolicyNameEnum,
};

use super::files;
use crate::{
    desired::{BindSource, ContainerSpec, Mount, MountKind, NetworkAttachment, NetworkMode, RestartPolicy},
    labels,
};

/// What `create_body` needs beyond the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateContext {
    /// Labels to add on top of the spec's (ownership, spec hash, revision...). They win over
    /// user labels of the same name.
    pub labels: BTreeMap<String, String>,
    /// Host path of each repo bind mount, by mount target. A target missing here falls back
    /// to [`files::host_path`].
    pub repo_paths: BTreeMap<String, String>,
    /// The container name that `network_mode: service:X` refers to. `None` falls back to
    /// compose's default name `<stack>-<X>-1`.
    pub service_container: Option<String>,
    /// The network joined at create (the others are connected before start). `None`: the
    /// first of the spec's networks.
    pub create_network: Option<String>,
}

impl CreateContext {
    /// A context with these extra labels and every default.
    pub fn with_labels(labels: BTreeMap<String, String>) -> Self {
        Self {
            labels,
            ..Self::default()
        }
    }
}

/// The create body for `spec`. The container name is not part of it (it is a query
/// parameter of the create call).
pub fn create_body(spec: &ContainerSpec, ctx: &CreateContext) -> ContainerCreateBody {
    let mounts = map_mounts(spec, ctx);
    let (port_bindings, exposed) = map_ports(spec);
    let mut host_config = HostConfig {
        binds: Some(mounts.binds),
        mounts: non_empty(mounts.mounts),
        port_bindings: Some(port_bindings),
        network_mode: network_mode(spec, ctx),
        restart_policy: restart_policy(&spec.restart),
        cap_add: non_empty(capabilities(&spec.cap_add)),
        cap_drop: non_empty(capabilities(&spec.cap_drop)),
        devices: non_empty(
            spec.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.host.clone()),
                    path_in_container: Some(d.container.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect(),
        ),
        dns: non_empty(spec.dns.clone()),
        dns_search: non_empty(spec.dns_search.clone()),
        dns_options: non_empty(spec.dns_opt.clone()),
        extra_hosts: non_empty(spec.extra_hosts.clone()),
        ulimits: non_empty(
            spec.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        ),
        sysctls: non_empty_map(&spec.sysctls),
        tmpfs: non_empty_map(&spec.tmpfs),
        log_config: spec.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: (!l.options.is_empty()).then(|| hash_map(&l.options)),
        }),
        privileged: spec.privileged.then_some(true),
        readonly_rootfs: spec.read_only.then_some(true),
        init: spec.init,
        security_opt: non_empty(spec.security_opt.clone()),
        group_add: non_empty(spec.group_add.clone()),
        memory: spec.memory,
        memory_reservation: spec.memory_reservation,
        nano_cpus: spec.nano_cpus,
        cpu_shares: spec.cpu_shares,
        pids_limit: spec.pids_limit,
        shm_size: spec.shm_size,
        pid_mode: spec.pid.clone(),
        ipc_mode: spec.ipc.clone(),
        memory_swap: spec.memory_swap,
        uts_mode: spec.uts.clone(),
        cgroup_parent: spec.cgroup_parent.clone(),
        device_cgroup_rules: non_empty(spec.device_cgroup_rules.clone()),
        storage_opt: non_empty_map(&spec.storage_opt),
        annotations: non_empty_map(&spec.annotations),
        device_requests: non_empty(spec.device_requests.iter().map(device_request).collect()),
        links: non_empty(spec.links.clone()),
        volumes_from: non_empty(spec.volumes_from.clone()),
        ..Default::default()
    };
    super::host_tuning::apply(&spec.tuning, &mut host_config);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        user: spec.user.clone(),
        working_dir: spec.working_dir.clone(),
        // The only place a secret value leaves its wrapper: into the create call's env.
        env: non_empty(
            spec.env
                .iter()
                .map(|(k, v)| format!("{k}={}", v.expose()))
                .collect(),
        ),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        labels: Some(container_labels(spec, ctx)),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin_open),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: spec.stop_timeout,
        exposed_ports: non_empty(exposed),
        volumes: non_empty(mounts.volumes),
        healthcheck: spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval,
            timeout: h.timeout,
            retries: h.retries,
            start_period: h.start_period,
            start_interval: h.start_interval,
        }),
        host_config: Some(host_config),
        networking_config: create_attachment(spec, ctx).map(|a| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                a.network.clone(),
                EndpointSettings {
                    links: non_empty(spec.links.clone()),
                    ..endpoint_settings(&a)
                },
            )])),
        }),
        ..Default::default()
    }
}

/// The spec's networks with compose's service-name alias added, in spec order. Empty unless
/// the network mode is [`NetworkMode::Networks`].
pub fn network_attachments(spec: &ContainerSpec) -> Vec<NetworkAttachment> {
    if spec.network_mode != NetworkMode::Networks {
        return Vec::new();
    }
    spec.networks
        .iter()
        .map(|n| {
            let mut a = n.clone();
            let mut aliases = vec![spec.name.clone()];
            if !spec.service.is_empty() {
                aliases.push(spec.service.clone());
            }
            for alias in std::mem::take(&mut a.aliases) {
                if !aliases.contains(&alias) {
                    aliases.push(alias);
                }
            }
            a.aliases = aliases;
            a
        })
        .collect()
}

/// The attachments to connect after create (all but the one joined at create).
pub fn extra_networks(spec: &ContainerSpec, ctx: &CreateContext) -> Vec<NetworkAttachment> {
    let first = create_attachment(spec, ctx).map(|a| a.network);
    network_attachments(spec)
        .into_iter()
        .filter(|a| Some(&a.network) != first.as_ref())
        .collect()
}

/// Endpoint settings for one attachment: aliases and static addresses.
pub fn endpoint_settings(a: &NetworkAttachment) -> EndpointSettings {
    let ipam = (a.ipv4_address.is_some() || a.ipv6_address.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: a.ipv4_address.clone(),
        ipv6_address: a.ipv6_address.clone(),
        ..Default::default()
    });
    EndpointSettings {
        aliases: non_empty(a.aliases.clone()),
        ipam_config: ipam,
        mac_address: a.mac_address.clone(),
        ..Default::default()
    }
}

fn device_request(r: &crate::desired::DeviceRequest) -> DeviceRequest {
    DeviceRequest {
        driver: r.driver.clone(),
        count: r.count,
        device_ids: non_empty(r.device_ids.clone()),
        capabilities: non_empty(r.capabilities.clone()),
        options: (!r.options.is_empty()).then(|| hash_map(&r.options)),
    }
}

fn create_attachment(spec: &ContainerSpec, ctx: &CreateContext) -> Option<NetworkAttachment> {
    let all = network_attachments(spec);
    match &ctx.create_network {
        Some(name) => all.into_iter().find(|a| &a.network == name),
        None => all.into_iter().next(),
    }
}

fn network_mode(spec: &ContainerSpec, ctx: &CreateContext) -> Option<String> {
    match &spec.network_mode {
        NetworkMode::Networks => create_attachment(spec, ctx).map(|a| a.network),
        NetworkMode::Host => Some("host".into()),
        NetworkMode::None => Some("none".into()),
        NetworkMode::Service(svc) => Some(format!(
            "container:{}",
            ctx.service_container
                .clone()
                .unwrap_or_else(|| format!("{}-{svc}-1", spec.stack))
        )),
        NetworkMode::Container(name) => Some(format!("container:{name}")),
    }
}

fn restart_policy(r: &RestartPolicy) -> Option<ApiRestartPolicy> {
    let (name, max) = match r {
        RestartPolicy::No => return None,
        RestartPolicy::ExplicitNo => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure { max_retries } => (RestartPolicyNameEnum::ON_FAILURE, *max_retries),
    };
    Some(ApiRestartPolicy {
        name: Some(name),
        maximum_retry_count: max,
    })
}

fn container_labels(spec: &ContainerSpec, ctx: &CreateContext) -> HashMap<String, String> {
    let mut l = hash_map(&spec.labels);
    if !spec.stack.is_empty() {
        l.insert(labels::COMPOSE_PROJECT.into(), spec.stack.clone());
    }
    if !spec.service.is_empty() {
        l.insert(labels::COMPOSE_SERVICE.into(), spec.service.clone());
        l.insert(
            labels::COMPOSE_CONTAINER_NUMBER.into(),
            spec.number.max(1).to_string(),
        );
        l.insert(labels::COMPOSE_ONEOFF.into(), "False".into());
    }
    l.extend(ctx.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    l
}

#[derive(Default)]
struct MappedMounts {
    binds: Vec<String>,
    mounts: Vec<ApiMount>,
    volumes: Vec<String>,
}

fn map_mounts(spec: &ContainerSpec, ctx: &CreateContext) -> MappedMounts {
    let mut out = MappedMounts::default();
    for m in &spec.mounts {
        map_mount(spec, ctx, m, &mut out);
    }
    out
}

fn map_mount(spec: &ContainerSpec, ctx: &CreateContext, m: &Mount, out: &mut MappedMounts) {
    let mode = if m.read_only { "ro" } else { "rw" };
    match &m.kind {
        MountKind::Bind {
            source,
            propagation,
            create_host_path,
            relabel,
        } => {
            let src = match source {
                BindSource::Host(p) => p.clone(),
                BindSource::Repo(f) => ctx
                    .repo_paths
                    .get(&m.target)
                    .cloned()
                    .unwrap_or_else(|| files::host_path(&spec.stack, f)),
            };
            // Compose v2's rule: `Binds` (the engine creates a missing source) unless the bind
            // must not create it or has a propagation, which go through the Mount API. A
            // relabel needs `Binds` (the Mount API has no SELinux option).
            if relabel.is_some() || (*create_host_path && propagation.is_none()) {
                let mut opts = mode.to_string();
                for o in [propagation, relabel].into_iter().flatten() {
                    opts.push(',');
                    opts.push_str(o);
                }
                out.binds
                    .push(format!("{src}:{}:{opts}", clean_target(&m.target)));
            } else {
                out.mounts.push(ApiMount {
                    typ: Some(MountType::BIND),
                    source: Some(src),
                    target: Some(m.target.clone()),
                    read_only: m.read_only.then_some(true),
                    bind_options: propagation.as_deref().map(|p| MountBindOptions {
                        propagation: Some(propagation_enum(p)),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
        }
        MountKind::Volume {
            name: Some(name),
            nocopy,
            relabel,
        } if !nocopy || relabel.is_some() => {
            let mut opts = mode.to_string();
            for o in [nocopy.then_some("nocopy"), relabel.as_deref()]
                .into_iter()
                .flatten()
            {
                opts.push(',');
                opts.push_str(o);
            }
            out.binds
                .push(format!("{name}:{}:{opts}", clean_target(&m.target)));
        }
        MountKind::Volume {
            name: None,
            nocopy: false,
            ..
        } if !m.read_only => {
            out.volumes.push(m.target.clone());
        }
        MountKind::Volume { name, nocopy, .. } => out.mounts.push(ApiMount {
            typ: Some(MountType::VOLUME),
            source: name.clone(),
            target: Some(m.target.clone()),
            read_only: m.read_only.then_some(true),
            volume_options: nocopy.then(|| MountVolumeOptions {
                no_copy: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }),
        MountKind::Tmpfs { size, mode } => out.mounts.push(ApiMount {
            typ: Some(MountType::TMPFS),
            target: Some(m.target.clone()),
            read_only: m.read_only.then_some(true),
            tmpfs_options: (size.is_some() || mode.is_some()).then(|| MountTmpfsOptions {
                size_bytes: *size,
                mode: mode.map(i64::from),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn propagation_enum(p: &str) -> MountBindOptionsPropagationEnum {
    match p {
        "private" => MountBindOptionsPropagationEnum::PRIVATE,
        "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
        "shared" => MountBindOptionsPropagationEnum::SHARED,
        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
        "slave" => MountBindOptionsPropagationEnum::SLAVE,
        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
        _ => MountBindOptionsPropagationEnum::EMPTY,
    }
}

/// `PortBindings` and the sorted set of exposed ports (`80/tcp`).
fn map_ports(spec: &ContainerSpec) -> (HashMap<String, Option<Vec<ApiPortBinding>>>, Vec<String>) {
    let mut bindings: HashMap<String, Option<Vec<ApiPortBinding>>> = HashMap::new();
    let mut exposed = BTreeSet::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        exposed.insert(key.clone());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(ApiPortBinding {
                host_ip: Some(p.host_ip.clone().unwrap_or_default()),
                host_port: Some(p.host_port.clone().unwrap_or_default()),
            });
    }
    for e in &spec.expose {
        // As written, as Compose v2 sends it: the engine reads `5432` as `5432/tcp`.
        exposed.insert(e.clone());
    }
    (bindings, exposed.into_iter().collect())
}

/// Capabilities with the `CAP_` prefix, as Compose v2 sends them (`NET_ADMIN` →
/// `CAP_NET_ADMIN`; `ALL` stays). The engine takes both forms.
fn capabilities(caps: &[String]) -> Vec<String> {
    caps.iter()
        .map(|c| {
            let upper = c.to_ascii_uppercase();
            if upper == "ALL" || upper.starts_with("CAP_") {
                c.clone()
            } else {
                format!("CAP_{c}")
            }
        })
        .collect()
}

/// A bind's container path without a trailing `/` (`/media/` → `/media`), as Compose v2
/// cleans it; `/` stays.
fn clean_target(target: &str) -> &str {
    match target.trim_end_matches('/') {
        "" => "/",
        t => t,
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn non_empty_map(m: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then(|| hash_map(m))
}

fn hash_map(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
#[path = "container_config_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "container_config_keys_tests.rs"]
mod keys_tests;
