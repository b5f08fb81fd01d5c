//! compose `secrets:`: top-level secrets from files (SOPS-encrypted or plain) and the
//! services that mount them at `/run/secrets/<name>`.
//!
//! A SOPS file is decrypted in memory; the plaintext is only ever written into the created
//! container (see `docker::containers`). `environment:` and `external:` secrets (Swarm's) are
//! not supported and say so.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    flex::{Scalar, StrOr},
    model::{SecretDef, ServiceSecretLong},
    report::Report,
};
use crate::{
    desired::SecretFile,
    secrets::{Secret, SecretLoader},
    source::RootDir,
    yaml::FieldPath,
};

/// A top-level secret, decrypted.
pub struct Declared {
    value: Secret,
    digest: String,
}

/// Reads and decrypts every top-level secret.
pub fn declared(
    report: &mut Report,
    section: &FieldPath,
    value: Option<&Value>,
    project_dir: &RootDir,
    loader: &SecretLoader,
) -> BTreeMap<String, Declared> {
    let mut out = BTreeMap::new();
    for (key, path, v) in top_level_entries(report, section, value, "secret") {
        let def: SecretDef = match serde_json::from_value(v) {
            Ok(d) => d,
            Err(e) => {
                report.error(&path, e.to_string());
                continue;
            }
        };
        if def.environment.is_some() || def.external.is_some_and(|b| b.0) || def.name.is_some() {
            report.error_hint(
                &path,
                "only file secrets are supported (`environment`, `external` and `name` are not)",
                "point `file:` at a SOPS-encrypted file in the repo",
            );
            continue;
        }
        let Some(file) = def.file else {
            report.error_hint(
                &path,
                "a secret needs `file:`",
                "e.g. `file: ./db-password.sops.yaml`",
            );
            continue;
        };
        let (at, bytes) = match project_dir.read(&file) {
            Ok((at, b)) => (at, zeroize::Zeroizing::new(b)),
            Err(e) => {
                report.error_hint(&path.key("file"), format!("secret file {e}"), e.hint());
                continue;
            }
        };
        let result = if looks_encrypted(&bytes) {
            loader.file(at.shown(), &bytes)
        } else {
            loader
                .env_value(Secret::from_bytes(bytes.to_vec()))
                .map(|v| match v {
                    crate::desired::EnvValue::Secret { value, digest } => (value, digest),
                    crate::desired::EnvValue::Plain(_) => (Secret::default(), String::new()),
                })
        };
        match result {
            Ok((value, digest)) => {
                out.insert(key.clone(), Declared { value, digest });
            }
            Err(e) => report.error_hint(
                &path.key("file"),
                format!("secret file `{file}` cannot be decrypted: {e}"),
                "check the age key (SOPS_AGE_KEY_FILE / --age-key-file) and that the file was encrypted for it",
            ),
        }
    }
    out
}

/// A service's `secrets:` as files for its container.
pub fn for_service(
    report: &mut Report,
    path: &FieldPath,
    entries: Vec<StrOr<ServiceSecretLong>>,
    declared: &BTreeMap<String, Declared>,
) -> Vec<SecretFile> {
    let mut files = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = path.index(i);
        let long = long_form(entry);
        let Some(d) = declared.get(&long.source) else {
            report.error_hint(
                &at,
                format!("secret `{}` is not declared", long.source),
                "declare it under the top-level `secrets:` with `file:`",
            );
            continue;
        };
        let target = match long.target.as_deref() {
            None => format!("/run/secrets/{}", long.source),
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("/run/secrets/{t}"),
        };
        files.push(written_file(report, &at, &long, target, &d.value, &d.digest));
    }
    files
}

/// The entries of the top-level `secrets:` or `configs:` (`what`: `secret` or `config`),
/// each with its path; an entry written as null is an empty mapping. A section that is not a
/// mapping is reported and has none.
pub fn top_level_entries(
    report: &mut Report,
    section: &FieldPath,
    value: Option<&Value>,
    what: &str,
) -> Vec<(String, FieldPath, Value)> {
    let Some(Value::Object(map)) = value.filter(|v| !v.is_null()) else {
        if value.is_some_and(|v| !v.is_null()) {
            report.error(section, format!("`{what}s` must be a mapping of {what} names"));
        }
        return Vec::new();
    };
    map.iter()
        .map(|(key, v)| {
            let v = if v.is_null() {
                Value::Object(Default::default())
            } else {
                v.clone()
            };
            (key.clone(), section.key(key.clone()), v)
        })
        .collect()
}

/// A service's `secrets:` or `configs:` entry in its long form (the short form names only
/// the source).
pub fn long_form(entry: StrOr<ServiceSecretLong>) -> ServiceSecretLong {
    match entry {
        StrOr::Str(source) => ServiceSecretLong {
            source,
            ..Default::default()
        },
        StrOr::Long(l) => l,
    }
}

/// The file a secret or a (written-in) config entry `long` puts at `target` in the container:
/// `value`, with the entry's mode and owner ([`ownership`]).
pub fn written_file(
    report: &mut Report,
    at: &FieldPath,
    long: &ServiceSecretLong,
    target: String,
    value: &Secret,
    digest: &str,
) -> SecretFile {
    let (mode, uid, gid) = ownership(report, at, long);
    SecretFile {
        target,
        mode,
        uid,
        gid,
        value: value.clone(),
        digest: digest.to_string(),
    }
}

/// The long form's `mode` (octal), `uid` and `gid`; compose's defaults are 0444 (readable by
/// the container's user, whoever it is) and root.
fn ownership(report: &mut Report, at: &FieldPath, long: &ServiceSecretLong) -> (u32, u32, u32) {
    let mut number = |s: &Option<Scalar>, what: &str, octal: bool| -> Option<u32> {
        let text = s.as_ref()?.0.clone();
        let parsed = if octal {
            u32::from_str_radix(text.trim_start_matches("0o"), 8)
        } else {
            text.parse()
        };
        match parsed {
            Ok(n) => Some(n),
            Err(_) => {
                report.error(&at.key(what), format!("`{text}` is not a valid {what}"));
                None
            }
        }
    };
    (
        number(&long.mode, "mode", true).unwrap_or(0o444),
        number(&long.uid, "uid", false).unwrap_or(0),
        number(&long.gid, "gid", false).unwrap_or(0),
    )
}

/// Whether a file is SOPS output (any store): its metadata is unmistakable.
pub fn looks_encrypted(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    (text.contains("sops") && text.contains("ENC[AES256_GCM,")) || text.contains("sops_mac=")
}
