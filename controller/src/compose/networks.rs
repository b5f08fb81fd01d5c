//! Top-level `networks:` and `volumes:`, and which of them each service joins.
//!
//! Naming follows docker compose v2: a stack-local network or volume is `<stack>_<key>`
//! unless it has a `name:`; an external one is its `name:` or its key. Only the networks and
//! volumes some service uses are created (compose drops unused ones too). A service with
//! neither `networks:` nor `network_mode:` joins `default`, which is `<stack>_default` with
//! the bridge driver unless the file declares it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{flex::ListOrMap, keys::strip_extensions, model, report::Report};
use crate::{
    desired::{Ipam, IpamPool, Kind, NetworkAttachment, NetworkSpec, ResourceRef, VolumeSpec},
    yaml::FieldPath,
};

/// A network the compose file can refer to, by key.
#[derive(Debug, Clone)]
pub struct DeclaredNetwork {
    pub spec: NetworkSpec,
    /// Where it is declared (the `networks` key itself for the implicit default).
    pub path: FieldPath,
}

/// A volume the compose file can refer to, by key.
#[derive(Debug, Clone)]
pub struct DeclaredVolume {
    pub spec: VolumeSpec,
}

fn labels(list: ListOrMap) -> BTreeMap<String, String> {
    list.0
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

fn opts(map: indexmap::IndexMap<String, super::flex::Scalar>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, v.0)).collect()
}

/// The entries of a top-level section (`networks:`/`volumes:`), each decoded separately.
fn entries<T: serde::de::DeserializeOwned + Default>(
    report: &mut Report,
    section: &FieldPath,
    value: Option<&Value>,
) -> Vec<(String, FieldPath, T)> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Some(map) = value.as_object() else {
        report.error(section, "expected a mapping of names to definitions");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, def) in map {
        if key.starts_with("x-") {
            continue;
        }
        let path = section.key(key.clone());
        let decoded = match def {
            Value::Null => Some(T::default()),
            Value::Object(obj) => {
                let mut obj = obj.clone();
                strip_extensions(&mut obj);
                report.decode::<T>(&path, &Value::Object(obj))
            }
            _ => {
                report.error(&path, "expected a mapping (or nothing)");
                None
            }
        };
        if let Some(def) = decoded {
            out.push((key.clone(), path, def));
        }
    }
    out
}

/// `external:` resolved: whether it is external, and the name of the legacy form
/// `external: {name: N}` (compose v2 warns that it is deprecated and uses `N`).
fn external(
    report: &mut Report,
    path: &FieldPath,
    ext: Option<&model::External>,
    name: Option<&str>,
) -> (bool, Option<String>) {
    let Some(ext) = ext else { return (false, None) };
    let (external, legacy) = ext.resolve();
    if let Some(l) = &legacy {
        if name.is_some_and(|n| n != l) {
            report.error(
                &path.key("external").key("name"),
                format!(
                    "`external.name: {l}` and `name: {}` differ",
                    name.unwrap_or_default()
                ),
            );
        } else {
            report.warn(
                &path.key("external").key("name"),
                "`external.name` is deprecated; write `name:` beside `external: true`",
            );
        }
    }
    (external, legacy)
}

/// Top-level networks by key, plus the implicit `default`.
pub fn declared_networks(
    report: &mut Report,
    stack: &str,
    section: &FieldPath,
    value: Option<&Value>,
) -> BTreeMap<String, DeclaredNetwork> {
    let owner = ResourceRef::new(Kind::Stack, stack);
    let mut out = BTreeMap::new();
    out.insert(
        "default".to_string(),
        DeclaredNetwork {
            spec: NetworkSpec {
                name: format!("{stack}_default"),
                owner: owner.clone(),
                external: false,
                driver: "bridge".into(),
                internal: false,
                attachable: false,
                enable_ipv6: false,
                ipam: None,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
            },
            path: section.clone(),
        },
    );
    for (key, path, def) in entries::<model::NetworkDef>(report, section, value) {
        let (external, legacy_name) = external(report, &path, def.external.as_ref(), def.name.as_deref());
        let def = model::NetworkDef {
            name: def.name.or(legacy_name),
            ..def
        };
        if external {
            let conflicting = [
                ("driver", def.driver.is_some()),
                ("driver_opts", !def.driver_opts.is_empty()),
                ("internal", def.internal.is_some()),
                ("attachable", def.attachable.is_some()),
                ("enable_ipv6", def.enable_ipv6.is_some()),
                ("ipam", def.ipam.is_some()),
                ("labels", !def.labels.0.is_empty()),
            ];
            for (k, set) in conflicting {
                if set {
                    report.error_hint(
                        &path.key(k),
                        format!("an external network cannot set `{k}`"),
                        "aegis never creates or changes external networks; declare it with a Network manifest to manage it",
                    );
                }
            }
        }
        let ipam = def.ipam.map(|ipam| {
            let mut pools = ipam.config.into_iter().map(|c| IpamPool {
                subnet: c.subnet,
                gateway: c.gateway,
                ip_range: c.ip_range,
                aux_addresses: c.aux_addresses.into_iter().collect(),
            });
            let first = pools.next().unwrap_or_default();
            Ipam {
                driver: ipam.driver,
                subnet: first.subnet,
                gateway: first.gateway,
                ip_range: first.ip_range,
                aux_addresses: first.aux_addresses,
                more: pools.collect(),
                options: opts(ipam.options),
            }
        });
        let name = match (def.name, external) {
            (Some(n), _) => n,
            (None, true) => key.clone(),
            (None, false) => format!("{stack}_{key}"),
        };
        let spec = NetworkSpec {
            name,
            owner: owner.clone(),
            external,
            driver: def.driver.unwrap_or_else(|| "bridge".into()),
            internal: def.internal.is_some_and(|b| b.0),
            attachable: def.attachable.is_some_and(|b| b.0),
            enable_ipv6: def.enable_ipv6.is_some_and(|b| b.0),
            ipam,
            labels: labels(def.labels),
            options: opts(def.driver_opts),
        };
        out.insert(key, DeclaredNetwork { spec, path });
    }
    out
}

/// Top-level volumes by key.
pub fn declared_volumes(
    report: &mut Report,
    stack: &str,
    section: &FieldPath,
    value: Option<&Value>,
) -> BTreeMap<String, DeclaredVolume> {
    let owner = ResourceRef::new(Kind::Stack, stack);
    let mut out = BTreeMap::new();
    for (key, path, def) in entries::<model::VolumeDef>(report, section, value) {
        let (external, legacy_name) = external(report, &path, def.external.as_ref(), def.name.as_deref());
        let def = model::VolumeDef {
            name: def.name.or(legacy_name),
            ..def
        };
        if external && (def.driver.is_some() || !def.driver_opts.is_empty() || !def.labels.0.is_empty()) {
            report.error(
                &path,
                "an external volume cannot set `driver`, `driver_opts` or `labels`",
            );
        }
        let name = match (def.name, external) {
            (Some(n), _) => n,
            (None, true) => key.clone(),
            (None, false) => format!("{stack}_{key}"),
        };
        let spec = VolumeSpec {
            name,
            owner: owner.clone(),
            external,
            driver: def.driver,
            driver_opts: opts(def.driver_opts),
            labels: labels(def.labels),
        };
        out.insert(key, DeclaredVolume { spec });
    }
    out
}

/// The networks one service joins, by Docker name, sorted (the order does not matter to
/// Docker, so it must not change the spec). `used` collects the keys it refers to.
pub fn attachments(
    report: &mut Report,
    svc_path: &FieldPath,
    service: &str,
    networks: Option<super::flex::NamesOrMap<model::ServiceNetwork>>,
    declared: &BTreeMap<String, DeclaredNetwork>,
    used: &mut BTreeSet<String>,
) -> Vec<NetworkAttachment> {
    let requested = match networks {
        Some(n) => n.0,
        None => [("default".to_string(), None)].into_iter().collect(),
    };
    let mut out = Vec::new();
    for (key, long) in requested {
        let path = svc_path.key("networks").key(key.clone());
        let Some(net) = declared.get(&key) else {
            report.error_hint(
                &path,
                format!("service `{service}` uses network `{key}`, which is not declared in the top-level `networks:`"),
                "declare it under `networks:` (with `external: true` if it exists already)",
            );
            continue;
        };
        used.insert(key.clone());
        let long = long.unwrap_or_default();
        // compose adds the service name as an alias on every network, then the user's.
        let mut aliases = vec![service.to_string()];
        for a in long.aliases {
            if !aliases.contains(&a) {
                aliases.push(a);
            }
        }
        out.push(NetworkAttachment {
            network: net.spec.name.clone(),
            aliases,
            ipv4_address: long.ipv4_address,
            ipv6_address: long.ipv6_address,
            mac_address: long.mac_address,
        });
    }
    out.sort_by(|a, b| a.network.cmp(&b.network));
    out
}
