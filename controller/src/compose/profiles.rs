//! compose `profiles:`. With no profile activated (aegis activates none: a Stack is the
//! whole file), Compose v2 leaves a service that names profiles out of the project. aegis
//! does the same, and says which services it left out.

use serde_json::Value;

use super::report::Report;
use crate::yaml::FieldPath;

/// Whether the service `def` is left out because it names profiles; if so, a warning says so.
pub fn left_out(report: &mut Report, path: &FieldPath, name: &str, def: &Value) -> bool {
    let profiles: Vec<&str> = match def.get("profiles") {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return false,
    };
    if profiles.is_empty() {
        return false;
    }
    report.warn(
        &path.key("profiles"),
        format!(
            "service `{name}` is left out: it belongs to profile(s) {}, and a Stack activates no profile (as `docker compose up` without `--profile`)",
            profiles.join(", ")
        ),
    );
    true
}
