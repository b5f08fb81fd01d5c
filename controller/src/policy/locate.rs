//! Points a finding at the compose key that causes it (`compose.yaml:14:
//! services.lldap.networks[1]`), using the document's source map.
//!
//! The desired state is already interpolated and normalised, so list positions may not match
//! what was written (a port range expands, `volumes` and `tmpfs` merge). Entries are found
//! in the compose mapping as written instead, by the value they mention; when none does, the
//! key itself is named.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::Value;

use crate::{
    diagnostic::Diagnostic,
    yaml::{FieldPath, SourceMap},
};

/// Where a stack's services were written.
#[derive(Debug, Clone)]
pub struct StackOrigin {
    /// The compose file (or the Stack manifest, for inline services), as shown in errors.
    pub file: PathBuf,
    pub map: Arc<SourceMap>,
    /// Where the compose mapping sits in the document: the root, or `spec` for inline services.
    pub base: FieldPath,
    /// The compose mapping as written (before interpolation).
    pub compose: Value,
}

/// Stack name → where its services were written.
pub type Origins = BTreeMap<String, StackOrigin>;

/// Which part of a service a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Spot {
    /// The service as a whole (something it lacks).
    Service,
    /// One key of the service, e.g. `privileged`.
    Key(&'static str),
    /// The entry of list or map `key` whose text mentions the needle.
    Entry(&'static str, String),
    /// The `networks` entry that joins this Docker network.
    Network(String),
}

impl StackOrigin {
    /// A diagnostic at `spot` of service `service` of stack `stack`.
    pub(super) fn diag(&self, stack: &str, service: &str, spot: &Spot, message: String) -> Diagnostic {
        let svc_path = self.base.key("services").key(service);
        let svc = self.compose.get("services").and_then(|s| s.get(service));
        let path = match (spot, svc) {
            (Spot::Service, _) | (_, None) => svc_path,
            (Spot::Key(k), Some(_)) => svc_path.key(*k),
            (Spot::Entry(k, needle), Some(svc)) => {
                entry_path(&svc_path.key(*k), svc.get(*k), |_, v| mentions(v, needle))
            }
            (Spot::Network(docker_name), Some(svc)) => {
                let declared = self.compose.get("networks");
                entry_path(&svc_path.key("networks"), svc.get("networks"), |key, v| {
                    let name = key
                        .map(str::to_string)
                        .or_else(|| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    joins(&name, docker_name, stack, declared)
                })
            }
        };
        Diagnostic::new(&self.file, self.map.line_of(&path), path, message)
    }
}

/// The path of the entry of `value` (a list, or a map keyed by name) that `pick` chooses, or
/// `at` itself.
fn entry_path(
    at: &FieldPath,
    value: Option<&Value>,
    pick: impl Fn(Option<&str>, &Value) -> bool,
) -> FieldPath {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .position(|v| pick(None, v))
            .map_or_else(|| at.clone(), |i| at.index(i)),
        Some(Value::Object(map)) => map
            .iter()
            .find(|(k, v)| pick(Some(k), v))
            .map_or_else(|| at.clone(), |(k, _)| at.key(k.clone())),
        _ => at.clone(),
    }
}

/// Whether `v` (a string, or a long-syntax mapping) mentions `needle`.
fn mentions(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle) || s.eq_ignore_ascii_case(needle),
        Value::Object(_) => v.to_string().contains(needle),
        _ => false,
    }
}

/// Whether the compose network key `key` of stack `stack` is the Docker network `docker_name`:
/// the key itself (an external network), `<stack>_<key>`, or its `name:`.
fn joins(key: &str, docker_name: &str, stack: &str, declared: Option<&Value>) -> bool {
    let named = declared
        .and_then(|d| d.get(key))
        .and_then(|n| n.get("name"))
        .and_then(Value::as_str);
    key == docker_name || format!("{stack}_{key}") == docker_name || named == Some(docker_name)
}

/// A diagnostic at a policy's own field (a rule that matches nothing).
pub(super) fn at_policy(file: &Path, map: &SourceMap, path: FieldPath, message: String) -> Diagnostic {
    Diagnostic::new(file, map.line_of(&path), path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(src: &str) -> StackOrigin {
        let docs = crate::yaml::parse_documents(Path::new("c.yaml"), src).expect("parses");
        StackOrigin {
            file: "c.yaml".into(),
            map: Arc::new(docs[0].map.clone()),
            base: FieldPath::root(),
            compose: docs[0].value.clone(),
        }
    }

    #[test]
    fn finds_entries_by_what_they_mention() {
        let o = origin(
            "services:\n  app:\n    image: x\n    networks:\n      - front\n      - back\n    volumes:\n      - ./data:/data\n      - /var/run/docker.sock:/var/run/docker.sock\n    cap_add: [NET_ADMIN]\nnetworks:\n  front: {external: true}\n  back: {name: backplane}\n",
        );
        let d = o.diag("s", "app", &Spot::Network("backplane".into()), "m".into());
        assert_eq!(
            (d.line, d.path.to_string()),
            (Some(6), "services.app.networks[1]".into())
        );
        let d = o.diag("s", "app", &Spot::Network("front".into()), "m".into());
        assert_eq!(d.line, Some(5));
        let d = o.diag(
            "s",
            "app",
            &Spot::Entry("volumes", "/var/run/docker.sock".into()),
            "m".into(),
        );
        assert_eq!(
            (d.line, d.path.to_string()),
            (Some(9), "services.app.volumes[1]".into())
        );
        let d = o.diag("s", "app", &Spot::Key("privileged"), "m".into());
        assert_eq!(
            (d.line, d.path.to_string()),
            (Some(2), "services.app.privileged".into())
        );
        let d = o.diag(
            "s",
            "app",
            &Spot::Entry("cap_add", "NET_ADMIN".into()),
            "m".into(),
        );
        assert_eq!(
            (d.line, d.path.to_string()),
            (Some(10), "services.app.cap_add[0]".into())
        );
    }

    #[test]
    fn map_form_networks_and_stack_local_names() {
        let o = origin("services:\n  app:\n    networks:\n      internal:\n        aliases: [a]\n");
        let d = o.diag("s", "app", &Spot::Network("s_internal".into()), "m".into());
        assert_eq!(
            (d.line, d.path.to_string()),
            (Some(4), "services.app.networks.internal".into())
        );
    }
}
