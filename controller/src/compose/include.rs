//! Top-level `include:` as Compose v2 (compose-go v2.9 `ApplyInclude`) resolves it: each
//! entry (`- path` or `{path, project_directory, env_file}`) is loaded as a project of its
//! own (its own extends and includes, variables from the environment and then from its
//! `env_file`, by default `.env` in its project directory), and its services, networks,
//! volumes, secrets and configs are added. A name declared twice is an error unless both
//! declarations are the same. Relative paths in the included file resolve against its
//! project directory (by default its own directory), inside the repository.

use std::{collections::BTreeMap, path::Path, path::PathBuf};

use serde_json::Value;

use super::{
    env_file,
    files::SourceFile,
    files::{self, Lookup},
    origin::Origin,
    project::{expand_file, Expanded, RESOURCES},
    report::Report,
};
use crate::{source::RootDir, yaml::FieldPath};

/// One `include` entry, as written.
struct Entry {
    at: FieldPath,
    path: String,
    project_directory: Option<String>,
    env_file: Vec<String>,
    /// Written as a mapping (`path:` has its own line).
    long: bool,
}

/// Loads every entry of `entries` (the `include` value of `file`) into `into`.
pub fn apply(
    report: &mut Report,
    file: &SourceFile,
    entries: &Value,
    project: &RootDir,
    lookup: Lookup,
    included: &mut Vec<PathBuf>,
    into: &mut Expanded,
) {
    for entry in parse(report, file, entries) {
        let Some((inc, env)) = open(report, file, &entry, lookup, included) else {
            continue;
        };
        let inner = |k: &str| lookup(k).or_else(|| env.get(k).cloned());
        check_top_level(report, &inc);
        included.push(inc.shown.clone());
        let expanded = expand_file(report, &inc, project, &inner, included);
        included.pop();
        import(report, file, expanded, into);
    }
}

fn parse(report: &mut Report, file: &SourceFile, entries: &Value) -> Vec<Entry> {
    let at = FieldPath::parse("include");
    let Value::Array(items) = entries else {
        report.errors.push(
            file.diag(&at, "`include` must be a list")
                .with_hint("write `include: [other/compose.yaml]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    let strings = |v: Option<&Value>| -> Option<Vec<String>> {
        match v {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => a.iter().map(|s| s.as_str().map(str::to_string)).collect(),
            Some(_) => None,
        }
    };
    for (i, item) in items.iter().enumerate() {
        let at = at.index(i);
        let (paths, pd, env) = match item {
            Value::String(s) => (Some(vec![s.clone()]), None, Some(Vec::new())),
            Value::Object(m) => {
                for k in m
                    .keys()
                    .filter(|k| !["path", "project_directory", "env_file"].contains(&k.as_str()))
                {
                    report.errors.push(
                        file.diag(
                            &at.key(k.clone()),
                            format!("unknown key `{k}` in an `include` entry"),
                        )
                        .with_hint("an `include` entry has `path`, `project_directory` and `env_file`"),
                    );
                }
                let pd = m
                    .get("project_directory")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                (strings(m.get("path")), pd, strings(m.get("env_file")))
            }
            _ => (None, None, None),
        };
        let Some(env_file) = env else {
            report.errors.push(file.diag(
                &at.key("env_file"),
                "`env_file` must be a path or a list of paths",
            ));
            continue;
        };
        match paths.as_deref() {
            Some([path]) => out.push(Entry {
                at,
                path: path.clone(),
                project_directory: pd,
                env_file,
                long: item.is_object(),
            }),
            Some([_, _, ..]) => report.errors.push(
                file.diag(
                    &at.key("path"),
                    "an `include` entry with several files (overrides) is not supported",
                )
                .with_hint("include one file per entry, or merge the override into it"),
            ),
            _ => report.errors.push(
                file.diag(
                    &at,
                    "an `include` entry needs `path`, the compose file to include",
                )
                .with_hint("write `- path/to/compose.yaml` or `- path: path/to/compose.yaml`"),
            ),
        }
    }
    out
}

/// Reads the entry's file and its variables; its `dir` is the entry's project directory.
fn open(
    report: &mut Report,
    file: &SourceFile,
    entry: &Entry,
    lookup: Lookup,
    included: &[PathBuf],
) -> Option<(SourceFile, BTreeMap<String, String>)> {
    let at = |k: &str| file.origin(&entry.at.key(k));
    let path_at = if entry.long {
        at("path")
    } else {
        file.origin(&entry.at)
    };
    let written_dir = Path::new(&entry.path).parent().unwrap_or(Path::new(""));
    let project_dir = match &entry.project_directory {
        Some(pd) => file.dir.subdir(pd).map_err(|e| (at("project_directory"), e)),
        None => file.dir.subdir(written_dir).map_err(|e| (path_at.clone(), e)),
    };
    let project_dir = match project_dir {
        Ok(d) => d,
        Err((o, e)) => {
            report
                .errors
                .push(o.diag(format!("include directory {e}")).with_hint(e.hint()));
            return None;
        }
    };
    let env = read_env(report, file, entry, &project_dir, lookup)?;
    let inner = |k: &str| lookup(k).or_else(|| env.get(k).cloned());
    let mut inc = files::read(report, &path_at, &file.dir, &entry.path, &inner)?;
    if included.contains(&inc.shown) {
        let chain: Vec<String> = included
            .iter()
            .chain([&inc.shown])
            .map(|p| p.display().to_string())
            .collect();
        report.errors.push(
            path_at
                .diag(format!("`include` makes a cycle: {}", chain.join(" includes ")))
                .with_hint("a compose file cannot include itself, directly or through others"),
        );
        return None;
    }
    inc.dir = project_dir;
    Some((inc, env))
}

/// The entry's variables: its `env_file`s (relative to the including file's directory), or
/// the `.env` of its project directory if there is one.
fn read_env(
    report: &mut Report,
    file: &SourceFile,
    entry: &Entry,
    project_dir: &RootDir,
    lookup: Lookup,
) -> Option<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let (dir, names, optional) = if entry.env_file.is_empty() {
        (project_dir, vec![".env".to_string()], true)
    } else {
        (&file.dir, entry.env_file.clone(), false)
    };
    for name in names {
        let o = file.origin(&entry.at.key("env_file"));
        let src = match dir.read_to_string(&name) {
            Ok((_, src)) => src,
            Err(e) if optional && e.is_not_found() => continue,
            Err(e) => {
                report
                    .errors
                    .push(o.diag(format!("env file {e}")).with_hint(e.hint()));
                return None;
            }
        };
        let shown = dir.shown(&name);
        match env_file::parse(&src, lookup) {
            Ok(parsed) => env.extend(parsed.to_map()),
            Err(e) => {
                report.errors.push(crate::diagnostic::Diagnostic::new(
                    &shown,
                    Some(e.line),
                    FieldPath::root(),
                    e.message,
                ));
                return None;
            }
        }
    }
    Some(env)
}

/// Top-level keys of an included file: resources, `include`, and the ignored `version`,
/// `name` and `x-*`.
fn check_top_level(report: &mut Report, inc: &SourceFile) {
    for key in inc.value.keys() {
        let known = RESOURCES.contains(&key.as_str())
            || ["include", "version", "name"].contains(&key.as_str())
            || key.starts_with("x-");
        if !known {
            report.errors.push(
                inc.diag(&FieldPath::parse(key), format!("unknown top-level key `{key}`"))
                    .with_hint("a compose file has services, networks, volumes, secrets, configs, include, name, version and x-* keys"),
            );
        }
    }
}

/// Adds the included project's resources; a name already declared differently is an error
/// at the included declaration.
fn import(report: &mut Report, file: &SourceFile, from: Expanded, into: &mut Expanded) {
    let Expanded { value, origins } = from;
    let mut imported: Vec<FieldPath> = Vec::new();
    for kind in RESOURCES {
        let Some(Value::Object(src)) = value.get(kind) else {
            continue;
        };
        let slot = into
            .value
            .entry(kind.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        if slot.is_null() {
            *slot = Value::Object(Default::default());
        }
        let Value::Object(to) = slot else { continue };
        for (name, def) in src {
            let at = FieldPath::parse(kind).key(name.clone());
            match to.get(name) {
                Some(existing) if existing == def => {}
                Some(_) => {
                    let there = into.origins.locate(&at).unwrap_or_else(|| file.origin(&at));
                    let here: Origin = origins.locate(&at).unwrap_or_else(|| file.origin(&at));
                    let line = there
                        .map
                        .line_of(&there.at)
                        .map(|l| format!(":{l}"))
                        .unwrap_or_default();
                    report.errors.push(
                        here.diag(format!(
                            "{kind}.{name} is also declared in {}{line}, differently: an included resource may not replace one",
                            there.file.display()
                        ))
                        .with_hint("rename one of them, or declare it only once"),
                    );
                }
                None => {
                    to.insert(name.clone(), def.clone());
                    imported.push(at);
                }
            }
        }
    }
    let mine = |p: &FieldPath| imported.iter().any(|i| p.0.starts_with(&i.0));
    into.origins
        .0
        .extend(origins.0.into_iter().filter(|(p, _)| mine(p)));
}
