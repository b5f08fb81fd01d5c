//! Planning: desired state + observed state → a DAG of steps. Pure: no I/O, no Docker.
//!
//! The decisions live here and are unit-tested without Docker: recreate or not (the spec hash),
//! start a stopped container, prune what aegis owns but no longer declares, and in which order
//! (networks, then `dependsOn`, then `network_mode: service:X`, then `depends_on` conditions).

mod action;
pub mod adopt;
pub mod changes;
mod containers;
pub mod critical;
pub mod hash;
mod networks;
mod order;

use std::collections::BTreeMap;

pub use action::{Action, Gate, HostPlan, Reconnect, ResourceCounts, Step, StepId};
pub use changes::Change;
pub use containers::is_finished_job;

use crate::{desired::DesiredHost, observed::ObservedHost};

/// A reason the plan can't be made, for the user to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An `external` network isn't on the host.
    #[error("host `{host}`: external network `{network}` does not exist; create it (`docker network create {network}`) or declare it as a Network without `external: true`")]
    MissingExternalNetwork { host: String, network: String },
    /// A network aegis should create exists but isn't aegis's.
    #[error("host `{host}`: network `{network}` already exists and is not managed by aegis; mark it `external: true`, or remove or rename it")]
    NetworkConflict { host: String, network: String },
    /// An object with a wanted name belongs to another aegis instance.
    #[error("host `{host}`: {object} `{name}` belongs to aegis instance `{owner}`, not `{instance}`; two sources can't manage the same object: rename it in one of them")]
    OtherInstance {
        host: String,
        object: &'static str,
        name: String,
        owner: String,
        instance: String,
    },
    /// A network whose config drifted has containers attached that aegis does not manage.
    #[error("host `{host}`: network `{network}` must be recreated (its configuration changed) but containers not managed by aegis are attached: {containers}; detach them first")]
    ForeignContainersOnNetwork {
        host: String,
        network: String,
        containers: String,
    },
    /// The image of a container isn't present (the caller pulls missing images before planning).
    #[error("host `{host}`: image `{image}` of container `{container}` is not present on the host")]
    MissingImage {
        host: String,
        container: String,
        image: String,
    },
}

/// Choices that change what a pass may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// The aegis instance planning (see [`crate::labels::INSTANCE`]). Only its own objects are
    /// changed or pruned; another instance's object with a wanted name is a conflict.
    pub instance: String,
    /// Remove aegis-owned volumes that are no longer declared. Off by default: volumes hold
    /// data, so they are kept (and reported) unless the user asks.
    pub prune_volumes: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            instance: crate::labels::DEFAULT_INSTANCE.to_string(),
            prune_volumes: false,
        }
    }
}

/// Plans one host. A problem belongs to one resource: that resource's steps are left out (and
/// the problem is in [`HostPlan::errors`]), while every other resource is planned as usual, so
/// one broken stack never blocks the rest of the host.
pub fn plan_host(desired: &DesiredHost, observed: &ObservedHost, opts: &PlanOptions) -> HostPlan {
    let mut errors = Vec::new();
    let mut plan = HostPlan {
        host: desired.host.name.clone(),
        ..Default::default()
    };
    let mut net = networks::decide(desired, observed, opts, &mut plan, &mut errors);
    let mut ctr = containers::decide(desired, observed, &opts.instance, &mut plan, &mut errors);
    let failed: std::collections::BTreeSet<&crate::desired::ResourceRef> =
        errors.iter().map(|(r, _)| r).collect();
    net.actions.retain(|(r, _)| !failed.contains(r));
    ctr.actions.retain(|(r, _)| !failed.contains(r));
    order::assemble(desired, net, ctr, &mut plan);
    critical::protect(desired, observed, &mut plan);
    plan.errors = errors;
    plan
}

/// Decisions before ordering: every action, keyed by the Docker object it acts on.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    pub actions: Vec<(crate::desired::ResourceRef, Action)>,
    /// Docker object name → whether it is being (re)created in this pass.
    pub changing: BTreeMap<String, bool>,
}

#[cfg(test)]
mod tests;
