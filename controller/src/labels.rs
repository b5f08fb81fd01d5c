//! The labels aegis puts on every Docker object it creates.
//!
//! Ownership is decided by these labels alone: aegis only ever changes or removes objects that
//! carry [`MANAGED_BY`]` = `[`MANAGED_BY_VALUE`]. Containers also carry compose's project and
//! service labels so that `docker compose ls/ps` and Komodo still see them.

pub const MANAGED_BY: &str = "aegis.dev/managed-by";
pub const MANAGED_BY_VALUE: &str = "aegis";
/// `Kind/name` of the resource that owns the object.
pub const RESOURCE: &str = "aegis.dev/resource";
/// The aegis instance (one controller, one source) that owns the object. Pruning and
/// changes only ever touch objects of the instance doing them, so two sources (or the
/// quickstart and a test) can share an engine without pruning each other.
pub const INSTANCE: &str = "aegis.dev/instance";
/// The instance name used when none is given.
pub const DEFAULT_INSTANCE: &str = "default";
/// Name of the `Host` the object was created for.
pub const HOST: &str = "aegis.dev/host";
/// Hex SHA-256 of the object's desired configuration; decides recreate vs no-op.
pub const SPEC_HASH: &str = "aegis.dev/spec-hash";
/// The hashed configuration itself (JSON), so `diff` can name the fields that changed
/// without inspecting every container.
pub const SPEC: &str = "aegis.dev/spec";
/// The source revision that last applied the object.
pub const REVISION: &str = "aegis.dev/revision";
/// Marks short-lived helper containers (file delivery); never part of a Stack.
pub const HELPER: &str = "aegis.dev/helper";
/// `true` on containers of critical resources (on a management path, or `critical: true`), so
/// that once the resource has left the source the planner still knows that removing its
/// containers needs a confirmed apply.
pub const CRITICAL: &str = "aegis.dev/critical";
/// Names the kind of an in-host agent container (`rollback`, ...).
pub const AGENT: &str = "aegis.dev/agent";
/// On a rollback watchdog: its attempt id. The other `aegis.dev/rollback.*` labels hold the
/// rest of its state (see [`crate::observed::RollbackAttempt`]). The planner leaves a watchdog
/// and the two containers it guards alone.
pub const ROLLBACK_ATTEMPT: &str = "aegis.dev/rollback.attempt";

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";

/// Whether an object's labels say it belongs to `instance` on `host`.
pub fn owned_by(labels: &std::collections::BTreeMap<String, String>, host: &str, instance: &str) -> bool {
    labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && labels.get(HOST).map(String::as_str) == Some(host)
        && labels.get(INSTANCE).map(String::as_str) == Some(instance)
}

/// The instance that owns an aegis object, for error messages.
pub fn instance_of(labels: &std::collections::BTreeMap<String, String>) -> &str {
    labels
        .get(INSTANCE)
        .map(String::as_str)
        .unwrap_or(DEFAULT_INSTANCE)
}

/// The filter value that selects aegis-owned objects: `aegis.dev/managed-by=aegis`.
pub fn owner_filter() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}
