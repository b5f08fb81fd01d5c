//! Relative paths of a service or resource written in another file's directory, rewritten so
//! that they resolve from the project directory to the same place (Compose v2 makes them
//! absolute against the file's directory; aegis keeps them relative, because every path is
//! resolved inside the repository by [`crate::source::RootDir`], which checks each step).
//!
//! The prefix is computed from the two directories' symlink-free paths inside the root; the
//! path as written is appended unchanged, so its own `..` and symlinks are still checked when
//! it is resolved.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

/// What to put before a path written in `from` so that it resolves from `to` (both relative
/// to the source root, symlink-free).
pub fn prefix(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<Component> = from
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let t: Vec<Component> = to
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..t.len() {
        out.push("..");
    }
    for c in &f[common..] {
        out.push(c);
    }
    out
}

fn rebase(prefix: &Path, written: &str) -> String {
    if written.is_empty() || written.starts_with('/') || written.starts_with('~') {
        return written.to_string();
    }
    let mut out = prefix.to_path_buf();
    for c in Path::new(written).components() {
        if c != Component::CurDir {
            out.push(c);
        }
    }
    out.to_string_lossy().into_owned()
}

fn rebase_value(prefix: &Path, v: &mut Value) {
    if let Value::String(s) = v {
        *s = rebase(prefix, s);
    }
}

/// A bind source in short syntax keeps a leading `.`, which is what makes it a path.
fn rebase_short_volume(prefix: &Path, spec: &str) -> String {
    match spec.split_once(':') {
        Some((src, rest)) if src.starts_with('.') => {
            let new = rebase(prefix, src);
            let new = if new.starts_with('.') {
                new
            } else {
                format!("./{new}")
            };
            format!("{new}:{rest}")
        }
        _ => spec.to_string(),
    }
}

/// The relative paths of one service: bind sources, `env_file`, `label_file`, build context.
pub fn rebase_service(prefix: &Path, service: &mut Map<String, Value>) {
    if prefix.as_os_str().is_empty() {
        return;
    }
    if let Some(Value::Array(vols)) = service.get_mut("volumes") {
        for v in vols {
            match v {
                Value::String(s) => *s = rebase_short_volume(prefix, s),
                Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("bind") => {
                    if let Some(src) = m.get_mut("source") {
                        rebase_value(prefix, src);
                    }
                }
                _ => {}
            }
        }
    }
    for key in ["env_file", "label_file"] {
        match service.get_mut(key) {
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::Object(m) => {
                            if let Some(p) = m.get_mut("path") {
                                rebase_value(prefix, p);
                            }
                        }
                        other => rebase_value(prefix, other),
                    }
                }
            }
            Some(other) => rebase_value(prefix, other),
            None => {}
        }
    }
    let remote = |s: &str| s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/");
    match service.get_mut("build") {
        Some(Value::String(s)) if !remote(s) => *s = rebase(prefix, s),
        Some(Value::Object(b)) => {
            if let Some(Value::String(s)) = b.get_mut("context") {
                if !remote(s) {
                    *s = rebase(prefix, s);
                }
            }
        }
        _ => {}
    }
}

/// The `file:` of a top-level `secrets` or `configs` entry.
pub fn rebase_file_resource(prefix: &Path, resource: &mut Value) {
    if prefix.as_os_str().is_empty() {
        return;
    }
    if let Some(f) = resource.as_object_mut().and_then(|m| m.get_mut("file")) {
        rebase_value(prefix, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefix_climbs_to_the_common_directory() {
        assert_eq!(
            prefix(Path::new("stacks/common"), Path::new("stacks/web")),
            Path::new("../common")
        );
        assert_eq!(
            prefix(Path::new("stacks/web/sub"), Path::new("stacks/web")),
            Path::new("sub")
        );
        assert_eq!(prefix(Path::new(""), Path::new("a/b")), Path::new("../.."));
        assert_eq!(prefix(Path::new("a"), Path::new("a")), Path::new(""));
    }

    #[test]
    fn service_paths_are_rebased_and_others_kept() {
        let mut svc = json!({
            "volumes": ["./data:/data", "../x:/x:ro", "named:/n", "/abs:/abs",
                        {"type": "bind", "source": "conf", "target": "/c"}, {"type": "volume", "source": "v", "target": "/v"}],
            "env_file": ["app.env", {"path": "./b.env", "required": false}, "/etc/abs.env"],
            "build": {"context": "./ctx"},
        });
        rebase_service(Path::new("sub"), svc.as_object_mut().expect("map"));
        assert_eq!(
            svc["volumes"],
            json!(["./sub/data:/data", "./sub/../x:/x:ro", "named:/n", "/abs:/abs",
                   {"type": "bind", "source": "sub/conf", "target": "/c"}, {"type": "volume", "source": "v", "target": "/v"}])
        );
        assert_eq!(
            svc["env_file"],
            json!(["sub/app.env", {"path": "sub/b.env", "required": false}, "/etc/abs.env"])
        );
        assert_eq!(svc["build"], json!({"context": "sub/ctx"}));
        let mut up = json!({"env_file": "a.env", "volumes": ["./d:/d"]});
        rebase_service(Path::new("../common"), up.as_object_mut().expect("map"));
        assert_eq!(
            up,
            json!({"env_file": "../common/a.env", "volumes": ["../common/d:/d"]})
        );
    }
}
