//! `Stack` manifests → desired stacks, through the compose loader.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use serde_json::{Map, Value};

use crate::{
    compose::{self, ComposeInput, StackSecrets},
    desired::{DesiredHost, StackSpec},
    diagnostic::{Diagnostic, Diagnostics},
    manifest::{
        kinds::{Manifest, StackManifestSpec},
        AnyManifest, Located, ManifestSet,
    },
    policy::StackOrigin,
    source::{RootDir, SourceRoot},
    yaml::{self, FieldPath, SourceMap},
};

/// One resolved Stack, its non-fatal warnings, and where its services were written (for
/// policy findings).
pub(super) struct LoadedStack {
    pub spec: StackSpec,
    pub warnings: Vec<Diagnostic>,
    pub origin: StackOrigin,
}

/// Every file a Stack names (compose file, SOPS files, and through the compose loader its
/// env files, `.env`, bind sources and secrets) is read through `root`: inside the
/// repository or not at all. `home_dir` is the home directory on the Stack's host (`~` in
/// bind sources).
pub(super) fn stack_spec(
    root: &SourceRoot,
    m: &Located<AnyManifest>,
    s: &Manifest<StackManifestSpec>,
    home_dir: &str,
) -> Result<LoadedStack, Diagnostics> {
    let name = &s.metadata.name;
    let manifest_dir = root.dir(m.dir()).map_err(|e| {
        m.diag(FieldPath::root(), format!("the manifest's directory: {e}"))
            .with_hint(e.hint())
    })?;
    let secrets = stack_secrets(&manifest_dir, m, s)?;
    let host_project_dir = host_project_dir(m, s)?;
    let (loaded, origin) = match (&s.spec.compose, &s.spec.services) {
        (Some(rel), _) => {
            let at = FieldPath::parse("spec.compose");
            let refused = |e: crate::source::RootError| -> Diagnostics {
                m.diag(at.clone(), format!("compose file {e}"))
                    .with_hint(e.hint())
                    .into()
            };
            let (file, src) = manifest_dir.read_to_string(rel).map_err(refused)?;
            // compose's project directory is the compose file's directory as the Stack
            // names it (a symlinked compose file keeps its link's neighbours).
            let project_dir = manifest_dir
                .subdir(Path::new(rel).parent().unwrap_or(Path::new("")))
                .map_err(refused)?;
            let shown = file.shown().to_path_buf();
            let docs = yaml::parse_documents(&shown, &src)?;
            let [doc] = docs.as_slice() else {
                return Err(Diagnostic::new(
                    &shown,
                    None,
                    FieldPath::root(),
                    "a compose file must hold exactly one YAML document",
                )
                .into());
            };
            let loaded = compose::load(&ComposeInput {
                stack: name,
                file: &shown,
                value: &doc.value,
                map: &doc.map,
                base: FieldPath::root(),
                project_dir: &project_dir,
                host_project_dir: &host_project_dir,
                home_dir,
                vars: &s.spec.environment,
                secrets: &secrets,
            })?;
            let origin = StackOrigin {
                file: shown.clone(),
                map: Arc::new(doc.map.clone()),
                base: FieldPath::root(),
                compose: doc.value.clone(),
            };
            (loaded, origin)
        }
        (None, Some(services)) => {
            let mut obj = Map::new();
            obj.insert("services".into(), services.clone());
            if let Some(n) = &s.spec.networks {
                obj.insert("networks".into(), n.clone());
            }
            if let Some(v) = &s.spec.volumes {
                obj.insert("volumes".into(), v.clone());
            }
            let value = Value::Object(obj);
            let map: &SourceMap = &m.map;
            let loaded = compose::load(&ComposeInput {
                stack: name,
                file: &m.file,
                value: &value,
                map,
                base: FieldPath::parse("spec"),
                project_dir: &manifest_dir,
                host_project_dir: &host_project_dir,
                home_dir,
                vars: &s.spec.environment,
                secrets: &secrets,
            })?;
            let origin = StackOrigin {
                file: m.file.clone(),
                map: m.map.clone(),
                base: FieldPath::parse("spec"),
                compose: value,
            };
            (loaded, origin)
        }
        (None, None) => {
            return Err(m
                .diag(FieldPath::parse("spec"), "a Stack needs `compose` or `services`")
                .into())
        }
    };
    let spec = StackSpec {
        kind: crate::desired::Kind::Stack,
        name: name.clone(),
        depends_on: s.spec.depends_on.clone(),
        containers: loaded.containers,
        networks: loaded.networks,
        volumes: loaded.volumes,
        critical: s.spec.critical,
    };
    Ok(LoadedStack {
        spec,
        warnings: loaded.warnings,
        origin,
    })
}

/// The Stack's project directory on its host: `spec.projectDir`, checked, or the default
/// under `/var/lib/aegis/stacks` (see [`compose::state_dir`]).
fn host_project_dir(
    m: &Located<AnyManifest>,
    s: &Manifest<StackManifestSpec>,
) -> Result<String, Diagnostics> {
    match &s.spec.project_dir {
        Some(dir) => compose::state_dir::check_project_dir(dir).map_err(|e| {
            m.diag(FieldPath::parse("spec.projectDir"), format!("projectDir {e}"))
                .with_hint("write an absolute path on the target host, such as /etc/komodo/stacks/<name>; or leave it out for /var/lib/aegis/stacks/<stack>")
        })?,
        None => compose::state_dir::check_stack_name(&s.metadata.name).map_err(|e| {
            m.diag(FieldPath::parse("metadata.name"), format!("the stack name {e}"))
                .with_hint("rename the stack, or set spec.projectDir")
        })?,
    }
    Ok(compose::state_dir::project_dir(
        &s.metadata.name,
        s.spec.project_dir.as_deref(),
    ))
}

/// Decrypts the Stack's `spec.secrets` files (in memory), read from the repository.
fn stack_secrets(
    manifest_dir: &RootDir,
    m: &Located<AnyManifest>,
    s: &Manifest<StackManifestSpec>,
) -> Result<StackSecrets, Diagnostics> {
    let mut out = StackSecrets::default();
    let mut diags = Diagnostics::default();
    for (i, entry) in s.spec.secrets.iter().enumerate() {
        let at = FieldPath::parse("spec.secrets").index(i).key("sopsEnv");
        let (file, bytes) = match manifest_dir.read(&entry.sops_env) {
            Ok(read) => read,
            Err(e) => {
                diags.push(m.diag(at, format!("SOPS file {e}")).with_hint(e.hint()));
                continue;
            }
        };
        match out.loader.env_file(file.shown(), &bytes) {
            Ok(vars) => match &entry.env_file {
                Some(name) => {
                    out.env_files.entry(name.clone()).or_default().extend(vars);
                }
                None => out.env.extend(vars),
            },
            Err(e) => diags.push(
                m.diag(at, format!("`{}` cannot be decrypted: {e}", entry.sops_env))
                    .with_hint("the path is relative to the manifest; check the age key (SOPS_AGE_KEY_FILE / --age-key-file)"),
            ),
        }
    }
    diags.into_result(out)
}

/// Two stacks on one host may not claim the same container name, and a stack's compose network
/// may not collide with a `Network` manifest.
pub(super) fn check_host_collisions(set: &ManifestSet, host: &DesiredHost) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut containers: BTreeMap<&str, &str> = BTreeMap::new();
    let mut networks: BTreeMap<&str, String> = host
        .networks
        .iter()
        .map(|n| (n.name.as_str(), n.owner.to_string()))
        .collect();
    let mut projects: BTreeMap<&str, crate::desired::ResourceRef> = BTreeMap::new();
    for stack in &host.stacks {
        let at = |what: String| {
            let r = stack.owner();
            match set.get(&r) {
                Some(m) => m.diag(FieldPath::parse("metadata.name"), what),
                None => Diagnostic::new(&set.root, None, FieldPath::root(), what),
            }
        };
        if let Some(other) = projects.insert(&stack.name, stack.owner()) {
            diags.push(
                at(format!(
                    "{other} and {} on host `{}` share the name `{}`, which names their containers' compose project",
                    stack.owner(),
                    host.host.name,
                    stack.name
                ))
                .with_hint("Stacks, DnsGuards and TunnelClients on one host need different names"),
            );
        }
        for c in &stack.containers {
            if let Some(other) = containers.insert(&c.name, &stack.name) {
                let other = projects.get(other).map(ToString::to_string).unwrap_or_default();
                diags.push(
                    at(format!(
                        "container name `{}` on host `{}` is used by {other} and {}",
                        c.name,
                        host.host.name,
                        stack.owner()
                    ))
                    .with_hint("container names are per host; change container_name"),
                );
            }
        }
        for n in &stack.networks {
            if let Some(other) = networks.insert(&n.name, stack.owner().to_string()) {
                diags.push(
                    at(format!(
                        "network `{}` on host `{}` is declared by {other} and {}",
                        n.name,
                        host.host.name,
                        stack.owner()
                    ))
                    .with_hint("declare the network once, and mark it `external: true` in the compose file"),
                );
            }
        }
    }
    diags
}

#[cfg(test)]
#[path = "stacks_test_support.rs"]
mod test_support;

#[cfg(test)]
#[path = "stacks_project_dir_tests.rs"]
mod project_dir_tests;

#[cfg(test)]
#[path = "stacks_home_dir_tests.rs"]
mod home_dir_tests;
