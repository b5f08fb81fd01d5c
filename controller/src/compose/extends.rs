//! `extends:` resolved the way Compose v2 (compose-go v2.9 `ApplyExtends`) does: the base
//! service, from the same file or from `file:`, itself resolved first (chains), merged under
//! the service ([`super::merge`]). A base from another file keeps its relative paths
//! relative to that file's directory ([`super::relpaths`]); that file is read through the
//! source root, so `extends.file` outside the repository is refused.
//!
//! Each key of the result remembers where it was written, so that a problem found later in
//! an inherited key names the base's file and line.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{
    files::{self, Lookup, SourceFile},
    merge,
    origin::Origins,
    relpaths,
    report::Report,
};
use crate::yaml::{FieldPath, Segment};

/// A service with its `extends` applied, and where its keys (and the items of lists merged
/// from both sides) were written: paths relative to the service.
pub struct Resolved {
    pub service: Map<String, Value>,
    pub origins: Origins,
}

/// The service `name` of `file`, with its `extends` chain applied; `None` (after reporting)
/// if it cannot be resolved. Relative paths in the result resolve against `file.dir`.
pub fn resolve(report: &mut Report, file: &SourceFile, name: &str, lookup: Lookup) -> Option<Resolved> {
    let services = file.services();
    resolve_in(report, file, &services, name, lookup, &mut Vec::new())
}

fn resolve_in(
    report: &mut Report,
    file: &SourceFile,
    services: &Map<String, Value>,
    name: &str,
    lookup: Lookup,
    chain: &mut Vec<(PathBuf, String)>,
) -> Option<Resolved> {
    let at = FieldPath::parse("services").key(name);
    let own = match services.get(name) {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) => Map::new(),
        // not a mapping: reported by the service's own checks, or below for another file's
        _ => return None,
    };
    let own_keys = || {
        let mut o = Origins::default();
        for k in own.keys().filter(|k| *k != "extends") {
            o.add(FieldPath::root().key(k.clone()), file.origin(&at.key(k.clone())));
        }
        o
    };
    let Some(ext) = own.get("extends") else {
        return Some(Resolved {
            origins: own_keys(),
            service: own,
        });
    };
    let ext_at = at.key("extends");
    let (base_name, base_file) = match ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(m) => {
            for k in m.keys().filter(|k| *k != "service" && *k != "file") {
                report.errors.push(
                    file.diag(&ext_at.key(k.clone()), format!("unknown key `{k}` in `extends`"))
                        .with_hint("`extends` takes `service` and `file`"),
                );
            }
            let Some(s) = m.get("service").and_then(Value::as_str) else {
                report.errors.push(
                    file.diag(
                        &ext_at,
                        "`extends` needs `service`, the name of the service to extend",
                    )
                    .with_hint("write `extends: {service: NAME, file: FILE}` or `extends: NAME`"),
                );
                return None;
            };
            match m.get("file") {
                None | Some(Value::Null) => (s.to_string(), None),
                Some(Value::String(f)) => (s.to_string(), Some(f.clone())),
                Some(_) => {
                    report
                        .errors
                        .push(file.diag(&ext_at.key("file"), "`extends.file` must be a path"));
                    return None;
                }
            }
        }
        _ => {
            report.errors.push(
                file.diag(
                    &ext_at,
                    "`extends` must be a service name or a mapping with `service`",
                )
                .with_hint("write `extends: {service: NAME, file: FILE}` or `extends: NAME`"),
            );
            return None;
        }
    };

    let other;
    let (base_src, base_services) = match &base_file {
        Some(written) => {
            let from = file.origin(&ext_at.key("file"));
            other = files::read(report, &from, &file.dir, written, lookup)?;
            let s = other.services();
            if !s.contains_key(&base_name) {
                report.errors.push(
                    file.diag(
                        &ext_at.key("service"),
                        format!(
                            "service `{base_name}` is not declared in `{}`",
                            other.shown.display()
                        ),
                    )
                    .with_hint("`extends.service` names a service of `extends.file`"),
                );
                return None;
            }
            if !matches!(s.get(&base_name), Some(Value::Object(_) | Value::Null)) {
                report.errors.push(other.diag(
                    &FieldPath::parse("services").key(base_name.clone()),
                    format!("service `{base_name}` must be a mapping"),
                ));
                return None;
            }
            (&other, s)
        }
        None => {
            if !services.contains_key(&base_name) {
                report.errors.push(
                    file.diag(
                        &ext_at,
                        format!("service `{base_name}` is not declared in this file"),
                    )
                    .with_hint("extend a service of the same file, or name its file with `extends.file`"),
                );
                return None;
            }
            (file, services.clone())
        }
    };

    chain.push((file.shown.clone(), name.to_string()));
    let me = (base_src.shown.clone(), base_name.clone());
    if let Some(pos) = chain.iter().position(|x| *x == me) {
        // Every service of the cycle meets it; it is reported once, from its first member.
        let first = chain[pos..].iter().min() == chain.first();
        if pos == 0 && first {
            let mut steps: Vec<String> = chain
                .iter()
                .map(|(f, s)| format!("`{s}` in {}", f.display()))
                .collect();
            steps.push(format!("`{}` in {}", me.1, me.0.display()));
            report.errors.push(
                file.diag(
                    &ext_at,
                    format!("`extends` makes a cycle: {}", steps.join(" extends ")),
                )
                .with_hint("a service cannot extend itself, directly or through others"),
            );
        }
        chain.pop();
        return None;
    }
    let base = resolve_in(report, base_src, &base_services, &base_name, lookup, chain);
    chain.pop();
    let mut base = base?;
    let prefix = relpaths::prefix(&base_src.dir.shown(""), &file.dir.shown(""));
    relpaths::rebase_service(&prefix, &mut base.service);

    let service = match merge::extend_service(&base.service, &own) {
        Ok(s) => s,
        Err((key, message)) => {
            report.errors.push(
                file.diag(&at.key(key), message)
                    .with_hint("give the key the same form (list or mapping) as in the extended service"),
            );
            return None;
        }
    };
    let origins = merged_origins(file, &at, &own, &base, &service, own_keys());
    Some(Resolved { service, origins })
}

/// Where the merged service's parts were written: the service's own keys in its file, the
/// keys only the base has where the base wrote them, and each item of a list both have where
/// that item (by value) was written.
fn merged_origins(
    file: &SourceFile,
    at: &FieldPath,
    own: &Map<String, Value>,
    base: &Resolved,
    merged: &Map<String, Value>,
    mut origins: Origins,
) -> Origins {
    for (p, o) in &base.origins.0 {
        let inherited = matches!(p.0.first(), Some(Segment::Key(k)) if !own.contains_key(k));
        if inherited {
            origins.add(p.clone(), o.clone());
        }
    }
    for (k, v) in merged {
        let (Some(Value::Array(items)), Some(base_items)) = (Some(v), base.service.get(k)) else {
            continue;
        };
        let Some(own_v) = own.get(k) else { continue };
        let key = FieldPath::root().key(k.clone());
        for (i, item) in items.iter().enumerate() {
            let mine = own_v.as_array().and_then(|a| a.iter().position(|x| x == item));
            let theirs = base_items
                .as_array()
                .and_then(|a| a.iter().position(|x| x == item));
            match (mine, theirs) {
                (Some(j), _) => origins.add(key.index(i), file.origin(&at.key(k.clone()).index(j))),
                (None, Some(j)) => {
                    if let Some(o) = base.origins.locate(&key.index(j)) {
                        origins.add(key.index(i), o);
                    }
                }
                (None, None) => {}
            }
        }
    }
    origins
}
