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
    let Some(Value::Object(map)) = value.filter(|v| !v.is_null()) else {
        if value.is_some_and(|v| !v.is_null()) {
            report.error(section, "`secrets` must be a mapping of secret names");
        }
        return out;
    };
    for (key, v) in map {
        let path = section.key(key.clone());
        let def: SecretDef = match serde_json::from_value(if v.is_null() {
            Value::Object(Default::default())
        } else {
            v.clone()
        }) {
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
        let long = match entry {
            StrOr::Str(source) => ServiceSecretLong {
                source,
                ..Default::default()
            },
            StrOr::Long(l) => l,
        };
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
        let (mode, uid, gid) = ownership(report, &at, &long);
        files.push(SecretFile {
            target,
            mode,
            uid,
            gid,
            value: d.value.clone(),
            digest: d.digest.clone(),
        });
    }
    files
}

/// The long form's `mode` (octal), `uid` and `gid`; compose's defaults are 0444 (readable by
/// the container's user, whoever it is) and root.
pub fn ownership(report: &mut Report, at: &FieldPath, long: &ServiceSecretLong) -> (u32, u32, u32) {
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
