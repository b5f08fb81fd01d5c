//! compose `configs:`: top-level configs (`file:` from the repository, SOPS-encrypted or
//! not; `content:` inline; `environment:` from a variable) and the services that use them,
//! by default at `/<name>`.
//!
//! Delivered as Compose v2 delivers them, where that keeps plaintext off every disk:
//! - a plain repository file is bind-mounted read-only, like any repository file aegis
//!   delivers (content-addressed, so a change recreates only the containers that mount it).
//!   Compose v2 ignores `uid`, `gid` and `mode` there, with a warning; so does aegis;
//! - a SOPS file, `content:` and `environment:` are written into the created container before
//!   it starts, like `secrets:` (see `docker::containers`), with `uid`, `gid` and `mode`. A
//!   `read_only` service cannot take them, as in Compose v2.
//!
//! `external: true` configs are Swarm objects: an error with a hint.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    flex::StrOr,
    model::{ConfigDef, ServiceSecretLong},
    report::Report,
    secrets::{long_form, looks_encrypted, top_level_entries, written_file},
    volumes::repo_file,
};
use crate::{
    desired::{BindSource, ContainerSpec, Mount, MountKind, RepoFile},
    secrets::{Secret, SecretLoader},
    source::RootDir,
    yaml::FieldPath,
};

/// A top-level config, ready to deliver.
pub enum Declared {
    /// A plain repository file or directory: bind-mounted read-only.
    Repo(RepoFile),
    /// Content written into the container (decrypted SOPS file, `content:`, `environment:`).
    Value { value: Secret, digest: String },
    /// An `environment:` config whose variable is not set: an error where a service uses it.
    Unset(String),
}

/// What reading the top-level configs needs.
pub struct Sources<'a> {
    pub project_dir: &'a RootDir,
    pub loader: &'a SecretLoader,
    /// The interpolation variables (`environment:` configs read these, never the process's).
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

/// Reads every top-level config.
pub fn declared(
    report: &mut Report,
    section: &FieldPath,
    value: Option<&Value>,
    src: &Sources,
) -> BTreeMap<String, Declared> {
    let mut out = BTreeMap::new();
    for (key, path, v) in top_level_entries(report, section, value, "config") {
        let Some(def) = report.decode::<ConfigDef>(&path, &v) else {
            continue;
        };
        if let Some(d) = one(report, &path, def, src) {
            out.insert(key, d);
        }
    }
    out
}

fn one(report: &mut Report, path: &FieldPath, def: ConfigDef, src: &Sources) -> Option<Declared> {
    if def.external.as_ref().is_some_and(|e| e.resolve().0) {
        report.error_hint(
            path,
            "external configs are Swarm objects; one Docker engine has none",
            "declare the config with `file:` (a file in the repository, SOPS-encrypted if it is sensitive) or `content:`",
        );
        return None;
    }
    let given = [
        def.file.is_some(),
        def.content.is_some(),
        def.environment.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        report.error_hint(
            path,
            "a config needs exactly one of `file`, `content` and `environment`",
            "e.g. `file: ./app.conf`",
        );
        return None;
    }
    if let Some(content) = def.content {
        return Some(plain(content.into_bytes()));
    }
    if let Some(var) = def.environment {
        // Compose v2 fails only when a container needs it: an unused config may name an unset
        // variable.
        return Some(match (src.lookup)(&var) {
            Some(v) => plain(v.into_bytes()),
            None => Declared::Unset(var),
        });
    }
    let file = def.file.unwrap_or_default();
    let at = path.key("file");
    let found = match src.project_dir.resolve(&file) {
        Ok(found) => found,
        Err(e) => {
            report.error_hint(&at, format!("config file {e}"), e.hint());
            return None;
        }
    };
    let repo = |report: &mut Report| {
        report
            .check(
                &at,
                repo_file(&found).map_err(|e| format!("config file `{file}`: {e} (hint: {})", e.hint())),
            )
            .map(Declared::Repo)
    };
    if found.path().is_dir() {
        return repo(report);
    }
    let bytes = match found.read() {
        Ok(b) => zeroize::Zeroizing::new(b),
        Err(e) => {
            report.error_hint(&at, format!("config file {e}"), e.hint());
            return None;
        }
    };
    if looks_encrypted(&bytes) {
        return match src.loader.file(found.shown(), &bytes) {
            Ok((value, digest)) => Some(Declared::Value { value, digest }),
            Err(e) => {
                report.error_hint(
                    &at,
                    format!("config file `{file}` cannot be decrypted: {e}"),
                    "check the age key (SOPS_AGE_KEY_FILE / --age-key-file) and that the file was encrypted for it",
                );
                None
            }
        };
    }
    repo(report)
}

fn plain(bytes: Vec<u8>) -> Declared {
    let digest = hex::encode(Sha256::digest(&bytes));
    Declared::Value {
        value: Secret::from_bytes(bytes),
        digest,
    }
}

/// A service's `configs:`: bind mounts and files for its container, added to `c`.
pub fn for_service(
    report: &mut Report,
    path: &FieldPath,
    entries: Vec<StrOr<ServiceSecretLong>>,
    declared: &BTreeMap<String, Declared>,
    read_only: bool,
    c: &mut ContainerSpec,
) {
    for (i, entry) in entries.into_iter().enumerate() {
        let at = path.index(i);
        let long = long_form(entry);
        let Some(d) = declared.get(&long.source) else {
            report.error_hint(
                &at,
                format!("config `{}` is not declared", long.source),
                "declare it under the top-level `configs:` with `file:`, `content:` or `environment:`",
            );
            continue;
        };
        let target = target(&long);
        match d {
            Declared::Repo(f) => {
                if long.uid.is_some() || long.gid.is_some() || long.mode.is_some() {
                    report.warn(
                        &at,
                        "`uid`, `gid` and `mode` are ignored for a config bind-mounted from a plain file (as in Compose v2)",
                    );
                }
                c.mounts.push(Mount {
                    target,
                    read_only: true,
                    kind: MountKind::Bind {
                        source: BindSource::Repo(f.clone()),
                        propagation: None,
                        create_host_path: false,
                        relabel: None,
                    },
                });
            }
            Declared::Unset(var) => report.error_hint(
                &at,
                format!("config `{}` reads variable `{var}`, which is not set", long.source),
                "set it in the Stack's `spec.environment` or the project's `.env` (aegis never reads the controller's own environment)",
            ),
            Declared::Value { value, digest } => {
                if read_only {
                    report.error_hint(
                        &at,
                        format!("config `{}` cannot be written into a `read_only` container", long.source),
                        "use a plain (not encrypted) `file:` config, which is bind-mounted, or drop `read_only`",
                    );
                    continue;
                }
                c.secret_files
                    .push(written_file(report, &at, &long, target, value, digest));
            }
        }
    }
}

/// `/<name>` by default; a relative target is made absolute, as Compose v2 does.
fn target(long: &ServiceSecretLong) -> String {
    match long.target.as_deref() {
        None | Some("") => format!("/{}", long.source),
        Some(t) if t.starts_with('/') => t.to_string(),
        Some(t) => format!("/{t}"),
    }
}

#[cfg(test)]
#[path = "configs_tests.rs"]
mod tests;
