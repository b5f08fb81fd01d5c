//! DnsGuards and TunnelClients in the control loop.
//!
//! Both kinds are container groups ([`crate::resolve::dnsguards`],
//! [`crate::resolve::tunnels`]) and the reconciler applies them like Stacks, drift repair
//! included. This module adds what is particular to them, around that apply:
//!
//! - **Before** ([`before_apply`]): a pangolin-cli client's first start (its container does
//!   not exist yet) waits for the host-side backup of `resolv.conf`: the controller runs
//!   `aegis agent dnsguard --backup-now` inside its DnsGuard's agent container, and starts the
//!   client only once the agent reports a good backup (taken, or already there). The guard
//!   being Ready first is the ordinary `dependsOn` gate: the expanded client depends on it.
//! - **After** ([`read_back`]): the resource's report is read back into its status. A
//!   DnsGuard's agent status comes from its healthcheck output, which Docker keeps in
//!   `State.Health.Log` (one inspect, no exec; see [`crate::agent::dnsguard::report`]). A
//!   TunnelClient is asked whether it is connected ([`crate::tunnel::readiness`]) and, with a
//!   `pangolinApi`, Pangolin's integration API is asked too (at most every
//!   [`API_RECHECK`]). Both are looked at again periodically ([`follow_up`]): the agent acts
//!   and a tunnel drops without any Docker event.
//!
//! The decisions (when to look again, what an agent report means) are pure, in
//! [`super::agent_rules`].

use std::time::Duration;

use crate::{
    agent::dnsguard::AgentStatus,
    desired::{Kind, StackSpec},
    docker::{containers, exec, DockerHost},
    manifest::{kinds::TunnelType, AnyManifest},
    observed::{ContainerState, ObservedHost},
    resolve::dnsguards::{Guard, AGENT_EXECUTABLE},
    status::{
        AgentReport, ApiCheck, ConditionStatus, ConditionType, EventReason, EventType, GuardReport,
        StatusKey, Timestamp, TunnelReport,
    },
    tunnel::{pangolin_api, readiness},
};

use super::{
    agent_rules::{api_due, backup_verdict, follow_up, new_action},
    Snapshot,
};

/// How long `--backup-now` may take inside the agent's container.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a connected tunnel is asked again.
const TUNNEL_RECHECK: Duration = Duration::from_secs(30);
/// How soon a tunnel that is not connected (yet) is asked again.
const TUNNEL_NOT_READY_RECHECK: Duration = Duration::from_secs(5);
/// How often Pangolin's API is asked about one client.
pub const API_RECHECK: Duration = Duration::from_secs(60);
/// Ready=False reason of a running client that says it is not connected.
pub const TUNNEL_NOT_CONNECTED: &str = "TunnelNotConnected";
/// Reason of a client whose first start waits for its DnsGuard's backup.
pub const BACKUP_NOT_TAKEN: &str = "BackupNotTaken";

/// Why a resource is not applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub reason: &'static str,
    pub message: String,
}

/// The expanded container group of `key`, if it is a DnsGuard or TunnelClient.
fn group<'a>(snap: &'a Snapshot, key: &StatusKey) -> Option<&'a StackSpec> {
    if !matches!(key.kind, Kind::DnsGuard | Kind::TunnelClient) {
        return None;
    }
    snap.host(&key.host)?
        .stacks
        .iter()
        .find(|s| s.kind == key.kind && s.name == key.name)
}

/// The DnsGuard a pangolin-cli client relies on, with its settings.
fn guard_of(snap: &Snapshot, key: &StatusKey) -> Option<Guard> {
    let AnyManifest::TunnelClient(t) = snap.manifest(key)? else {
        return None;
    };
    if t.spec.tunnel_type != TunnelType::PangolinCli {
        return None;
    }
    let dep = group(snap, key)?
        .depends_on
        .iter()
        .find(|d| d.kind == Kind::DnsGuard)?;
    let guard_key = snap.find(Kind::DnsGuard, &dep.name)?;
    match snap.manifest(guard_key)? {
        AnyManifest::DnsGuard(g) => Some(Guard::new(&g.metadata.name, &g.spec)),
        _ => None,
    }
}

/// What must hold before `key` is applied; `None`: go ahead. An `Err` is a Docker failure.
pub(super) async fn before_apply(
    host: &DockerHost,
    snap: &Snapshot,
    key: &StatusKey,
) -> Result<Option<Wait>, String> {
    let Some(guard) = guard_of(snap, key) else {
        return Ok(None);
    };
    let Some(client) = group(snap, key).and_then(|g| g.containers.first()) else {
        return Ok(None);
    };
    match containers::inspect_state(host, &client.name).await {
        Ok(_) => return Ok(None), // not its first start
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.to_string()),
    }
    let mut cmd: Vec<String> = vec![AGENT_EXECUTABLE.into()];
    cmd.extend(guard.agent_args());
    cmd.push("--backup-now".into());
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = exec::exec(host, &guard.container_name(), &cmd, BACKUP_TIMEOUT)
        .await
        .map_err(|e| format!("cannot take the backup in DnsGuard/{}'s agent: {e}", guard.name))?;
    match backup_verdict(&guard.name, out.exit_code, &out.stdout, &out.stderr) {
        Ok(report) => {
            tracing::info!(guard = %guard.name, "backup before the client's first start: {}", report.detail);
            Ok(None)
        }
        Err(message) => Ok(Some(Wait {
            reason: BACKUP_NOT_TAKEN,
            message,
        })),
    }
}

/// What a pass read back about a DnsGuard or TunnelClient, recorded into its status in the
/// same update as the pass itself ([`Readback::record`]), so that Ready never flickers.
#[derive(Debug, Clone)]
pub(super) struct Readback {
    pub agent: AgentReport,
    /// Ready=False (`TunnelNotConnected`) with this message, though the containers run.
    pub not_ready: Option<String>,
    /// When to look again.
    pub follow_up: Duration,
}

impl Readback {
    /// Records the report: an event for an agent action not seen before, and a running client
    /// that says it is not connected is not Ready. Returns the tier of that new action.
    pub fn record(&self, s: &mut crate::status::ResourceStatus) -> Option<u8> {
        let mut acted = None;
        if let AgentReport::DnsGuard(now) = &self.agent {
            let before = match &s.agent {
                Some(AgentReport::DnsGuard(g)) => g.agent.as_ref(),
                _ => None,
            };
            if let Some(msg) = new_action(before, now.agent.as_ref()) {
                s.record_event(EventType::Warning, EventReason::AgentRepaired, msg);
                acted = now
                    .agent
                    .as_ref()
                    .and_then(|a| a.last_action.as_ref())
                    .map(|p| p.tier);
            }
        }
        if let Some(msg) = &self.not_ready {
            if s.ready() == ConditionStatus::True {
                s.set_condition(
                    ConditionType::Ready,
                    ConditionStatus::False,
                    TUNNEL_NOT_CONNECTED,
                    msg.clone(),
                );
            }
        }
        s.agent = Some(self.agent.clone());
        acted
    }
}

/// Reads `key`'s report back after a successful pass (see the module doc): `observed` is the
/// host after the pass, `previous` the status before it. `None` for other kinds.
pub(super) async fn read_back(
    host: &DockerHost,
    snap: &Snapshot,
    key: &StatusKey,
    observed: &ObservedHost,
    previous: Option<&crate::status::ResourceStatus>,
) -> Option<Readback> {
    let spec = group(snap, key)?;
    let container = spec.containers.first()?;
    match snap.manifest(key)? {
        AnyManifest::DnsGuard(g) => {
            let guard = Guard::new(&g.metadata.name, &g.spec);
            Some(Readback {
                agent: AgentReport::DnsGuard(Box::new(guard_report(host, &container.name).await)),
                not_ready: None,
                follow_up: follow_up(guard.interval),
            })
        }
        AnyManifest::TunnelClient(t) => {
            let running = observed
                .containers
                .iter()
                .any(|c| c.name == container.name && c.state == ContainerState::Running);
            let (connected, detail) = if running {
                match readiness::check(
                    host,
                    &container.name,
                    t.spec.tunnel_type,
                    t.spec.health_file.as_deref(),
                )
                .await
                {
                    Ok(r) => (Some(r.is_ready()), readiness_detail(r)),
                    Err(e) => (None, format!("cannot ask the client: {e}")),
                }
            } else {
                (None, format!("container {} is not running", container.name))
            };
            let before = previous.and_then(|s| match &s.agent {
                Some(AgentReport::TunnelClient(r)) => Some(r.api.clone()),
                _ => None,
            });
            let check = snap
                .resolved
                .pangolin_checks
                .iter()
                .find(|c| c.resource.kind == key.kind && c.resource.name == key.name);
            let api = match before {
                // Without a check, "not checked" is made on the spot (no network).
                Some(p) if check.is_some() && !api_due(p.checked_at.as_ref()) => p,
                _ => api_check(check).await,
            };
            Some(Readback {
                not_ready: (connected == Some(false)).then(|| detail.clone()),
                follow_up: if connected == Some(true) {
                    TUNNEL_RECHECK
                } else {
                    TUNNEL_NOT_READY_RECHECK
                },
                agent: AgentReport::TunnelClient(TunnelReport {
                    tunnel_type: t.spec.tunnel_type.as_str().into(),
                    connected,
                    detail,
                    checked_at: Timestamp::now(),
                    api,
                }),
            })
        }
        _ => None,
    }
}

/// The agent's status from its container's last healthcheck output.
async fn guard_report(host: &DockerHost, container: &str) -> GuardReport {
    let (agent, note) = match containers::inspect_state(host, container).await {
        Ok(st) => match st.last_health_log.as_deref() {
            None => (None, Some("the agent's healthcheck has not run yet".to_string())),
            Some(out) => match AgentStatus::from_health_output(out) {
                Some(a) => (Some(a), None),
                None => (
                    None,
                    Some(format!(
                        "the agent's healthcheck printed no status: {}",
                        out.lines().next().unwrap_or("")
                    )),
                ),
            },
        },
        Err(e) => (None, Some(format!("cannot inspect {container}: {e}"))),
    };
    GuardReport {
        agent,
        note,
        read_at: Timestamp::now(),
    }
}

async fn api_check(check: Option<&crate::desired::PangolinCheck>) -> ApiCheck {
    let Some(c) = check else {
        return ApiCheck::not_checked();
    };
    let verdict = match pangolin_api::http_client() {
        Ok(http) => pangolin_api::check(&http, Some(c)).await,
        Err(e) => pangolin_api::ApiVerdict::Failed(e),
    };
    let state = match &verdict {
        pangolin_api::ApiVerdict::NotChecked => ApiCheck::NOT_CHECKED,
        pangolin_api::ApiVerdict::Failed(_) => "failed",
        v if v.ok() => "ok",
        _ => "problem",
    };
    ApiCheck {
        state: state.into(),
        summary: verdict.summary(Some(c)),
        checked_at: Some(Timestamp::now()),
    }
}

fn readiness_detail(r: readiness::Readiness) -> String {
    match r {
        readiness::Readiness::Ready(d) | readiness::Readiness::NotReady(d) => d,
    }
}
