//! The compose project as Compose v2 assembles it before anything else: in each file, every
//! service's `extends` applied ([`super::extends`]), then the files of its `include:` loaded
//! the same way and their resources added ([`super::include`]). The result is one tree, with
//! relative paths relative to the project directory, and [`Origins`] saying which file and
//! line wrote each part that is not in the main file.

use serde_json::{Map, Value};

use super::{
    extends,
    files::{Lookup, SourceFile},
    include,
    origin::Origins,
    relpaths,
    report::Report,
};
use crate::{source::RootDir, yaml::FieldPath};

/// Top-level resources that `include` imports.
pub const RESOURCES: [&str; 6] = ["services", "networks", "volumes", "secrets", "configs", "models"];

/// One file's tree with its extends and includes applied.
pub struct Expanded {
    pub value: Map<String, Value>,
    pub origins: Origins,
}

/// Whether `top` uses `extends` or `include` at all (otherwise it is loaded as it is).
pub fn needed(top: &Map<String, Value>) -> bool {
    top.contains_key("include")
        || top
            .get("services")
            .and_then(Value::as_object)
            .is_some_and(|s| s.values().any(|d| d.get("extends").is_some()))
}

/// The main file's project: its `dir` is the project directory.
pub fn expand(report: &mut Report, main: &SourceFile, lookup: Lookup) -> Expanded {
    let mut included = vec![main.shown.clone()];
    expand_file(report, main, &main.dir, lookup, &mut included)
}

/// `file` with its extends and includes applied; relative paths made relative to `project`.
/// `included` is the chain of files that include this one (for cycles).
pub fn expand_file(
    report: &mut Report,
    file: &SourceFile,
    project: &RootDir,
    lookup: Lookup,
    included: &mut Vec<std::path::PathBuf>,
) -> Expanded {
    let mut value = file.value.clone();
    let mut origins = Origins::default();
    for kind in RESOURCES {
        if let Some(Value::Object(m)) = value.get(kind) {
            for name in m.keys() {
                let at = FieldPath::parse(kind).key(name.clone());
                origins.add(at.clone(), file.origin(&at));
            }
        }
    }
    if let Some(Value::Object(services)) = value.get_mut("services") {
        let names: Vec<String> = services.keys().cloned().collect();
        for name in names {
            if services.get(&name).and_then(|d| d.get("extends")).is_none() {
                continue;
            }
            match extends::resolve(report, file, &name, lookup) {
                Some(r) => {
                    let at = FieldPath::parse("services").key(name.clone());
                    origins.extend_under(&at, r.origins);
                    services.insert(name, Value::Object(r.service));
                }
                // reported; the service is left out so that its errors are not repeated
                None => {
                    services.remove(&name);
                }
            }
        }
    }
    let prefix = relpaths::prefix(&file.dir.shown(""), &project.shown(""));
    if let Some(Value::Object(services)) = value.get_mut("services") {
        for def in services.values_mut() {
            if let Value::Object(m) = def {
                relpaths::rebase_service(&prefix, m);
            }
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(m)) = value.get_mut(kind) {
            for def in m.values_mut() {
                relpaths::rebase_file_resource(&prefix, def);
            }
        }
    }
    let mut out = Expanded { value, origins };
    if let Some(entries) = out.value.remove("include") {
        include::apply(report, file, &entries, project, lookup, included, &mut out);
    }
    out
}
