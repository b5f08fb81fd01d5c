//! compose `profiles:`. Compose v2 leaves a service that names profiles out of the project
//! unless one of them is active; profiles are activated by `COMPOSE_PROFILES` (comma
//! separated, `*` for all), which v2 reads from the environment and the project's `.env`.
//! aegis reads it where it reads every variable: the Stack's `spec.environment`, then `.env`.
//! A service left out is named in a warning.

use serde_json::Value;

use super::report::Report;
use crate::yaml::FieldPath;

/// The active profiles, from `COMPOSE_PROFILES`.
pub fn active(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    lookup("COMPOSE_PROFILES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// Whether the service `def` is left out because none of its profiles is active; if so, a
/// warning says so.
pub fn left_out(report: &mut Report, path: &FieldPath, name: &str, def: &Value, active: &[String]) -> bool {
    let profiles: Vec<&str> = match def.get("profiles") {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return false,
    };
    if profiles.is_empty() || active.iter().any(|a| a == "*" || profiles.contains(&a.as_str())) {
        return false;
    }
    report.warn(
        &path.key("profiles"),
        format!(
            "service `{name}` is left out: none of its profiles ({}) is active; activate one with `COMPOSE_PROFILES` in the Stack's `spec.environment` or `.env`, as with `docker compose`",
            profiles.join(", ")
        ),
    );
    true
}
