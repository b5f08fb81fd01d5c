//! [`Operations`]: the controller's side of [`crate::api::Operate`]. Logs and restarts of the
//! containers of a Stack (or of a DnsGuard or TunnelClient, which expand to containers), through the same host connections the reconciler uses, so the
//! operator needs nothing on the host but what aegis already reaches.
//!
//! A restart goes straight to the engine, not through the work queue: it changes no
//! configuration, so the reconciler has nothing to decide; the Docker events it causes
//! (`die`, `start`) requeue the Stack like any other, which then finds it converged.
//!
//! A restart of a **critical** resource (on a management path) may cut the controller off
//! from a host, so it goes through commit-confirmed instead ([`super::critical_restart`]):
//! under the fleet-wide critical turn, a rollback watchdog on the host restarts each
//! container, and the controller confirms over fresh connections.

use std::sync::Arc;

use futures::{future::BoxFuture, StreamExt};

use super::{critical::Critical, critical_restart::RestartRefused, hosts::Pool, snapshot::Shared};
use crate::{
    api::{ContainerLog, Operate, OperateError, RestartResult},
    desired::{HostSpec, Kind},
    docker::{self, operate::LogOptions},
    status::{EventReason, EventType, StatusKey, StatusStore},
};

pub struct Operations {
    snapshot: Shared,
    pool: Pool,
    store: StatusStore,
    /// Commit-confirmed restarts of critical resources; without it they are refused.
    critical: Option<Critical>,
}

/// What an operation acts on: the host, the containers (name, service), the status key.
struct Target {
    key: StatusKey,
    host: HostSpec,
    containers: Vec<(String, String)>,
    critical: bool,
}

impl Operations {
    pub fn new(snapshot: Shared, pool: Pool, store: StatusStore, critical: Option<Critical>) -> Arc<Self> {
        Arc::new(Self {
            snapshot,
            pool,
            store,
            critical,
        })
    }

    fn target(&self, kind: Kind, name: &str, service: Option<&str>) -> Result<Target, OperateError> {
        let snap = self
            .snapshot
            .get()
            .ok_or_else(|| OperateError::Unavailable("no revision accepted yet".into()))?;
        let key = snap
            .find(kind, name)
            .cloned()
            .ok_or_else(|| OperateError::NotFound(format!("no {kind} named `{name}`")))?;
        let host = snap.host(&key.host).ok_or_else(|| {
            OperateError::NotFound(format!("host `{}` of {kind}/{name} is not declared", key.host))
        })?;
        // Stacks, and the DnsGuards and TunnelClients that expand to containers.
        let stack = host
            .stacks
            .iter()
            .find(|s| s.kind == kind && s.name == name)
            .ok_or_else(|| OperateError::NotFound(format!("{kind}/{name} runs no containers: logs and restarts are for Stacks, DnsGuards and TunnelClients")))?;
        let containers: Vec<(String, String)> = stack
            .containers
            .iter()
            .filter(|c| service.is_none_or(|s| s == c.service))
            .map(|c| (c.name.clone(), c.service.clone()))
            .collect();
        if containers.is_empty() {
            let services: Vec<&str> = stack.containers.iter().map(|c| c.service.as_str()).collect();
            return Err(OperateError::NotFound(format!(
                "{kind}/{name} has no service `{}` (services: {})",
                service.unwrap_or_default(),
                services.join(", ")
            )));
        }
        Ok(Target {
            key,
            host: host.host.clone(),
            containers,
            critical: stack.critical,
        })
    }

    async fn connect(&self, host: &HostSpec) -> Result<docker::DockerHost, OperateError> {
        self.pool.get(host).await.map_err(|e| {
            self.pool.invalidate(&host.name);
            OperateError::Host(e.to_string())
        })
    }
}

impl Operations {
    /// A critical resource's restart: commit-confirmed, one container at a time.
    async fn restart_critical(
        &self,
        kind: Kind,
        name: String,
        t: Target,
    ) -> Result<RestartResult, OperateError> {
        let Some(critical) = &self.critical else {
            return Err(OperateError::Refused(format!(
                "{kind}/{name} is critical (on a management path): restarting it can cut the controller off from a host, so it must go through commit-confirmed, which this API cannot do"
            )));
        };
        let snap = self
            .snapshot
            .get()
            .ok_or_else(|| OperateError::Unavailable("no revision accepted yet".into()))?;
        let containers: Vec<String> = t.containers.into_iter().map(|(c, _)| c).collect();
        match critical.restart(&t.key, &snap, &containers).await {
            Ok(()) => Ok(RestartResult {
                kind,
                name,
                host: t.key.host.clone(),
                containers,
            }),
            Err(RestartRefused::NotYet(why)) => Err(OperateError::Unavailable(why)),
            Err(RestartRefused::Failed(why)) => Err(OperateError::Host(format!(
                "commit-confirmed restart of {kind}/{name} not confirmed: {why}"
            ))),
        }
    }
}

impl Operate for Operations {
    fn logs(
        &self,
        kind: Kind,
        name: String,
        service: Option<String>,
        opts: LogOptions,
    ) -> BoxFuture<'static, Result<Vec<ContainerLog>, OperateError>> {
        let target = self.target(kind, &name, service.as_deref());
        let pool = self.pool.clone();
        Box::pin(async move {
            let t = target?;
            let host = pool.get(&t.host).await.map_err(|e| {
                pool.invalidate(&t.host.name);
                OperateError::Host(e.to_string())
            })?;
            Ok(t.containers
                .into_iter()
                .map(|(container, service)| ContainerLog {
                    chunks: docker::operate::logs(&host, &container, &opts)
                        .map(|r| r.map_err(|e| e.to_string()))
                        .boxed(),
                    container,
                    service,
                })
                .collect())
        })
    }

    fn restart(
        &self,
        kind: Kind,
        name: String,
        service: Option<String>,
    ) -> BoxFuture<'static, Result<RestartResult, OperateError>> {
        let target = self.target(kind, &name, service.as_deref());
        let me = Self {
            snapshot: self.snapshot.clone(),
            pool: self.pool.clone(),
            store: self.store.clone(),
            critical: self.critical.clone(),
        };
        Box::pin(async move {
            let t = target?;
            if t.critical {
                return me.restart_critical(kind, name, t).await;
            }
            let host = me.connect(&t.host).await?;
            let mut done = Vec::new();
            let snap = me.snapshot.get();
            let spec_of = |name: &str| {
                snap.as_ref()
                    .and_then(|s| s.host(&t.key.host))
                    .and_then(|h| {
                        h.stacks
                            .iter()
                            .flat_map(|s| s.containers.iter())
                            .find(|c| c.name == name)
                    })
                    .cloned()
            };
            for (container, _) in &t.containers {
                // As Compose v2's `restart`: `pre_stop` hooks, the engine's restart, then
                // `post_start` hooks; a failing hook fails the restart.
                let spec = spec_of(container);
                let result = match &spec {
                    Some(spec) => restart_hooked(&host, spec).await,
                    None => docker::operate::restart(&host, container)
                        .await
                        .map_err(|e| e.to_string()),
                };
                if let Err(msg) = result {
                    me.store.update(&t.key, |s| {
                        s.record_event(
                            EventType::Warning,
                            EventReason::Restarted,
                            format!("restart failed: {msg}"),
                        );
                    });
                    return Err(OperateError::Host(msg));
                }
                done.push(container.clone());
            }
            let what = if done.len() == 1 {
                "container"
            } else {
                "containers"
            };
            me.store.update(&t.key, |s| {
                s.record_event(
                    EventType::Normal,
                    EventReason::Restarted,
                    format!("restarted {what} {} (aegisctl restart)", done.join(", ")),
                );
            });
            tracing::info!(resource = %t.key, containers = ?done, "restarted on request");
            Ok(RestartResult {
                kind,
                name,
                host: t.key.host.clone(),
                containers: done,
            })
        })
    }
}

/// Restart of one container with its compose hooks around it.
async fn restart_hooked(
    host: &docker::DockerHost,
    spec: &crate::desired::ContainerSpec,
) -> Result<(), String> {
    use docker::hooks::{run, Phase};
    run(host, spec, &spec.name, Phase::PreStop).await?;
    docker::operate::restart(host, &spec.name)
        .await
        .map_err(|e| e.to_string())?;
    run(host, spec, &spec.name, Phase::PostStart).await
}
