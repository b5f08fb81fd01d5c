//! Service keys that tune the kernel and the runtime: `cpu_count`, `cpu_percent`,
//! `cpu_period`, `cpu_quota`, `cpu_rt_period`, `cpu_rt_runtime`, `cpuset`, `blkio_config`,
//! `mem_swappiness`, `oom_kill_disable`, `oom_score_adj`, `userns_mode`, `runtime`,
//! `isolation` and `cgroup`, as Compose v2 passes them to `HostConfig` (all numbers as
//! written: CPU periods and quotas in microseconds).
//!
//! Some need kernel features the host may lack (blkio weights, real-time CPU periods,
//! `cpu_percent`, which is Windows-only): the engine then discards or refuses them, for
//! aegis as for Compose.

use super::{blkio, model::Service, report::Report};
use crate::{desired::Tuning, yaml::FieldPath};

/// The keys of this module that `svc` holds, taken out of it.
pub fn take(report: &mut Report, path: &FieldPath, svc: &mut Service) -> Tuning {
    let at = |k: &str| path.key(k);
    let mut t = Tuning {
        cpu_count: svc.cpu_count.take().map(|n| n.0),
        cpu_percent: svc.cpu_percent.take().map(|n| n.0),
        cpu_period: svc.cpu_period.take().map(|n| n.0),
        cpu_quota: svc.cpu_quota.take().map(|n| n.0),
        cpu_rt_period: svc.cpu_rt_period.take().map(|n| n.0),
        cpu_rt_runtime: svc.cpu_rt_runtime.take().map(|n| n.0),
        cpuset: svc.cpuset.take().filter(|s| !s.is_empty()),
        mem_swappiness: svc.mem_swappiness.take().map(|n| n.0),
        oom_kill_disable: svc.oom_kill_disable.take().map(|b| b.0),
        oom_score_adj: svc.oom_score_adj.take().map(|n| n.0),
        userns_mode: svc.userns_mode.take().filter(|s| !s.is_empty()),
        runtime: svc.runtime.take().filter(|s| !s.is_empty()),
        ..Tuning::default()
    };
    if let Some(p) = t.cpu_percent.filter(|p| !(0..=100).contains(p)) {
        report.error(
            &at("cpu_percent"),
            format!("`{p}` is not a percentage (0 to 100)"),
        );
    }
    if let Some(s) = t.mem_swappiness.filter(|s| !(-1..=100).contains(s)) {
        report.error(
            &at("mem_swappiness"),
            format!("`{s}` is not a swappiness (0 to 100)"),
        );
    }
    if let Some(s) = t.oom_score_adj.filter(|s| !(-1000..=1000).contains(s)) {
        report.error(
            &at("oom_score_adj"),
            format!("`{s}` is not an OOM score adjustment (-1000 to 1000)"),
        );
    }
    if let Some(i) = svc.isolation.take().filter(|s| !s.is_empty()) {
        match i.as_str() {
            "default" | "process" | "hyperv" => t.isolation = Some(i),
            _ => report.error(
                &at("isolation"),
                format!("`{i}` is not an isolation mode; use default, process or hyperv"),
            ),
        }
    }
    if let Some(c) = svc.cgroup.take().filter(|s| !s.is_empty()) {
        match c.as_str() {
            "host" | "private" => t.cgroupns = Some(c),
            _ => report.error(
                &at("cgroup"),
                format!("`cgroup: {c}`: the cgroup namespace is `host` or `private`"),
            ),
        }
    }
    if let Some(b) = svc.blkio_config.take() {
        blkio::apply(report, &at("blkio_config"), b, &mut t);
    }
    t
}
