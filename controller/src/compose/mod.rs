//! Compose files → desired containers, networks and volumes.
//!
//! [`load`] follows docker compose v2 on one parsed compose mapping:
//!
//! 1. `${VAR}` interpolation of every string value ([`interpolate`]), with variables from the
//!    Stack and from a `.env` file next to the compose file;
//! 2. `extends` and `include` applied: other files read through the source root, merged
//!    into one tree that remembers which file wrote what ([`project`]);
//! 3. extension fields (`x-*`) dropped, and every key aegis does not support reported
//!    ([`keys`]), never ignored;
//! 4. a typed decode of each service, network and volume on its own ([`model`]), so that one
//!    bad service does not hide another's errors;
//! 5. conversion to [`ContainerSpec`]s with compose's names and defaults ([`service`]);
//! 6. checks across services: references and dependency cycles ([`validate`]).
//!
//! Every problem becomes a [`Diagnostic`] with file, line and field path; all are returned.
//!
//! **No process environment.** compose reads variables from the shell; aegis never does,
//! so that the same revision always yields the same containers, on any controller. Variables
//! come from [`ComposeInput::vars`] (the Stack's `spec.environment`) first, then from the
//! project's `.env` file.

mod blkio;
mod build;
mod configs;
mod deploy;
mod dockerignore;
mod env;
mod env_file;
mod extends;
mod files;
mod flex;
pub mod home;
mod hooks;
mod include;
mod interpolate;
mod keys;
mod links;
mod merge;
mod model;
mod networks;
mod options;
mod origin;
mod platform;
mod ports;
mod profiles;
mod project;
mod relpaths;
mod replicas;
mod report;
mod runtime;
mod secrets;
mod service;
pub mod state_dir;
mod tuning;
mod units;
mod validate;
mod volumes;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_build;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_extends;
#[cfg(test)]
mod tests_hooks;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_platform;
#[cfg(test)]
mod tests_seed;

use std::{collections::BTreeMap, path::Path};

use crate::{desired::EnvValue, secrets::SecretLoader, source::RootDir};

use serde_json::Value;

use self::{
    interpolate::{interpolate_tree, Finding},
    report::Report,
    service::{Scope, Usage},
};
use crate::{
    desired::{ContainerSpec, NetworkSpec, VolumeSpec},
    diagnostic::{Diagnostic, Diagnostics},
    yaml::{FieldPath, SourceMap},
};

/// One compose mapping to load, and where it came from.
pub struct ComposeInput<'a> {
    /// Stack (= compose project) name.
    pub stack: &'a str,
    /// The file named in diagnostics.
    pub file: &'a Path,
    /// The compose mapping: `{services, networks, volumes, version?, name?, x-*}`.
    pub value: &'a Value,
    /// Line numbers for `value`'s document.
    pub map: &'a SourceMap,
    /// Where `value` sits in that document (root for a compose file, `spec` for inline
    /// Stack services).
    pub base: FieldPath,
    /// Relative paths (`env_file`, bind mounts, `.env`, `secrets:` files) resolve against
    /// this, and only inside the source root (see [`crate::source::root`]).
    pub project_dir: &'a RootDir,
    /// The Stack's project directory on its host ([`state_dir::project_dir`]): relative bind
    /// sources that the repository does not hold are state directories there.
    pub host_project_dir: &'a str,
    /// The home directory on the Stack's host (`Host.spec.homeDir`, see [`home`]): what `~`
    /// in a bind source stands for.
    pub home_dir: &'a str,
    /// Interpolation variables (the Stack's `spec.environment`). The process environment is
    /// never read: see the module docs.
    pub vars: &'a BTreeMap<String, String>,
    /// Secrets the Stack brings, and the decryptor for `env_file:` entries that are SOPS files.
    pub secrets: &'a StackSecrets,
}

/// Decrypted secrets of a Stack (`spec.secrets`), and the loader for encrypted files the
/// compose file itself names.
#[derive(Default)]
pub struct StackSecrets {
    /// Variables of `spec.secrets` entries without `envFile`: every service gets them, below
    /// its own `env_file:` and `environment:`.
    pub env: Vec<(String, EnvValue)>,
    /// `spec.secrets` entries with `envFile: NAME`: a compose `env_file: NAME` reads these
    /// decrypted variables instead of a file (so `env_file: .env` beside a `.sops.env` works
    /// unchanged, as with the seed's decrypt-to-.env hook, but with no plaintext on disk).
    pub env_files: BTreeMap<String, Vec<(String, EnvValue)>>,
    pub loader: SecretLoader,
}

/// What a compose file declares, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeStack {
    /// One container per service, in file order.
    pub containers: Vec<ContainerSpec>,
    /// Non-external networks some service joins, Docker name `<stack>_<name>` (or `name:`),
    /// owned by `Stack/<stack>`. Includes `<stack>_default` when a service uses it.
    pub networks: Vec<NetworkSpec>,
    /// Non-external named volumes some service mounts, `<stack>_<name>` (or `name:`), owned by
    /// `Stack/<stack>`.
    pub volumes: Vec<VolumeSpec>,
    /// Docker names of the external networks the services join, with where each is declared.
    /// Docker's own `bridge` network is listed here when `network_mode: bridge` is used.
    pub external_networks: Vec<(String, FieldPath)>,
    /// Problems that do not stop the load (obsolete `version:`, unset variables, ...).
    pub warnings: Vec<Diagnostic>,
}

/// Loads one compose mapping. Returns every error found, or the resolved stack.
pub fn load(input: &ComposeInput) -> Result<ComposeStack, Diagnostics> {
    let mut report = Report::new(input.file, input.map);
    if !input.value.is_object() {
        report.error(
            &input.base,
            "a compose file must be a mapping with a `services:` key",
        );
        return Err(report.errors);
    }

    let dotenv = load_dotenv(input, &mut report);
    let lookup = |k: &str| input.vars.get(k).or_else(|| dotenv.get(k)).cloned();
    let mut value = input.value.clone();
    let mut findings = Vec::new();
    interpolate_tree(&mut value, &input.base, &lookup, &mut findings);
    for f in findings {
        match f {
            Finding::Error(path, e) => report.error(&path, e.to_string()),
            Finding::Unset(path, var) => report.warn(
                &path,
                format!("variable {var} is not set, defaulting to a blank string"),
            ),
        }
    }
    let Value::Object(mut top) = value else {
        unreachable!("checked above")
    };
    if project::needed(&top) {
        let main = files::SourceFile {
            shown: input.file.to_path_buf(),
            map: std::sync::Arc::new(input.map.clone()),
            base: input.base.clone(),
            dir: input.project_dir.clone(),
            value: top,
        };
        let expanded = project::expand(&mut report, &main, &lookup);
        report.origins.extend_under(&input.base, expanded.origins);
        top = expanded.value;
    }

    check_top_level(input, &mut report, &top);
    let networks = networks::declared_networks(
        &mut report,
        input.stack,
        &input.base.key("networks"),
        top.get("networks"),
    );
    let volumes = networks::declared_volumes(
        &mut report,
        input.stack,
        &input.base.key("volumes"),
        top.get("volumes"),
    );
    let volume_names: BTreeMap<String, String> = volumes
        .iter()
        .map(|(k, v)| (k.clone(), v.spec.name.clone()))
        .collect();

    let declared_secrets = secrets::declared(
        &mut report,
        &input.base.key("secrets"),
        top.get("secrets"),
        input.project_dir,
        &input.secrets.loader,
    );
    let declared_configs = configs::declared(
        &mut report,
        &input.base.key("configs"),
        top.get("configs"),
        &configs::Sources {
            project_dir: input.project_dir,
            loader: &input.secrets.loader,
            lookup: &lookup,
        },
    );
    let scope = Scope {
        stack: input.stack,
        secrets: input.secrets,
        declared_secrets: &declared_secrets,
        declared_configs: &declared_configs,
        project_dir: input.project_dir,
        host_project_dir: input.host_project_dir,
        home_dir: input.home_dir,
        lookup: &lookup,
        networks: &networks,
        volumes: &volume_names,
    };
    let mut usage = Usage::default();
    let mut order = Vec::new();
    let mut services = BTreeMap::new();
    let mut extra = BTreeMap::new();
    let services_path = input.base.key("services");
    let profiles = profiles::active(&lookup);
    match top.get("services") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, def) in map {
                let path = services_path.key(name.clone());
                if profiles::left_out(&mut report, &path, name, def, &profiles) {
                    continue;
                }
                if let Some(conv) = load_service(&mut report, &scope, &mut usage, name, &path, def) {
                    order.push(name.clone());
                    let refs = links::Refs {
                        links: conv.links,
                        volumes_from: conv.volumes_from,
                    };
                    extra.insert(name.clone(), (conv.replicas, refs));
                    services.insert(name.clone(), (path, conv.spec));
                }
            }
        }
        Some(_) => report.error(
            &services_path,
            "`services` must be a mapping of names to services",
        ),
    }
    links::add_dependencies(&mut services, &extra);
    validate::check(&mut report, &services);

    let mut external_networks = Vec::new();
    let mut stack_networks = Vec::new();
    for key in &usage.networks {
        let net = &networks[key];
        if net.spec.external {
            external_networks.push((net.spec.name.clone(), net.path.clone()));
        } else {
            stack_networks.push(net.spec.clone());
        }
    }
    if let Some(path) = usage.bridge.first() {
        external_networks.push(("bridge".to_string(), path.clone()));
    }
    let stack_volumes = volumes
        .into_values()
        .filter(|v| !v.spec.external && usage.volumes.contains(&v.spec.name))
        .map(|v| v.spec)
        .collect();
    let paths: BTreeMap<String, FieldPath> = services
        .iter()
        .map(|(k, (p, _))| (k.clone(), p.clone()))
        .collect();
    let mut containers = replicas::expand(&mut report, &order, services, &extra);
    links::resolve(&mut report, &paths, &mut containers, &extra);
    let Report { errors, warnings, .. } = report;
    errors.into_result(ComposeStack {
        containers,
        networks: stack_networks,
        volumes: stack_volumes,
        external_networks,
        warnings,
    })
}

/// Top-level keys other than services, networks and volumes.
fn check_top_level(input: &ComposeInput, report: &mut Report, top: &serde_json::Map<String, Value>) {
    for (key, v) in top {
        let path = input.base.key(key.clone());
        match key.as_str() {
            "services" | "networks" | "volumes" | "secrets" | "configs" => {}
            k if k.starts_with("x-") => {}
            "version" => report.warn(&path, "`version` is obsolete and ignored"),
            "name" => {
                if v.as_str() != Some(input.stack) {
                    report.warn(
                        &path,
                        format!(
                            "the project name is the Stack's name `{}`; `name: {}` is ignored",
                            input.stack,
                            v.as_str().unwrap_or("?")
                        ),
                    );
                }
            }
            _ => report.error_hint(
                &path,
                format!("unknown top-level key `{key}`"),
                "a compose file has services, networks, volumes, name, version and x-* keys",
            ),
        }
    }
}

fn load_service(
    report: &mut Report,
    scope: &Scope,
    usage: &mut Usage,
    name: &str,
    path: &FieldPath,
    def: &Value,
) -> Option<service::Converted> {
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid_name {
        report.error(
            path,
            format!("`{name}` is not a valid service name (letters, digits, `_`, `.`, `-`)"),
        );
    }
    let mut map = match def {
        Value::Object(m) => m.clone(),
        Value::Null => serde_json::Map::new(),
        _ => {
            report.error(path, format!("service `{name}` must be a mapping"));
            return None;
        }
    };
    keys::check_service_keys(report, path, &mut map, model::SERVICE_KEYS);
    let svc: model::Service = report.decode(path, &Value::Object(map))?;
    Some(service::convert(report, scope, usage, name, path, svc))
}

/// The project's `.env` file (compose's default), if present. Its values may refer to the
/// Stack's variables and to its own earlier lines. Read through the source root like every
/// other file: a `.env` that is a symlink out of the repository is an error, not "absent".
fn load_dotenv(input: &ComposeInput, report: &mut Report) -> BTreeMap<String, String> {
    let shown = input.project_dir.shown(".env");
    let src = match input.project_dir.read_to_string(".env") {
        Ok((_, src)) => src,
        Err(e) if e.is_not_found() => return BTreeMap::new(),
        Err(e) => {
            report
                .errors
                .push(Diagnostic::new(&shown, None, FieldPath::root(), e.to_string()).with_hint(e.hint()));
            return BTreeMap::new();
        }
    };
    let lookup = |k: &str| input.vars.get(k).cloned();
    match env_file::parse(&src, &lookup) {
        Ok(parsed) => {
            for var in &parsed.unset {
                report.warnings.push(Diagnostic::new(
                    &shown,
                    None,
                    FieldPath::root(),
                    format!("variable {var} is not set, defaulting to a blank string"),
                ));
            }
            parsed.to_map()
        }
        Err(e) => {
            report.errors.push(Diagnostic::new(
                &shown,
                Some(e.line),
                FieldPath::root(),
                e.message,
            ));
            BTreeMap::new()
        }
    }
}
