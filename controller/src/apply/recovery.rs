//! Finishing what an earlier controller started: commit-confirmed attempts in flight when it
//! died (SIGKILL, a crash, a reboot of the controller's host).
//!
//! [`recover_host`] finds the host's watchdogs by label and brings each attempt to an end:
//!
//! - **finished** (confirmed, rolled back, refused): its result is read and the watchdog
//!   removed (a failed rollback keeps its watchdog, as the report for a person);
//! - **never started** (created, no status): nothing was changed; the watchdog and the
//!   unused new container are removed;
//! - **in flight**: followed exactly like a fresh attempt ([`super::confirmed`]): checks over
//!   new connections, then the confirm (the token is derived from the controller's key, kept
//!   in its state directory) or a rollback. Without the right key the controller cannot
//!   confirm, and the watchdog rolls back at its deadline.
//!
//! Then **leftovers**: a parked old or unswapped new container (recognised by its name) whose
//! watchdog is gone. A new one that never ran is removed; a parked old one is renamed back
//! and started when nothing runs under its name, and otherwise kept and reported. Nothing is
//! left half-done, and a container is never removed unless another one runs in its place.

use tokio::time::Instant;

use super::{
    confirmed::{self, Follow, Outcome, Timing},
    reach::HostCheck,
};
use crate::{
    agent::rollback::{launch, state::Phase, ConfirmKey},
    desired::ResourceRef,
    docker::{containers, DockerError, DockerHost},
    labels,
    observed::{
        rollback::{attempt_name, AttemptName},
        ContainerState,
    },
};

/// What recovery did about one attempt or leftover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// An attempt, ended (or still pending), on `container`.
    Attempt {
        resource: ResourceRef,
        container: String,
        outcome: Outcome,
        /// The attempt was a restart ([`crate::observed::RollbackAttempt::is_restart`]): its
        /// rollback refuses no spec.
        restart: bool,
    },
    /// An attempt that never began: its watchdog and unused new container were removed.
    NotStarted { resource: ResourceRef, attempt: String },
    /// A watchdog whose labels do not parse: left alone, reported.
    Unreadable { watchdog: String, reason: String },
    /// A leftover container: what was done with it.
    Leftover { container: String, action: String },
}

/// The hosts to check for a resource (every other host whose management path carries it).
pub type OthersOf<'a> = &'a (dyn Fn(&ResourceRef) -> Vec<HostCheck> + Sync);

/// Ends every attempt of `instance` on the host (see the module doc). `host` may be any
/// working connection; the checks open their own.
pub async fn recover_host(
    host: &DockerHost,
    home: &HostCheck,
    others: OthersOf<'_>,
    instance: &str,
    key: &ConfirmKey,
) -> Result<Vec<Recovered>, DockerError> {
    let mut out = Vec::new();
    let found = launch::find(host, instance).await?;
    let mut live_attempts: Vec<String> = Vec::new();
    for f in found {
        let a = match f.attempt {
            Ok(a) => a,
            Err(reason) => {
                out.push(Recovered::Unreadable {
                    watchdog: f.name,
                    reason,
                });
                continue;
            }
        };
        live_attempts.push(a.id.clone());
        let name = a.watchdog_name();
        let Some(w) = launch::observe(host, &name).await? else {
            continue;
        };
        let failed_hash = a.new.as_ref().map(|n| n.spec_hash.clone()).unwrap_or_default();
        let phase = w.status.as_ref().map(|s| s.phase.clone());
        let ended = match phase {
            Some(Phase::Confirmed) => Some(Outcome::Confirmed {
                attempt: a.id.clone(),
                new_id: a.new.as_ref().map(|n| n.id.clone()),
            }),
            Some(Phase::RolledBack(reason)) => Some(Outcome::RolledBack {
                attempt: a.id.clone(),
                failed_spec_hash: failed_hash.clone(),
                reason,
                by_controller: false,
            }),
            Some(Phase::RollbackFailed(reason)) => {
                out.push(Recovered::Attempt {
                    resource: a.resource.clone(),
                    container: a.container.clone(),
                    restart: a.is_restart(),
                    outcome: Outcome::RollbackFailed {
                        attempt: a.id.clone(),
                        failed_spec_hash: failed_hash,
                        reason,
                    },
                });
                continue;
            }
            Some(Phase::Refused(_)) => None,
            None if !w.running => None,
            _ => {
                // In flight: follow it to its end like a fresh attempt.
                // The deadline (once the change is done) is in its status; `started` only
                // bounds the wait before that.
                let started = Instant::now();
                let watched = match &a.new {
                    Some(n) => Some(&n.id),
                    None if a.is_restart() => Some(&a.old_id),
                    None => None,
                };
                let has_healthcheck = match watched {
                    Some(id) => containers::inspect_state(host, id)
                        .await
                        .map(|s| s.health.is_some())
                        .unwrap_or(false),
                    None => false,
                };
                let others = others(&a.resource);
                let f = Follow {
                    home,
                    others: &others,
                    resource: &a.resource,
                    has_healthcheck,
                    timeout: a.timeout,
                    timing: Timing::for_timeout(a.timeout),
                };
                let outcome = confirmed::follow(&f, &a, &key.token(&a.id), started).await;
                out.push(Recovered::Attempt {
                    resource: a.resource.clone(),
                    container: a.container.clone(),
                    restart: a.is_restart(),
                    outcome,
                });
                continue;
            }
        };
        match ended {
            Some(outcome) => {
                launch::remove(host, &name).await?;
                out.push(Recovered::Attempt {
                    resource: a.resource.clone(),
                    container: a.container.clone(),
                    restart: a.is_restart(),
                    outcome,
                });
            }
            None => {
                // Refused, or never ran: nothing was changed.
                launch::remove(host, &name).await?;
                confirmed::discard_new(host, &a).await;
                out.push(Recovered::NotStarted {
                    resource: a.resource.clone(),
                    attempt: a.id.clone(),
                });
            }
        }
    }
    out.extend(leftovers(host, instance).await?);
    Ok(out)
}

/// Parked and unswapped containers whose watchdog is gone (see the module doc).
async fn leftovers(host: &DockerHost, instance: &str) -> Result<Vec<Recovered>, DockerError> {
    let list = launch::list_of_instance(host, instance, &[]).await?;
    let watchdogs: Vec<String> = list
        .iter()
        .filter_map(|c| c.labels.as_ref()?.get(labels::ROLLBACK_ATTEMPT).cloned())
        .collect();
    let names: Vec<(String, String, ContainerState)> = list
        .iter()
        .map(|c| {
            (
                c.id.clone().unwrap_or_default(),
                c.names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                c.state
                    .as_ref()
                    .map(|s| ContainerState::parse(s.as_ref()))
                    .unwrap_or(ContainerState::Unknown),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (id, name, state) in &names {
        let Some(an) = attempt_name(name) else { continue };
        let (AttemptName::Next { attempt, .. } | AttemptName::Old { attempt, .. }) = &an;
        if watchdogs.iter().any(|w| w == attempt) {
            continue;
        }
        let action = match an {
            AttemptName::Next { .. } if *state != ContainerState::Running => {
                containers::remove(host, id, true).await?;
                "removed (a replacement that never ran)".to_string()
            }
            AttemptName::Next { .. } => {
                "kept: it is running; remove it by hand if it is not wanted".to_string()
            }
            AttemptName::Old { name: base, .. } => {
                let running_base = names
                    .iter()
                    .any(|(_, n, s)| n == base && *s == ContainerState::Running);
                let any_base = names.iter().any(|(_, n, _)| n == base);
                if running_base {
                    format!("kept: `{base}` runs in its place; remove this one by hand once `{base}` is known good")
                } else if any_base {
                    format!("kept: `{base}` exists but is not running; decide by hand which one to keep")
                } else {
                    containers::rename(host, id, base).await?;
                    containers::start(host, id).await?;
                    format!("restored as `{base}` and started: nothing else ran under that name")
                }
            }
        };
        tracing::warn!(
            host = host.host(),
            "leftover container `{name}` of an interrupted attempt: {action}"
        );
        out.push(Recovered::Leftover {
            container: name.clone(),
            action,
        });
    }
    Ok(out)
}
