//! Source → desired state: loads and validates every manifest of a revision, loads the
//! compose files the Stacks reference, and assembles one [`DesiredHost`] per host.
//!
//! A revision is accepted whole or rejected whole: any diagnostic from any stage rejects it,
//! including a broken [`crate::policy`] rule, checked last on the complete desired state.

mod critical_hooks;
pub mod dnsguards;
mod hosts;
mod management;
mod stacks;
pub mod tunnels;

use std::path::Path;

use crate::{
    desired::{DesiredHost, DesiredState},
    diagnostic::{Diagnostic, Diagnostics},
    manifest::{self, AnyManifest, ManifestSet},
    policy,
    source::SourceRoot,
    yaml::FieldPath,
};

/// A valid revision.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub state: DesiredState,
    pub manifests: ManifestSet,
    /// Non-fatal notes: the obsolete compose `version:` key, and security warnings
    /// (`privileged`, Docker socket mounts, host networking, ports on every address) that no
    /// `Policy` rules on.
    pub warnings: Vec<Diagnostic>,
    /// The TunnelClients' `pangolinApi` checks, API keys decrypted (see
    /// [`crate::tunnel::pangolin_api`]); a TunnelClient without one is "not checked".
    pub pangolin_checks: Vec<crate::desired::PangolinCheck>,
}

/// Loads the source directory `root` into a desired state, or every reason it is invalid.
/// The revision is the digest of the directory's content ([`dir_revision`]).
pub fn load_source(root: &Path) -> Result<Resolved, Diagnostics> {
    // Hidden files (`.env`) count too: interpolation reads them.
    let revision: String = dir_revision(root).chars().take(12).collect();
    load_source_at(root, &revision)
}

/// [`load_source`] for a revision whose id the caller knows (a git commit, shown short).
///
/// Every file is read through one [`SourceRoot`] at `root`: nothing outside it is read.
pub fn load_source_at(root: &Path, revision: &str) -> Result<Resolved, Diagnostics> {
    let source = SourceRoot::open(root).map_err(|e| {
        Diagnostics(vec![Diagnostic::new(
            root,
            None,
            FieldPath::root(),
            e.to_string(),
        )
        .with_hint(e.hint())])
    })?;
    let (set, mut diags) = manifest::load_root(&source);
    diags.extend(manifest::validate(&set));
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut warnings = Vec::new();
    let mut origins = policy::Origins::new();
    let mut pangolin_checks = Vec::new();
    let mut hosts: Vec<DesiredHost> = Vec::new();
    for name in set.host_names() {
        match hosts::host_spec(&set, &name) {
            Ok(spec) => hosts.push(DesiredHost {
                host: spec,
                networks: Vec::new(),
                stacks: Vec::new(),
            }),
            Err(d) => diags.push(d),
        }
    }
    for m in &set.items {
        let Ok(host) = set.host_of(&m.value) else { continue };
        let Some(target) = hosts.iter_mut().find(|h| h.host.name == host) else {
            continue;
        };
        match &m.value {
            AnyManifest::Network(n) => target.networks.push(hosts::network_spec(n)),
            AnyManifest::Stack(s) => match stacks::stack_spec(&source, m, s, &hosts::home_dir(&set, &host)) {
                Ok(loaded) => {
                    origins.insert(loaded.spec.name.clone(), loaded.origin);
                    target.stacks.push(loaded.spec);
                    warnings.extend(loaded.warnings);
                }
                Err(e) => diags.extend(e),
            },
            AnyManifest::DnsGuard(g) => {
                origins.insert(g.metadata.name.clone(), manifest_origin(m));
                target.stacks.push(dnsguards::expand(&dnsguards::Guard::new(
                    &g.metadata.name,
                    &g.spec,
                )));
            }
            AnyManifest::TunnelClient(t) => match tunnels::tunnel_spec(&source, &set, m, t) {
                Ok((spec, check)) => {
                    origins.insert(t.metadata.name.clone(), manifest_origin(m));
                    target.stacks.push(spec);
                    pangolin_checks.extend(check);
                }
                Err(e) => diags.extend(e),
            },
            AnyManifest::Host(_) | AnyManifest::Policy(_) => {}
        }
    }
    for h in &hosts {
        diags.extend(stacks::check_host_collisions(&set, h));
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let names: Vec<String> = hosts.iter().map(|h| h.host.name.clone()).collect();
    let management = management::management(&set, &names);
    for stack in hosts.iter_mut().flat_map(|h| h.stacks.iter_mut()) {
        stack.critical |= management.is_critical(&stack.owner());
    }
    let refused = critical_hooks::check(&set, &hosts);
    if !refused.is_empty() {
        return Err(Diagnostics(refused));
    }
    warnings.extend(management::warnings(&set));
    let state = DesiredState {
        revision: revision.to_owned(),
        hosts,
        management,
    };
    // Last, on the complete desired state: a policy judges the values Docker would get.
    let checked = policy::check(&set, &state, &origins);
    if !checked.errors.is_empty() {
        return Err(checked.errors);
    }
    warnings.extend(checked.warnings);
    Ok(Resolved {
        state,
        manifests: set,
        warnings,
        pangolin_checks,
    })
}

/// Where policy findings about a DnsGuard's or TunnelClient's container point: its manifest
/// (the container is generated from the `spec`, not written as compose).
fn manifest_origin(m: &manifest::Located<AnyManifest>) -> policy::StackOrigin {
    policy::StackOrigin {
        file: m.file.clone(),
        map: m.map.clone(),
        base: FieldPath::parse("spec"),
        compose: serde_json::Value::Null,
    }
}

/// Digest of every file under `root` (paths, modes and contents; hidden directories such as
/// `.git` skipped): a directory source's revision. Unlike the manifest digest it covers files
/// that aren't YAML (env files, bind-mounted config), so a change to any of them is a new
/// revision. A symlink counts by its target as written (never followed: what it names is
/// read, inside the root only, when the revision is loaded), so re-pointing one is a new
/// revision too. Empty when the directory can't be read.
pub fn dir_revision(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return String::new();
        };
        for e in entries.flatten() {
            let path = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            match e.file_type() {
                Ok(t) if t.is_dir() && !hidden => stack.push(path),
                Ok(t) if t.is_file() || t.is_symlink() => files.push(path),
                _ => {}
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.strip_prefix(root).unwrap_or(&f).to_string_lossy().as_bytes());
        h.update([0]);
        match std::fs::read_link(&f) {
            Ok(target) => {
                h.update(b"->");
                h.update(target.as_os_str().as_encoded_bytes());
            }
            Err(_) => {
                if let Ok(bytes) = std::fs::read(&f) {
                    h.update(&bytes);
                }
            }
        }
        h.update([0]);
    }
    hex::encode(h.finalize())
}
