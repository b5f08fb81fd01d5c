//! References between services' containers: `links:`, `external_links:` and `volumes_from:`,
//! resolved the way Compose v2 does (`getLinks` and `resolveVolumeFrom` in compose's
//! `pkg/compose/convergence.go`), once every service's containers are known.
//!
//! - `links: [db:database]` gives, for every container `C` of `db`, the links `C:database`,
//!   `C:db-N` and `C:<stack>-db-N`, N being the linking container's own number (v2's
//!   choice); then each `external_links` entry `name[:alias]` as `name:alias`. They go to
//!   `HostConfig.Links` and to every endpoint's links, and a linked service is started first.
//! - `volumes_from: [svc]` is the first container of `svc`, `container:NAME` is NAME. v2 drops
//!   an `:ro`/`:rw` suffix (it mounts read-write), and so does aegis, with a warning.

use std::collections::BTreeMap;

use super::report::Report;
use crate::{
    desired::{ContainerSpec, DependsCondition, DependsOn},
    yaml::FieldPath,
};

/// A service's references, as written.
#[derive(Debug, Default)]
pub struct Refs {
    pub links: Vec<String>,
    pub volumes_from: Vec<String>,
}

impl Refs {
    /// Services named by `links` and by `volumes_from` (not `container:` entries).
    fn services(&self) -> impl Iterator<Item = &str> {
        let linked = self.links.iter().map(|l| l.split(':').next().unwrap_or(l));
        let shared = self
            .volumes_from
            .iter()
            .filter(|v| !v.starts_with("container:"))
            .map(|v| v.split(':').next().unwrap_or(v));
        linked.chain(shared)
    }
}

/// A service that links to or shares volumes with another starts after it.
pub fn add_dependencies(
    services: &mut BTreeMap<String, (FieldPath, ContainerSpec)>,
    extra: &BTreeMap<String, (Option<i64>, Refs)>,
) {
    let known: Vec<String> = services.keys().cloned().collect();
    for (name, (_, refs)) in extra {
        let Some((_, spec)) = services.get_mut(name) else {
            continue;
        };
        for target in refs.services() {
            let exists = known.iter().any(|k| k == target);
            if exists && target != name && !spec.depends_on.iter().any(|d| d.service == target) {
                spec.depends_on.push(DependsOn {
                    service: target.to_string(),
                    condition: DependsCondition::Started,
                    required: true,
                });
            }
        }
    }
}

/// Fills in `links` and `volumes_from` of every container.
pub fn resolve(
    report: &mut Report,
    paths: &BTreeMap<String, FieldPath>,
    containers: &mut [ContainerSpec],
    extra: &BTreeMap<String, (Option<i64>, Refs)>,
) {
    let mut by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in containers.iter() {
        by_service
            .entry(c.service.clone())
            .or_default()
            .push(c.name.clone());
    }
    let mut reported = std::collections::BTreeSet::new();
    for c in containers.iter_mut() {
        let Some((_, refs)) = extra.get(&c.service) else {
            continue;
        };
        let path = paths.get(&c.service).cloned().unwrap_or_else(FieldPath::root);
        let first = reported.insert(c.service.clone());
        let number = c.number.max(1);
        let mut links = Vec::new();
        for (i, raw) in refs.links.iter().enumerate() {
            let (service, alias) = raw.split_once(':').unwrap_or((raw, raw));
            let Some(targets) = by_service.get(service).filter(|_| paths.contains_key(service)) else {
                if first {
                    report.error_hint(
                        &path.key("links").index(i),
                        format!(
                            "service `{}` links to `{service}`, which is not a service of this file",
                            c.service
                        ),
                        "use `external_links` for a container outside the Stack",
                    );
                }
                continue;
            };
            for t in targets {
                links.push(format!("{t}:{alias}"));
                links.push(format!("{t}:{service}-{number}"));
                links.push(format!("{t}:{}-{service}-{number}", c.stack));
            }
        }
        links.append(&mut c.links);
        c.links = links;
        c.volumes_from = Vec::new();
        for (i, raw) in refs.volumes_from.iter().enumerate() {
            let at = path.key("volumes_from").index(i);
            let (name, mode) = match raw.strip_prefix("container:") {
                Some(rest) => split_mode(rest),
                None => {
                    let (service, mode) = split_mode(raw);
                    match by_service.get(service).and_then(|t| t.first()) {
                        Some(t) => (t.as_str(), mode),
                        None => {
                            if first {
                                report.error_hint(
                                    &at,
                                    format!("`{service}` is not a service of this file"),
                                    "write `container:NAME` for a container outside the Stack",
                                );
                            }
                            continue;
                        }
                    }
                }
            };
            if name.is_empty() {
                if first {
                    report.error(&at, format!("`{raw}` names no container"));
                }
                continue;
            }
            if first && mode.is_some() {
                report.warn(
                    &at,
                    format!("`{raw}`: Compose v2 ignores the access mode and shares the volumes read-write; so does aegis"),
                );
            }
            c.volumes_from.push(name.to_string());
        }
    }
}

/// `name[:ro|:rw]`.
fn split_mode(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((name, mode @ ("ro" | "rw"))) => (name, Some(mode)),
        _ => (s, None),
    }
}
