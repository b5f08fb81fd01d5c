//! One decoded compose service → one [`ContainerSpec`], with compose v2's defaults.
//!
//! Each conversion error is recorded at the key's own path, and conversion goes on, so one
//! run reports every problem of the service.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    env,
    flex::{ListOrMap, Scalar, StrOr},
    model::Service,
    networks::{attachments, DeclaredNetwork},
    options, ports,
    report::Report,
    units::{parse_bytes, parse_cpus, parse_duration},
    volumes::{self, MountContext},
};
use crate::{
    desired::{ContainerSpec, NetworkAttachment, NetworkMode},
    yaml::FieldPath,
};

/// What `use_api_socket: true` binds, as Compose v2 sends it.
const API_SOCKET_BIND: &str = "/var/run/docker.sock:/var/run/docker.sock:rw";

/// The client configuration `use_api_socket` writes when there are no credentials, byte for
/// byte as Compose v2 writes it.
const EMPTY_DOCKER_CONFIG: &str = "{\n\t\"auths\": {}\n}";

/// What converting a service needs from the rest of the file.
pub struct Scope<'a> {
    pub stack: &'a str,
    pub secrets: &'a super::StackSecrets,
    pub declared_secrets: &'a BTreeMap<String, super::secrets::Declared>,
    pub declared_configs: &'a BTreeMap<String, super::configs::Declared>,
    pub project_dir: &'a crate::source::RootDir,
    /// The Stack's project directory on its host (state directories).
    pub host_project_dir: &'a str,
    /// The home directory on the host (`~` in bind sources).
    pub home_dir: &'a str,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub networks: &'a BTreeMap<String, DeclaredNetwork>,
    /// Top-level volume key → Docker name.
    pub volumes: &'a BTreeMap<String, String>,
}

/// Which shared resources the services use.
#[derive(Debug, Default)]
pub struct Usage {
    /// Top-level network keys.
    pub networks: BTreeSet<String>,
    /// Docker names of named volumes.
    pub volumes: BTreeSet<String>,
    /// Where `network_mode: bridge` attaches a service to Docker's `bridge` network.
    pub bridge: Vec<FieldPath>,
}

fn string_map(report: &mut Report, path: &FieldPath, list: ListOrMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in list.0 {
        match v {
            Some(v) => {
                out.insert(k, v);
            }
            None => report.error(&path.key(k.clone()), format!("`{k}` has no value")),
        }
    }
    out
}

/// One converted service, before replication and cross-service references.
pub struct Converted {
    pub spec: ContainerSpec,
    /// `deploy.replicas` or `scale`; `None` when neither is set.
    pub replicas: Option<i64>,
    /// `links:` entries as written (`service[:alias]`), resolved once every service's
    /// containers are known (see [`super::links`]).
    pub links: Vec<String>,
    /// `volumes_from:` entries as written.
    pub volumes_from: Vec<String>,
}

/// Converts one service.
#[allow(clippy::too_many_lines)]
pub fn convert(
    report: &mut Report,
    scope: &Scope,
    usage: &mut Usage,
    name: &str,
    path: &FieldPath,
    mut svc: Service,
) -> Converted {
    let at = |k: &str| path.key(k);
    let mut c = ContainerSpec {
        name: svc
            .container_name
            .clone()
            .unwrap_or_else(|| format!("{}-{name}-1", scope.stack)),
        stack: scope.stack.to_string(),
        service: name.to_string(),
        ..ContainerSpec::default()
    };
    c.platform = svc
        .platform
        .take()
        .and_then(|p| report.check(&at("platform"), super::platform::parse(&p)));
    let has_build = svc.build.is_some();
    let build = svc.build.take().and_then(|b| {
        let bs = super::build::BuildScope {
            stack: scope.stack,
            service: name,
            platform: c.platform.clone(),
            project_dir: scope.project_dir,
            lookup: scope.lookup,
        };
        super::build::parse(report, &at("build"), b, &bs)
    });
    match (svc.image.take(), &build) {
        // compose: with both, the build is tagged `image:`.
        (Some(image), _) if !image.is_empty() => c.image = image,
        (_, Some(b)) => c.image = b.tag.clone(),
        _ if has_build => {}
        _ => report.error_hint(
            path,
            format!("service `{name}` has no `image`"),
            "set `image:`, or `build:` to build it on the host",
        ),
    }
    c.build = build.map(Box::new);
    // `label_file:` first (runtime.rs), then `labels:`, which win.
    super::runtime::apply(report, path, &mut svc, scope.project_dir, &mut c);
    if let Some(entries) = svc.configs.take() {
        let read_only = svc.read_only.is_some_and(|b| b.0);
        super::configs::for_service(
            report,
            &at("configs"),
            entries,
            scope.declared_configs,
            read_only,
            &mut c,
        );
    }
    c.tuning = super::tuning::take(report, path, &mut svc);
    c.labels.extend(
        std::mem::take(&mut svc.labels.0)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default())),
    );
    c.env = env::resolve(
        report,
        path,
        svc.env_file,
        svc.environment,
        scope.project_dir,
        scope.lookup,
        scope.secrets,
    );
    if let Some(entries) = svc.secrets {
        c.secret_files = super::secrets::for_service(report, &at("secrets"), entries, scope.declared_secrets);
    }
    if let Some(cmd) = svc.command {
        c.command = report.check(&at("command"), options::command(cmd));
    }
    if let Some(ep) = svc.entrypoint {
        c.entrypoint = report.check(&at("entrypoint"), options::command(ep));
    }
    c.user = svc.user.map(|u| u.0);
    c.working_dir = svc.working_dir;
    c.hostname = svc.hostname;
    c.domainname = svc.domainname;
    if let Some(r) = svc.restart {
        c.restart = report
            .check(&at("restart"), options::restart(&r.0))
            .unwrap_or_default();
    }

    // Networking.
    let mode = match svc.network_mode.as_deref() {
        None => Some(NetworkMode::Networks),
        Some(m) => report
            .check(&at("network_mode"), options::network_mode(m))
            .map(|m| m.unwrap_or(NetworkMode::Networks)),
    };
    if svc.network_mode.is_some() && svc.networks.is_some() {
        report.error(
            &at("networks"),
            "`network_mode` and `networks` cannot be combined",
        );
    }
    c.network_mode = mode.unwrap_or_default();
    if matches!(svc.network_mode.as_deref(), Some("bridge" | "default")) {
        usage.bridge.push(at("network_mode"));
        c.networks = vec![NetworkAttachment {
            network: "bridge".into(),
            aliases: Vec::new(),
            ipv4_address: None,
            ipv6_address: None,
            mac_address: None,
        }];
    } else if svc.network_mode.is_none() {
        c.networks = attachments(
            report,
            path,
            name,
            svc.networks.take(),
            scope.networks,
            &mut usage.networks,
        );
    }
    if let Some(mac) = svc.mac_address.take() {
        // compose v2 moves the service's MAC address to its first network's endpoint.
        match c.networks.first_mut() {
            Some(first) if first.mac_address.as_ref().is_some_and(|m| *m != mac) => report.error(
                &at("mac_address"),
                format!(
                    "`mac_address` differs from the one set on network `{}`",
                    first.network
                ),
            ),
            Some(first) => first.mac_address = Some(mac),
            None => report.error_hint(
                &at("mac_address"),
                "`mac_address` needs a network",
                "remove it, or attach the service to a network",
            ),
        }
    }

    // Storage.
    let mcx = MountContext {
        project_dir: scope.project_dir,
        host_project_dir: scope.host_project_dir,
        home_dir: scope.home_dir,
        volumes: scope.volumes,
    };
    for (i, v) in svc.volumes.iter().enumerate() {
        let result = match v {
            StrOr::Str(s) => volumes::parse_short(s, &mcx),
            StrOr::Long(l) => volumes::parse_long(l, &mcx),
        };
        if let Some(m) = report.check(&at("volumes").index(i), result) {
            if c.mounts.iter().any(|o| o.target == m.target) {
                report.error(
                    &at("volumes").index(i),
                    format!("duplicate mount target `{}`", m.target),
                );
            }
            if let crate::desired::MountKind::Volume { name: Some(n), .. } = &m.kind {
                usage.volumes.insert(n.clone());
            }
            c.mounts.push(m);
        }
    }
    if svc.use_api_socket {
        // Compose v2 binds the engine's socket read-write and writes the client's registry
        // credentials to /run/secrets/docker/config.json, with DOCKER_CONFIG pointing there.
        // A controller holds no docker login, so aegis writes what v2 writes without one.
        if svc.read_only.as_ref().is_some_and(|b| b.0) {
            report.error_hint(
                &at("use_api_socket"),
                "`use_api_socket` writes the client configuration into the container, which a \
                 `read_only` container cannot take (Compose v2 refuses it too)",
                "drop `read_only`, or bind the socket with `volumes:` instead",
            );
        }
        c.secret_files.push(crate::desired::SecretFile {
            target: "/run/secrets/docker/config.json".into(),
            mode: 0o444,
            uid: 0,
            gid: 0,
            value: crate::secrets::Secret::new(EMPTY_DOCKER_CONFIG),
            digest: "empty docker client configuration".into(),
        });
        c.env
            .entry("DOCKER_CONFIG".into())
            .or_insert_with(|| crate::desired::EnvValue::Plain("/run/secrets/docker".into()));
        if let Some(m) = report.check(&at("use_api_socket"), volumes::parse_short(API_SOCKET_BIND, &mcx)) {
            if c.mounts.iter().any(|o| o.target == m.target) {
                report.error_hint(
                    &at("use_api_socket"),
                    format!("`use_api_socket` binds `{}`, which `volumes` binds too", m.target),
                    "keep one of the two",
                );
            }
            c.mounts.push(m);
        }
    }
    c.mounts.sort_by(|a, b| a.target.cmp(&b.target));
    for t in svc.tmpfs.map(|t| t.0).unwrap_or_default() {
        let (target, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        if !target.starts_with('/') {
            report.error(
                &at("tmpfs"),
                format!("tmpfs target `{target}` must be an absolute path"),
            );
        }
        c.tmpfs.insert(target.to_string(), opts.to_string());
    }

    // Ports.
    for (i, p) in svc.ports.iter().enumerate() {
        let result = match p {
            StrOr::Str(s) => ports::parse_short(s),
            StrOr::Long(l) => ports::parse_long(l),
        };
        if let Some(bindings) = report.check(&at("ports").index(i), result) {
            c.ports.extend(bindings);
        }
    }
    if !c.ports.is_empty() && c.network_mode == NetworkMode::Host {
        report.warn(
            &at("ports"),
            "published ports are ignored with `network_mode: host`",
        );
    }
    for (i, e) in svc.expose.iter().enumerate() {
        if let Some(list) = report.check(&at("expose").index(i), ports::parse_expose(&e.0)) {
            c.expose.extend(list);
        }
    }

    // Privileges and kernel settings.
    c.cap_add = std::mem::take(&mut svc.cap_add);
    c.cap_drop = std::mem::take(&mut svc.cap_drop);
    c.privileged = svc.privileged.is_some_and(|b| b.0);
    c.read_only = svc.read_only.is_some_and(|b| b.0);
    c.init = svc.init.map(|b| b.0);
    c.tty = svc.tty.is_some_and(|b| b.0);
    c.stdin_open = svc.stdin_open.is_some_and(|b| b.0);
    c.security_opt = svc.security_opt;
    c.sysctls = string_map(report, &at("sysctls"), svc.sysctls);
    c.ulimits = options::ulimits(svc.ulimits);
    c.group_add = svc.group_add.into_iter().map(|g| g.0).collect();
    c.pid = svc.pid;
    c.ipc = svc.ipc;

    // DNS.
    c.dns = svc.dns.map(|d| d.0).unwrap_or_default();
    c.dns_search = svc.dns_search.map(|d| d.0).unwrap_or_default();
    c.dns_opt = svc.dns_opt;
    c.extra_hosts = svc
        .extra_hosts
        .0
        .into_iter()
        .map(|(h, ip)| format!("{h}:{ip}"))
        .collect();

    // Lifecycle.
    c.post_start = super::hooks::convert(report, &at("post_start"), std::mem::take(&mut svc.post_start));
    c.pre_stop = super::hooks::convert(report, &at("pre_stop"), std::mem::take(&mut svc.pre_stop));
    if let Some(h) = svc.healthcheck {
        c.healthcheck = report
            .check(&at("healthcheck"), options::healthcheck(h))
            .flatten();
    }
    if let Some((deps, restart_with)) = report.check(&at("depends_on"), options::depends_on(svc.depends_on)) {
        c.depends_on = deps;
        c.restart_with = restart_with;
    }
    if let NetworkMode::Service(s) = &c.network_mode {
        // Sharing a namespace needs the other container first.
        if !c.depends_on.iter().any(|d| d.service == *s) {
            c.depends_on.push(crate::desired::DependsOn {
                service: s.clone(),
                condition: crate::desired::DependsCondition::Started,
                required: true,
            });
        }
    }
    if let Some(g) = svc.stop_grace_period {
        c.stop_timeout = report
            .check(&at("stop_grace_period"), parse_duration(&g.0))
            .map(|ns| ns / 1_000_000_000);
    }
    c.stop_signal = svc.stop_signal;
    if let Some(p) = svc.pull_policy {
        c.pull_policy = report.check(&at("pull_policy"), options::pull_policy(&p));
    }

    // Resources.
    let bytes = |report: &mut Report, key: &str, v: Option<Scalar>| {
        v.and_then(|s| report.check(&at(key), parse_bytes(&s.0)))
    };
    c.memory = bytes(report, "mem_limit", svc.mem_limit);
    c.memory_reservation = bytes(report, "mem_reservation", svc.mem_reservation);
    c.shm_size = bytes(report, "shm_size", svc.shm_size);
    c.nano_cpus = svc.cpus.and_then(|s| report.check(&at("cpus"), parse_cpus(&s.0)));
    c.cpu_shares = svc.cpu_shares.map(|n| n.0);
    c.pids_limit = svc.pids_limit.map(|n| n.0);
    let mut replicas = None;
    if let Some(d) = svc.deploy {
        replicas = super::deploy::apply(report, &at("deploy"), d, &mut c);
    }
    if let Some(g) = svc.gpus {
        super::deploy::gpus(report, &at("gpus"), g, &mut c);
    }
    if let Some(scale) = svc.scale {
        if replicas.is_some_and(|r| r != scale.0) {
            report.error(&at("scale"), "`scale` and `deploy.replicas` differ");
        }
        replicas = Some(scale.0);
    }
    if let Some(l) = svc.logging {
        c.logging = Some(crate::desired::Logging {
            driver: l.driver,
            options: l
                .options
                .unwrap_or_default()
                .0
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        });
    }
    c.links = svc
        .external_links
        .iter()
        .map(|l| match l.split_once(':') {
            Some((container, alias)) => format!("{container}:{alias}"),
            None => format!("{l}:{l}"),
        })
        .collect();
    Converted {
        spec: c,
        replicas,
        links: svc.links,
        volumes_from: svc.volumes_from,
    }
}
