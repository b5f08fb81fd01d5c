//! compose `deploy:` (and `gpus:`) on a single engine, as Compose v2 maps them
//! (`getDeployResources`, `setLimits`, `setReservations` and `getRestartPolicy` in compose's
//! `pkg/compose/create.go`):
//!
//! - `resources.limits` → memory, NanoCPUs, PidsLimit; `resources.reservations` → memory
//!   reservation and `DeviceRequests` (how GPUs are passed); a CPU reservation is a Swarm
//!   setting that v2 ignores, and so does aegis, with a warning;
//! - `restart_policy` → the restart policy, winning over `restart:` (`any` = `always`,
//!   `none` = `no`, `max_attempts` = the retry count); `delay` and `window` are Swarm's;
//! - `replicas` → how many containers the service runs (see [`super::replicas`]);
//! - Swarm-only keys (`mode`, `placement`, `update_config`, `rollback_config`,
//!   `endpoint_mode`, `labels`) are accepted with a warning and ignored, as v2 does.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::{
    flex::{Int, Scalar, StringOrList},
    report::Report,
    units::{parse_bytes, parse_cpus},
};
use crate::{
    desired::{ContainerSpec, DeviceRequest, RestartPolicy},
    yaml::FieldPath,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub resources: Option<Resources>,
    pub restart_policy: Option<RestartPolicyDef>,
    pub replicas: Option<Int>,
    pub mode: Option<Value>,
    pub placement: Option<Value>,
    pub update_config: Option<Value>,
    pub rollback_config: Option<Value>,
    pub endpoint_mode: Option<Value>,
    pub labels: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub limits: Option<Limits>,
    pub reservations: Option<Reservations>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub memory: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub pids: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservations {
    pub memory: Option<Scalar>,
    pub cpus: Option<Scalar>,
    #[serde(default)]
    pub devices: Vec<DeviceRequestDef>,
    pub generic_resources: Option<Value>,
}

/// A device request (`deploy.resources.reservations.devices[]`, `gpus[]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequestDef {
    pub capabilities: Option<StringOrList>,
    pub count: Option<Scalar>,
    pub device_ids: Option<StringOrList>,
    pub driver: Option<String>,
    #[serde(default)]
    pub options: IndexMap<String, Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicyDef {
    pub condition: Option<String>,
    pub max_attempts: Option<Int>,
    pub delay: Option<Scalar>,
    pub window: Option<Scalar>,
}

/// compose `gpus:`: `all`, or a list of device requests.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Gpus {
    All(String),
    List(Vec<DeviceRequestDef>),
}

/// Applies `deploy` to `c`; returns `deploy.replicas`.
pub fn apply(report: &mut Report, path: &FieldPath, d: Deploy, c: &mut ContainerSpec) -> Option<i64> {
    for (key, set) in [
        ("mode", d.mode.is_some()),
        ("placement", d.placement.is_some()),
        ("update_config", d.update_config.is_some()),
        ("rollback_config", d.rollback_config.is_some()),
        ("endpoint_mode", d.endpoint_mode.is_some()),
        ("labels", d.labels.is_some()),
    ] {
        if set {
            report.warn(
                &path.key(key),
                format!(
                    "`deploy.{key}` is a Swarm setting; it is ignored on a single engine, as Compose v2 does"
                ),
            );
        }
    }
    if let Some(r) = d.restart_policy {
        let rpath = path.key("restart_policy");
        for (key, set) in [("delay", r.delay.is_some()), ("window", r.window.is_some())] {
            if set {
                report.warn(
                    &rpath.key(key),
                    format!("`restart_policy.{key}` is a Swarm setting; Docker restarts on its own schedule"),
                );
            }
        }
        let max = r.max_attempts.map(|n| n.0);
        if let Some(p) = report.check(
            &rpath.key("condition"),
            restart_condition(r.condition.as_deref(), max),
        ) {
            c.restart = p;
        }
    }
    if let Some(res) = d.resources {
        let rpath = path.key("resources");
        if let Some(limits) = res.limits {
            apply_limits(report, &rpath.key("limits"), limits, c);
        }
        if let Some(resv) = res.reservations {
            let vpath = rpath.key("reservations");
            if let Some(m) = resv.memory {
                if let Some(b) = report.check(&vpath.key("memory"), parse_bytes(&m.0)) {
                    c.memory_reservation = Some(b);
                }
            }
            for (key, set) in [
                ("cpus", resv.cpus.is_some()),
                ("generic_resources", resv.generic_resources.is_some()),
            ] {
                if set {
                    report.warn(
                        &vpath.key(key),
                        format!("`reservations.{key}` is a Swarm setting; it is ignored on a single engine, as Compose v2 does"),
                    );
                }
            }
            for (i, dev) in resv.devices.into_iter().enumerate() {
                let dpath = vpath.key("devices").index(i);
                if let Some(r) = report.check(&dpath, device_request(dev, false)) {
                    c.device_requests.push(r);
                }
            }
        }
    }
    d.replicas.map(|n| n.0)
}

/// compose `gpus:` → device requests with the `gpu` capability.
pub fn gpus(report: &mut Report, path: &FieldPath, g: Gpus, c: &mut ContainerSpec) {
    match g {
        Gpus::All(s) if s.eq_ignore_ascii_case("all") => c.device_requests.push(DeviceRequest {
            count: Some(-1),
            capabilities: vec![vec!["gpu".into()]],
            ..DeviceRequest::default()
        }),
        Gpus::All(s) => report.error(
            path,
            format!("`gpus: {s}`: write `all` or a list of device requests"),
        ),
        Gpus::List(list) => {
            for (i, dev) in list.into_iter().enumerate() {
                if let Some(r) = report.check(&path.index(i), device_request(dev, true)) {
                    c.device_requests.push(r);
                }
            }
        }
    }
}

fn apply_limits(report: &mut Report, lpath: &FieldPath, limits: Limits, c: &mut ContainerSpec) {
    let merge = |report: &mut Report, key: &str, field: &mut Option<i64>, v: Option<i64>, twin: &str| {
        if let Some(v) = v {
            if field.is_some_and(|f| f != v) {
                report.error(
                    &lpath.key(key),
                    format!("`{twin}` and `deploy.resources.limits.{key}` differ"),
                );
            }
            *field = Some(v);
        }
    };
    let mem = limits
        .memory
        .and_then(|s| report.check(&lpath.key("memory"), parse_bytes(&s.0)));
    merge(report, "memory", &mut c.memory, mem, "mem_limit");
    let cpus = limits
        .cpus
        .and_then(|s| report.check(&lpath.key("cpus"), parse_cpus(&s.0)));
    merge(report, "cpus", &mut c.nano_cpus, cpus, "cpus");
    merge(
        report,
        "pids",
        &mut c.pids_limit,
        limits.pids.map(|n| n.0),
        "pids_limit",
    );
}

/// `deploy.restart_policy.condition` as Docker's policy (compose's
/// `mapRestartPolicyCondition`): `none`/`no`, `on-failure`, `unless-stopped`, `any`/`always`.
/// No condition sends an empty policy name, which Docker takes as `no`: v2 does exactly that
/// (and it wins over `restart:`).
fn restart_condition(condition: Option<&str>, max: Option<i64>) -> Result<RestartPolicy, String> {
    Ok(match condition.unwrap_or("") {
        "" => RestartPolicy::No,
        "none" | "no" => RestartPolicy::ExplicitNo,
        "on-failure" => RestartPolicy::OnFailure {
            max_retries: Some(max.unwrap_or(0)),
        },
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "any" | "always" => RestartPolicy::Always,
        other => {
            return Err(format!(
                "`{other}` is not a restart condition; use none, on-failure or any"
            ))
        }
    })
}

/// One device request. `count` is a number or `all` (-1); with neither `count` nor
/// `device_ids` it is `all`, as compose-go's loader sets it.
fn device_request(d: DeviceRequestDef, gpu: bool) -> Result<DeviceRequest, String> {
    let ids = d.device_ids.map(|l| l.0).unwrap_or_default();
    let count = match d.count.as_ref().map(|s| s.0.as_str()) {
        None if ids.is_empty() => Some(-1),
        None => None,
        Some(s) if s.eq_ignore_ascii_case("all") => Some(-1),
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| format!("count `{s}` must be a number or `all`"))?,
        ),
    };
    if d.count.is_some() && !ids.is_empty() {
        return Err("`count` and `device_ids` cannot both be set".into());
    }
    let mut caps = d.capabilities.map(|c| c.0).unwrap_or_default();
    if gpu {
        caps.push("gpu".into());
    } else if caps.is_empty() {
        return Err("a device reservation needs `capabilities` (for a GPU: [gpu])".into());
    }
    Ok(DeviceRequest {
        driver: d.driver,
        count,
        device_ids: ids,
        capabilities: vec![caps],
        options: d.options.into_iter().map(|(k, v)| (k, v.0)).collect(),
    })
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
