//! A service's final environment: `env_file:` entries in order, then `environment:`.
//!
//! Like compose, a later env file overrides an earlier one and `environment:` overrides them
//! all. A key given without a value (`- KEY`, `KEY:` or a bare `KEY` line in an env file)
//! takes its value from the Stack's variables (compose would read the shell environment;
//! aegis never does, so that a revision means the same thing on every run), and is left out
//! when there is none.
//!
//! Secrets: the Stack's `spec.secrets` variables come first (lowest precedence); an
//! `env_file:` named by a `spec.secrets` entry's `envFile` reads its decrypted variables, and
//! an `env_file:` that is itself a SOPS dotenv file is decrypted in memory. Either way the
//! values stay [`EnvValue::Secret`] and no plaintext touches the disk.

use std::collections::BTreeMap;

use super::{
    env_file,
    flex::{ListOrMap, OneOrMany, StrOr},
    model::EnvFileLong,
    report::Report,
};
use crate::{desired::EnvValue, secrets::loader::is_sops_dotenv, source::RootDir, yaml::FieldPath};

pub fn resolve(
    report: &mut Report,
    svc_path: &FieldPath,
    env_files: Option<OneOrMany<StrOr<EnvFileLong>>>,
    environment: ListOrMap,
    project_dir: &RootDir,
    lookup: &dyn Fn(&str) -> Option<String>,
    secrets: &super::StackSecrets,
) -> BTreeMap<String, EnvValue> {
    let mut env: BTreeMap<String, EnvValue> = secrets.env.iter().cloned().collect();
    for (i, entry) in env_files.map(|f| f.0).unwrap_or_default().into_iter().enumerate() {
        let path = svc_path.key("env_file").index(i);
        let (file, required) = match entry {
            StrOr::Str(p) => (p, true),
            StrOr::Long(l) => (l.path, l.required.is_none_or(|b| b.0)),
        };
        if let Some(vars) = secrets.env_files.get(&file) {
            env.extend(vars.iter().cloned());
            continue;
        }
        // Read through the source root: the file must be in the repository (a missing one
        // is skipped only when `required: false`; an escape never is).
        let (at, src) = match project_dir.read_to_string(&file) {
            Ok(read) => read,
            Err(e) if e.is_not_found() && !required => continue,
            Err(e) => {
                report.error_hint(&path, format!("env file {e}"), e.hint());
                continue;
            }
        };
        if is_sops_dotenv(&src) {
            match secrets.loader.env_file(at.shown(), src.as_bytes()) {
                Ok(vars) => env.extend(vars),
                Err(e) => report.error_hint(
                    &path,
                    format!("env file `{file}` cannot be decrypted: {e}"),
                    "check the age key (SOPS_AGE_KEY_FILE / --age-key-file) and that the file was encrypted for it",
                ),
            }
            continue;
        }
        match env_file::parse(&src, lookup) {
            Ok(parsed) => {
                for var in &parsed.unset {
                    report.warn(
                        &path,
                        format!("env file `{file}`: variable {var} is not set, defaulting to a blank string"),
                    );
                }
                env.extend(parsed.vars.into_iter().map(|(k, v)| (k, EnvValue::Plain(v))));
            }
            Err(e) => report.error(&path, format!("env file `{file}` line {}: {}", e.line, e.message)),
        }
    }
    for (key, value) in environment.0 {
        if key.is_empty() {
            report.error(
                &svc_path.key("environment"),
                "an environment entry has an empty name",
            );
            continue;
        }
        if let Some(v) = value.or_else(|| lookup(&key)) {
            env.insert(key, EnvValue::Plain(v));
        }
    }
    env
}
