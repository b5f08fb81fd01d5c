//! compose `build:` → [`BuildSpec`]: the context is a directory of the repository, resolved
//! inside the source root and walked like a directory bind source (symlinks followed within
//! the root, one leading out refused), then filtered by its `.dockerignore`. The image is
//! built on the target host with the engine's classic builder (see [`crate::docker::build`]),
//! so keys that need BuildKit are errors with a hint.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{
    dockerignore::DockerIgnore,
    flex::{Bool, ExtraHosts, ListOrMap, Scalar},
    report::Report,
    units::parse_bytes,
};
use crate::{
    desired::{BuildSpec, RepoFile},
    source::{RootDir, RootError},
    yaml::FieldPath,
};

/// The name an inline Dockerfile (or one outside the context) gets in the archive.
pub const EXTRA_DOCKERFILE: &str = ".aegis.Dockerfile";

/// The long form, with the keys the classic builder supports.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildLong {
    context: Option<String>,
    dockerfile: Option<String>,
    dockerfile_inline: Option<String>,
    #[serde(default)]
    args: ListOrMap,
    target: Option<String>,
    #[serde(default)]
    labels: ListOrMap,
    network: Option<String>,
    #[serde(default)]
    extra_hosts: ExtraHosts,
    shm_size: Option<Scalar>,
    no_cache: Option<Bool>,
    pull: Option<Bool>,
}

/// Build keys compose knows that aegis rejects, with what to do instead.
fn unsupported(key: &str) -> Option<&'static str> {
    Some(match key {
        "platforms" => "the classic builder builds one platform: the service's `platform:` (or the host's own); remove `platforms`",
        "secrets"
        | "ssh"
        | "additional_contexts"
        | "entitlements"
        | "privileged"
        | "provenance"
        | "sbom"
        | "no_cache_filter" => {
            "aegis builds with the engine's classic builder, which has no BuildKit features; remove the key"
        }
        "cache_from" | "cache_to" => {
            "aegis assumes no registry; the host's own build cache is used. Remove the key"
        }
        "tags" => "the image is tagged `image:` (if given) and by its content hash; remove `tags`",
        "isolation" | "ulimits" => "not supported by aegis; remove the key",
        _ => return None,
    })
}

/// What a build needs from the rest of the file.
pub struct BuildScope<'a> {
    pub stack: &'a str,
    pub service: &'a str,
    /// The service's `platform:` (normalised), which the build is for, as with Compose v2.
    pub platform: Option<String>,
    pub project_dir: &'a RootDir,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

/// Parses `build:` (at `path`). Every problem is reported; `None` when there was one.
pub fn parse(report: &mut Report, path: &FieldPath, value: Value, scope: &BuildScope) -> Option<BuildSpec> {
    let long = match value {
        Value::String(context) => BuildLong {
            context: Some(context),
            ..BuildLong::default()
        },
        Value::Object(mut map) => {
            super::keys::strip_extensions(&mut map);
            let keys: Vec<String> = map.keys().cloned().collect();
            let mut ok = true;
            for key in keys {
                if let Some(hint) = unsupported(&key) {
                    report.error_hint(
                        &path.key(key.clone()),
                        format!("`build.{key}` is not supported"),
                        hint,
                    );
                    map.remove(&key);
                    ok = false;
                }
            }
            let long = report.decode::<BuildLong>(path, &Value::Object(map))?;
            if !ok {
                return None;
            }
            long
        }
        _ => {
            report.error(path, "`build` must be a context directory or a mapping");
            return None;
        }
    };
    let errors_before = report.errors.len();
    let context_written = long.context.clone().unwrap_or_else(|| ".".into());
    let context_path = path.key("context");
    if is_remote(&context_written) {
        report.error_hint(
            &context_path,
            format!("remote build context `{context_written}` is not supported"),
            "aegis builds from a directory of the repository; put the sources in it and set `context: ./dir`",
        );
        return None;
    }
    let root_err = |report: &mut Report, at: &FieldPath, e: RootError| {
        report.error_hint(at, e.to_string(), e.hint());
    };
    let ctx_dir = match scope.project_dir.subdir(&context_written) {
        Ok(d) => d,
        Err(e) => {
            root_err(report, &context_path, e);
            return None;
        }
    };
    let ignore = match ctx_dir.read_to_string(".dockerignore") {
        Ok((_, text)) => match DockerIgnore::parse(&text) {
            Ok(i) => i,
            Err(e) => {
                report.error(
                    &context_path,
                    format!("{}: {e}", ctx_dir.shown(".dockerignore").display()),
                );
                return None;
            }
        },
        Err(e) if e.is_not_found() => DockerIgnore::default(),
        Err(e) => {
            root_err(report, &context_path, e);
            return None;
        }
    };

    // The Dockerfile: inline, a file of the context, or a file elsewhere in the repository.
    let (dockerfile, dockerfile_extra) = match (long.dockerfile_inline, long.dockerfile) {
        (Some(_), Some(_)) => {
            report.error(
                &path.key("dockerfile_inline"),
                "`dockerfile` and `dockerfile_inline` cannot be combined",
            );
            return None;
        }
        (Some(text), None) => (EXTRA_DOCKERFILE.to_string(), Some(text.into_bytes())),
        (None, written) => {
            let written = written.unwrap_or_else(|| "Dockerfile".into());
            let at = path.key("dockerfile");
            match dockerfile_in(&ctx_dir, &written) {
                Ok((name, extra)) => (name, extra),
                Err(e) => {
                    root_err(report, &at, e);
                    return None;
                }
            }
        }
    };

    let top = match ctx_dir.resolve(".") {
        Ok(t) => t,
        Err(e) => {
            root_err(report, &context_path, e);
            return None;
        }
    };
    let tree = match top.root().tree(&top) {
        Ok(t) => ignore.filter(t, &[dockerfile.as_str(), ".dockerignore"]),
        Err(e) => {
            root_err(report, &context_path, e);
            return None;
        }
    };
    let content_hash = match super::volumes::hash_dir(&tree) {
        Ok(h) => h,
        Err(e) => {
            root_err(report, &context_path, e);
            return None;
        }
    };

    let mut args = BTreeMap::new();
    for (k, v) in long.args.0 {
        // An arg without a value takes the Stack's variable of that name, or is left out
        // (compose takes it from the shell; aegis never reads the process environment).
        if let Some(v) = v.or_else(|| (scope.lookup)(&k)) {
            args.insert(k, v);
        }
    }
    let labels = long
        .labels
        .0
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let shm_size = long
        .shm_size
        .and_then(|s| report.check(&path.key("shm_size"), parse_bytes(&s.0)));
    if report.errors.len() > errors_before {
        return None;
    }
    Some(
        BuildSpec {
            context: RepoFile {
                local: top.path(),
                content_hash,
                is_dir: true,
                tree,
            },
            dockerfile,
            dockerfile_extra,
            args,
            target: long.target.filter(|t| !t.is_empty()),
            labels,
            network: long.network.filter(|n| !n.is_empty()),
            extra_hosts: long
                .extra_hosts
                .0
                .into_iter()
                .map(|(h, ip)| format!("{h}:{ip}"))
                .collect(),
            shm_size,
            platform: scope.platform.clone(),
            no_cache: long.no_cache.is_some_and(|b| b.0),
            pull: long.pull.is_some_and(|b| b.0),
            hash: String::new(),
            tag: String::new(),
        }
        .seal(scope.stack, scope.service),
    )
}

/// A git URL or other remote context compose would fetch.
fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// The Dockerfile's name in the archive, and its content when the context does not hold it
/// under that name. `written` is relative to the context (compose's rule); it must still be
/// inside the repository.
fn dockerfile_in(ctx: &RootDir, written: &str) -> Result<(String, Option<Vec<u8>>), RootError> {
    let (at, bytes) = ctx.read(written)?;
    let ctx_abs = ctx.path();
    match at.path().strip_prefix(&ctx_abs) {
        Ok(rel) if !rel.as_os_str().is_empty() => Ok((rel.to_string_lossy().into_owned(), None)),
        _ => Ok((EXTRA_DOCKERFILE.to_string(), Some(bytes))),
    }
}
