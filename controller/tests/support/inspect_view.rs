//! The normalised view of a container's `docker inspect`, shared by the compose parity and
//! corpus tests: `Config`, `HostConfig` and `NetworkSettings.Networks` flattened to
//! `path = value` lines, with every value that legitimately differs between Compose v2's
//! container and aegis's replaced or removed, each where it is done and why.
#![allow(dead_code)]

use std::{collections::BTreeMap, path::Path};

use serde_json::{Map, Value};

/// Container id → service, of one side.
pub type Ids = BTreeMap<String, String>;

/// One side's names: what is replaced by a placeholder before comparing.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Compose project / aegis stack name → `<project>`.
    pub project: String,
    /// Whole values replaced by a placeholder (a per-side host port → `<port>`).
    pub exact: Vec<(String, String)>,
    /// Substrings replaced by a placeholder (a per-side subnet prefix → `<net>.`).
    pub substrings: Vec<(String, String)>,
    /// Container id → service (`network_mode: service:X` becomes `container:<id of X>`).
    pub ids: Ids,
}

/// `docker inspect` of one container, as JSON.
pub fn inspect_json(name: &str) -> Value {
    let out = super::docker(&["inspect", name]);
    let mut v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v.as_array_mut().and_then(|a| a.pop()).expect("one container")
}

/// The normalised view of one container: `path = value` lines.
pub fn view(names: &Names, c: &Value) -> BTreeMap<String, String> {
    let mut config = c["Config"].clone();
    let mut host = c["HostConfig"].clone();
    let mut networks = c["NetworkSettings"]["Networks"].clone();

    if let Some(cfg) = config.as_object_mut() {
        // The container's short id unless `hostname:` is set (or, with `network_mode:
        // service:X`, X's short id).
        let own = c["Id"].as_str().unwrap_or_default();
        let is_short_id = |h: &str| {
            h.len() == 12
                && std::iter::once(own)
                    .chain(names.ids.keys().map(String::as_str))
                    .any(|id| id.starts_with(h))
        };
        if cfg
            .get("Hostname")
            .and_then(Value::as_str)
            .is_some_and(is_short_id)
        {
            cfg.remove("Hostname");
        }
        // Ownership and bookkeeping labels are the one allowed difference: Compose's
        // `com.docker.compose.*` (config-hash, version, project paths...) and aegis's
        // `aegis.dev/*`.
        if let Some(Value::Object(labels)) = cfg.get_mut("Labels") {
            labels.retain(|k, _| !k.starts_with("com.docker.compose.") && !k.starts_with("aegis.dev/"));
        }
        // Env has no duplicate keys, so its order carries no meaning to the engine.
        sort_strings(cfg.get_mut("Env"));
        // Whether the creating client meant to attach to the output: `docker compose create`
        // sets them as for an attached `up`; `up -d` and aegis do not. Not the service's
        // configuration (nothing attaches to a detached container).
        for k in ["AttachStdin", "AttachStdout", "AttachStderr"] {
            cfg.remove(k);
        }
        // A built image's name: Compose v2 tags a service's build `<project>-<service>`, aegis
        // `aegis-build/<project>-<service>:<hash of the context>` (README, "Builds"); what was
        // built is compared through the rest of the container's configuration.
        if let Some(Value::String(image)) = cfg.get_mut("Image") {
            if let Some(rest) = image.strip_prefix("aegis-build/") {
                *image = rest.split(':').next().unwrap_or(rest).to_string();
            }
        }
    }

    if let Some(hc) = host.as_object_mut() {
        if let Some(Value::Array(binds)) = hc.get_mut("Binds") {
            for b in binds.iter_mut() {
                if let Some(s) = b.as_str() {
                    *b = Value::String(repo_source(s));
                }
            }
        }
        // Bind order carries no meaning either (aegis sorts mounts by target).
        sort_strings(hc.get_mut("Binds"));
        // Nor does mount order (targets are unique).
        if let Some(Value::Array(mounts)) = hc.get_mut("Mounts") {
            for m in mounts.iter_mut() {
                if let Some(Value::String(src)) = m.get_mut("Source") {
                    *src = repo_path(src);
                }
            }
            mounts.sort_by_key(|m| m["Target"].to_string());
        }
        // Ulimit names are unique; Compose v2 sends them in its map's (random) order.
        if let Some(Value::Array(ulimits)) = hc.get_mut("Ulimits") {
            ulimits.sort_by_key(|u| u["Name"].to_string());
        }
        // compose-go keeps extra_hosts in a map (HostsList), so v2 sends them in random order
        // even when the file lists them; the engine writes /etc/hosts in the order given, which
        // matters only for a name given twice (and the parity file gives each name once).
        if let Some(Value::Array(hosts)) = hc.get_mut("ExtraHosts") {
            hosts.sort_by_key(Value::to_string);
        }
    }

    let short_id: String = c["Id"].as_str().unwrap_or_default().chars().take(12).collect();
    if let Some(nets) = networks.as_object_mut() {
        for ep in nets.values_mut() {
            let Some(ep) = ep.as_object_mut() else { continue };
            // Runtime facts of the endpoint, not configuration: ids, the address handed out
            // by IPAM (a static one is compared through IPAMConfig), gateway, MAC.
            for k in [
                "NetworkID",
                "EndpointID",
                "Gateway",
                "IPAddress",
                "IPPrefixLen",
                "IPv6Gateway",
                "GlobalIPv6Address",
                "GlobalIPv6PrefixLen",
                "MacAddress",
            ] {
                ep.remove(k);
            }
            // No static address: Compose v2 sends an empty `IPAMConfig`, aegis none.
            if ep
                .get("IPAMConfig")
                .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
            {
                ep.remove("IPAMConfig");
            }
            // docker-compose 1.x adds the container's short id as an alias (v2 and aegis do
            // not; the engine resolves the container by id anyway).
            if let Some(Value::Array(aliases)) = ep.get_mut("Aliases") {
                aliases.retain(|a| a.as_str() != Some(short_id.as_str()));
            }
            sort_strings(ep.get_mut("Aliases"));
        }
    }

    let mut all = Map::new();
    all.insert("Config".into(), config);
    all.insert("HostConfig".into(), host);
    all.insert("Networks".into(), networks);
    let mut out = BTreeMap::new();
    flatten("", &placeholders(names, Value::Object(all)), &mut out);
    out
}

fn sort_strings(v: Option<&mut Value>) {
    if let Some(Value::Array(a)) = v {
        a.sort_by_key(Value::to_string);
    }
}

/// Whether `path` is a repository file or a state directory on one side: Compose mounts
/// both from the project directory (the checkout, a temporary directory here); aegis a
/// repository file from the copy it delivered to `/var/lib/aegis/files/<stack>/<hash>/`, and
/// a relative source the repository does not hold (`./data`) from the stack's project
/// directory on the host, `/var/lib/aegis/stacks/<stack>/`.
fn is_repo(path: &str) -> bool {
    path.starts_with("/var/lib/aegis/files/")
        || path.starts_with("/var/lib/aegis/stacks/")
        || path.starts_with(&std::env::temp_dir().display().to_string())
}

/// A repository file's path: `<repo>/<file name>` (the directory legitimately differs).
fn repo_path(path: &str) -> String {
    if !is_repo(path) {
        return path.to_string();
    }
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("<repo>/{name}")
}

/// A bind of a repository file: the source legitimately differs; the file name, target and
/// mode are compared.
fn repo_source(bind: &str) -> String {
    match bind.split_once(':') {
        Some((src, rest)) => format!("{}:{rest}", repo_path(src)),
        None => bind.to_string(),
    }
}

/// Replaces the side's project name, ids and per-side values (in keys and strings) by
/// placeholders.
fn placeholders(names: &Names, v: Value) -> Value {
    let fix = |s: &str| {
        if let Some((_, p)) = names.exact.iter().find(|(v, _)| v == s) {
            return p.clone();
        }
        let s = names.ids.iter().fold(s.to_string(), |s, (id, svc)| {
            s.replace(id, &format!("<id of {svc}>"))
        });
        let s = names
            .substrings
            .iter()
            .fold(s, |s, (v, p)| s.replace(v.as_str(), p));
        if names.project.is_empty() {
            s
        } else {
            s.replace(&names.project, "<project>")
        }
    };
    match v {
        Value::String(s) => Value::String(fix(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| placeholders(names, x)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (fix(&k), placeholders(names, x)))
                .collect(),
        ),
        other => other,
    }
}

fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&format!("{path}.{k}"), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), x, out);
            }
        }
        // An empty list and null are the same to the engine (docker-py sends
        // `VolumesFrom: []` where aegis sends nothing). Empty maps are kept: `ExposedPorts`
        // and `Volumes` are maps of `{}`.
        Value::Null | Value::Array(_) => {}
        other => {
            out.insert(path.trim_start_matches('.').to_string(), other.to_string());
        }
    }
}

/// One field that differs: its path and each side's value (`None`: absent).
#[derive(Debug, Clone)]
pub struct FieldDiff {
    pub path: String,
    pub compose: Option<String>,
    pub aegis: Option<String>,
}

impl std::fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  {}\n    compose: {}\n    aegis:   {}",
            self.path,
            self.compose.as_deref().unwrap_or("(absent)"),
            self.aegis.as_deref().unwrap_or("(absent)")
        )
    }
}

/// Field-by-field differences: `reference` is Compose's view.
pub fn diff(reference: &BTreeMap<String, String>, aegis: &BTreeMap<String, String>) -> Vec<FieldDiff> {
    let mut keys: Vec<&String> = reference.keys().chain(aegis.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| reference.get(*k) != aegis.get(*k))
        .map(|k| FieldDiff {
            path: k.clone(),
            compose: reference.get(k).cloned(),
            aegis: aegis.get(k).cloned(),
        })
        .collect()
}

/// Differences between Compose v2's containers and aegis's that are known and not fixed yet
/// (`tests/fixtures/compose-v2-differences`): `FIELD: reason` lines, FIELD a pattern of the
/// normalised path where `*` matches anything and list indices are written `[]`, optionally
/// followed by `~ VALUE`, a pattern aegis's value must match too. The parity
/// and corpus tests report them but do not fail on them; the corpus test prints the lines
/// that matched nothing.
pub struct Known {
    entries: Vec<(String, String, std::cell::Cell<usize>)>,
}

impl Known {
    pub fn load() -> Self {
        let path = super::repo_root().join("controller/tests/fixtures/compose-v2-differences");
        let body = std::fs::read_to_string(&path).unwrap_or_default();
        let entries = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (field, reason) = l.split_once(": ").unwrap_or((l, ""));
                (
                    field.trim().to_string(),
                    reason.trim().to_string(),
                    std::cell::Cell::new(0),
                )
            })
            .collect();
        Self { entries }
    }

    /// The reason `d` is a known difference, if it is one (and counts the match).
    pub fn reason(&self, d: &FieldDiff) -> Option<&str> {
        let path = strip_indices(&d.path);
        let value = d.aegis.as_deref().unwrap_or("(absent)");
        let matches = |p: &str| match p.split_once(" ~ ") {
            Some((field, v)) => glob(field.trim(), &path) && glob(v.trim(), value),
            None => glob(p, &path),
        };
        let (_, reason, hits) = self.entries.iter().find(|(p, _, _)| matches(p))?;
        hits.set(hits.get() + 1);
        Some(reason)
    }

    /// Splits `diffs` into the unexpected ones and the known ones.
    pub fn split(&self, diffs: Vec<FieldDiff>) -> (Vec<FieldDiff>, Vec<FieldDiff>) {
        diffs.into_iter().partition(|d| self.reason(d).is_none())
    }

    /// Patterns that matched no difference.
    pub fn unused(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, _, hits)| hits.get() == 0)
            .map(|(p, r, _)| format!("{p}: {r}"))
            .collect()
    }

    /// Each pattern with the number of differences it matched.
    pub fn summary(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(p, r, hits)| format!("{:>4}  {p}: {r}", hits.get()))
            .collect()
    }
}

/// `a.b[3].c[0]` → `a.b[].c[]`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for ch in path.chars() {
        match ch {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            c if in_index && c.is_ascii_digit() => {}
            c => out.push(c),
        }
    }
    out
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}
