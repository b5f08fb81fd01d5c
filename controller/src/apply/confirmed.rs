//! Commit-confirmed replace (or removal) of a critical container: the controller's side of
//! [`crate::agent::rollback`].
//!
//! [`apply`] runs one attempt:
//!
//! 1. **Prepare, changing nothing that runs.** Create the new container under a temporary
//!    name, not started (its image is on the host already, so nothing slow happens while the
//!    path is down). A failure here changes nothing ([`ConfirmedError::Prepare`]).
//! 2. **Start the watchdog** on the host and wait until it reports that it is watching. It
//!    then makes the change itself, on the host: park the old container (stopped and renamed,
//!    never removed; its image stays pinned by ID because the container uses it), rename the
//!    new one, start it.
//! 3. **Check over new connections.** Each round opens a fresh connection to the host and to
//!    every other host whose management path carries the resource, runs their probes, and
//!    checks the new container (running; healthy if it has a healthcheck).
//! 4. **Confirm** with this attempt's token once every check passes, then wait for the
//!    watchdog to remove the old container and exit 0: [`Outcome::Confirmed`].
//! 5. **Roll back at once** when a check fails for good (the new container exited or turned
//!    unhealthy), or keeps failing for [`Timing::grace`], or the confirm deadline (minus a
//!    margin) comes, while the controller can still reach the host: it tells the watchdog to
//!    roll back now. When it cannot reach the host, the watchdog rolls back by itself at the
//!    deadline, and the controller, reconnecting, reads the result. Either way:
//!    [`Outcome::RolledBack`], with the failed spec hash, and a rollback is a failure to every
//!    caller ([`Outcome::is_success`]).
//! 6. If the host stays unreachable past the deadline, the outcome is [`Outcome::Pending`]:
//!    the watchdog decides, and [`super::recovery`] reads its result later.

use std::time::Duration;

use bollard::models::ContainerCreateBody;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::reach::{self, HostCheck};
use crate::{
    agent::rollback::{launch, state::Phase, token, ConfirmKey},
    desired::{NetworkAttachment, ResourceRef, SecretFile},
    docker::{containers, DockerError, DockerHost},
    observed::{
        rollback::{self, NewContainer as AttemptNew},
        ContainerState, Health, RollbackAttempt,
    },
    secrets::Secret,
};

/// One commit-confirmed change.
pub struct ConfirmedChange<'a> {
    /// The pooled connection to the host the container lives on: used to prepare and to start
    /// the watchdog, never to check.
    pub host: &'a DockerHost,
    /// That host again, for fresh connections, with its probe.
    pub home: HostCheck,
    /// Every other host whose management path carries the resource.
    pub others: Vec<HostCheck>,
    pub resource: ResourceRef,
    pub instance: String,
    /// The container being replaced or removed.
    pub old: OldContainer,
    /// The replacement; `None` removes the container (a critical resource left the source),
    /// or restarts it when `restart` is set.
    pub new: Option<NewSpec>,
    /// Restart `old` in place instead (`aegisctl restart` of a critical resource; `new` is
    /// `None`): the watchdog stops and starts it, the checks follow it, a confirm removes
    /// nothing, and a rollback starts it again if it is not running.
    pub restart: bool,
    /// The agent image, already on the host.
    pub agent_image: String,
    /// The host's Docker socket, as a path on the host.
    pub agent_socket: String,
    /// `spec.confirmTimeout`.
    pub timeout: Duration,
    pub key: &'a ConfirmKey,
    pub timing: Timing,
}

/// The container being replaced.
#[derive(Debug, Clone)]
pub struct OldContainer {
    pub id: String,
    pub name: String,
    pub image_id: String,
}

/// The replacement, ready to create.
#[derive(Debug, Clone)]
pub struct NewSpec {
    pub body: ContainerCreateBody,
    /// compose `platform:`, the create call's query parameter.
    pub platform: Option<String>,
    pub extra_networks: Vec<NetworkAttachment>,
    pub files: Vec<SecretFile>,
    /// Its `aegis.dev/spec-hash`: what a rollback reports as failed.
    pub spec_hash: String,
    /// Wait for healthy, not only running, before confirming.
    pub has_healthcheck: bool,
}

/// The controller's clock for one attempt. [`Timing::for_timeout`] gives the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Pause between check rounds.
    pub poll: Duration,
    /// Longest a fresh connection or probe may take.
    pub check_limit: Duration,
    /// Longest the watchdog may take to report that it is watching.
    pub ready_limit: Duration,
    /// The controller confirms (or aborts) this long before the watchdog's deadline, so
    /// the confirm is not lost to latency or clock drift.
    pub margin: Duration,
    /// After the swap, checks that keep failing this long while the host is reachable mean
    /// "broken": roll back now instead of waiting for the deadline.
    pub grace: Duration,
    /// After a confirm or an abort (or the deadline), how long to wait for the watchdog to
    /// finish before the outcome is `Pending`.
    pub finish_limit: Duration,
    /// How long the change itself may take when the controller cannot see it (stopping the
    /// old container takes up to its stop grace period).
    pub swap_allowance: Duration,
}

impl Timing {
    pub fn for_timeout(timeout: Duration) -> Timing {
        Timing {
            poll: Duration::from_millis(250),
            check_limit: Duration::from_secs(5),
            ready_limit: Duration::from_secs(60),
            margin: (timeout / 10).clamp(Duration::from_secs(2), Duration::from_secs(15)),
            grace: (timeout / 4).clamp(Duration::from_secs(3), Duration::from_secs(30)),
            finish_limit: Duration::from_secs(30) + crate::agent::rollback::swap::SETTLE,
            swap_allowance: Duration::from_secs(60),
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new container stays; the old one and the watchdog are gone.
    Confirmed { attempt: String, new_id: Option<String> },
    /// The old container runs again; the new one is gone. `by_controller`: the controller
    /// asked for it (a check failed while it could reach the host); otherwise the watchdog's
    /// deadline passed.
    RolledBack {
        attempt: String,
        failed_spec_hash: String,
        reason: String,
        by_controller: bool,
    },
    /// The rollback could not bring the old container back up (it is kept, as is the
    /// watchdog with its report): a person must look.
    RollbackFailed {
        attempt: String,
        failed_spec_hash: String,
        reason: String,
    },
    /// The host stayed unreachable: the watchdog decides; recovery reads the result later.
    Pending { attempt: String, reason: String },
}

impl Outcome {
    /// Only a confirm is success; a rollback is a failed apply everywhere.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Confirmed { .. })
    }

    pub fn attempt(&self) -> &str {
        match self {
            Outcome::Confirmed { attempt, .. }
            | Outcome::RolledBack { attempt, .. }
            | Outcome::RollbackFailed { attempt, .. }
            | Outcome::Pending { attempt, .. } => attempt,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Confirmed { attempt, .. } => write!(f, "confirmed (attempt {attempt})"),
            Outcome::RolledBack {
                attempt,
                failed_spec_hash,
                reason,
                by_controller,
            } => write!(
                f,
                "rolled back by {} (attempt {attempt}): {reason} (failed spec {})",
                if *by_controller { "the controller" } else { "the watchdog at its deadline" },
                short(failed_spec_hash)
            ),
            Outcome::RollbackFailed { attempt, reason, .. } => write!(
                f,
                "ROLLBACK FAILED (attempt {attempt}): {reason}; the old container is kept, see `docker logs aegis-rollback-{attempt}`"
            ),
            Outcome::Pending { attempt, reason } => write!(
                f,
                "not decided yet (attempt {attempt}): {reason}; the watchdog on the host rolls back unless confirmed"
            ),
        }
    }
}

/// Why an attempt did not start. Nothing that runs was changed.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmedError {
    #[error("{resource}: commit-confirmed change not started, nothing was changed: {source}")]
    Prepare {
        resource: ResourceRef,
        #[source]
        source: DockerError,
    },
    #[error("{resource}: commit-confirmed change not started, nothing was changed: {reason}")]
    Refused { resource: ResourceRef, reason: String },
}

/// Runs one commit-confirmed change (see the module doc).
pub async fn apply(c: &ConfirmedChange<'_>) -> Result<Outcome, ConfirmedError> {
    let prepare = |source: DockerError| ConfirmedError::Prepare {
        resource: c.resource.clone(),
        source,
    };
    let id = token::new_attempt_id().map_err(|e| ConfirmedError::Refused {
        resource: c.resource.clone(),
        reason: format!("no randomness for an attempt id: {e}"),
    })?;
    let tok = c.key.token(&id);
    let new = match &c.new {
        None => None,
        Some(n) => {
            let temp = rollback::temp_name(&c.old.name, &id);
            let new_id = containers::create_container_for_platform(
                c.host,
                &temp,
                n.platform.as_deref(),
                n.body.clone(),
                &n.extra_networks,
                &n.files,
            )
            .await
            .map_err(prepare)?;
            Some(AttemptNew {
                id: new_id,
                temp_name: temp,
                spec_hash: n.spec_hash.clone(),
            })
        }
    };
    let attempt = RollbackAttempt {
        id: id.clone(),
        resource: c.resource.clone(),
        host: c.host.host().to_string(),
        instance: c.instance.clone(),
        container: c.old.name.clone(),
        old_id: c.old.id.clone(),
        // A restart "parks" the container under its own name: it is never renamed.
        old_parked: if c.restart {
            c.old.name.clone()
        } else {
            rollback::parked_name(&c.old.name, &id)
        },
        old_image_id: c.old.image_id.clone(),
        new,
        timeout: c.timeout,
        token_sha256: token::token_sha256(tok.expose()),
    };
    let started = Instant::now();
    let span = super::confirm_span::watchdog_start(&id, c.host.host());
    let ready = async {
        if let Err(e) = launch::start(c.host, &attempt, &c.agent_image, &c.agent_socket).await {
            discard_new(c.host, &attempt).await;
            return Err(prepare(e));
        }
        wait_ready(c, &attempt).await
    }
    .instrument(span.clone())
    .await;
    if let Err(e) = ready {
        crate::telemetry::spans::record_error(&span, &e.to_string());
        return Err(e);
    }
    tracing::info!(
        resource = %c.resource,
        attempt = %id,
        "commit-confirmed change of `{}` on host `{}`: watchdog started, confirm within {}s",
        c.old.name,
        c.host.host(),
        c.timeout.as_secs()
    );
    let has_healthcheck = match &c.new {
        Some(n) => n.has_healthcheck,
        None if c.restart => containers::inspect_state(c.host, &c.old.id)
            .await
            .is_ok_and(|s| s.health.is_some()),
        None => false,
    };
    let f = Follow {
        home: &c.home,
        others: &c.others,
        resource: &c.resource,
        has_healthcheck,
        timeout: c.timeout,
        timing: c.timing,
    };
    Ok(follow(&f, &attempt, &tok, started).await)
}

/// What following an attempt needs: everything is reached over new connections.
pub(super) struct Follow<'a> {
    pub home: &'a HostCheck,
    pub others: &'a [HostCheck],
    pub resource: &'a ResourceRef,
    pub has_healthcheck: bool,
    pub timeout: Duration,
    pub timing: Timing,
}

/// Waits, over the pooled connection, until the watchdog says it is watching. A watchdog that
/// refused, or never reports, is cleaned away with the new container: nothing was changed.
/// A connection that fails here may be the change cutting the path already: then the
/// fresh-connection checks take over.
async fn wait_ready(c: &ConfirmedChange<'_>, a: &RollbackAttempt) -> Result<(), ConfirmedError> {
    let name = a.watchdog_name();
    let until = Instant::now() + c.timing.ready_limit;
    loop {
        match launch::observe(c.host, &name).await {
            Ok(Some(w)) => match w.status.map(|s| s.phase) {
                Some(Phase::Refused(reason)) => {
                    let _ = launch::remove(c.host, &name).await;
                    discard_new(c.host, a).await;
                    return Err(ConfirmedError::Refused {
                        resource: c.resource.clone(),
                        reason: format!("the watchdog refused: {reason}"),
                    });
                }
                Some(_) => return Ok(()),
                None => {}
            },
            Ok(None) => {
                discard_new(c.host, a).await;
                return Err(ConfirmedError::Refused {
                    resource: c.resource.clone(),
                    reason: format!("the watchdog container `{name}` disappeared before it started"),
                });
            }
            Err(e) => {
                tracing::warn!(
                    "cannot see the watchdog over the old connection ({e}); checking over new ones"
                );
                return Ok(());
            }
        }
        if Instant::now() >= until {
            // Gone first, so that it cannot begin the change while we clean up.
            let _ = launch::remove(c.host, &name).await;
            discard_new(c.host, a).await;
            return Err(ConfirmedError::Refused {
                resource: c.resource.clone(),
                reason: format!(
                    "the watchdog did not report within {}s (is the agent image `{}` runnable on this host? see `docker logs {name}`)",
                    c.timing.ready_limit.as_secs(),
                    c.agent_image
                ),
            });
        }
        tokio::time::sleep(c.timing.poll.min(Duration::from_millis(100))).await;
    }
}

/// Removes the not-started replacement of an attempt that did not begin.
pub(super) async fn discard_new(host: &DockerHost, a: &RollbackAttempt) {
    if let Some(n) = &a.new {
        if let Err(e) = containers::remove(host, &n.id, true).await {
            tracing::warn!("could not remove the unused new container `{}`: {e}", n.temp_name);
        }
    }
}

/// What one round of checks found.
enum Check {
    Pass,
    /// Not yet: worth waiting (a host not reachable yet, a health check still starting).
    NotYet(String),
    /// Broken for good: the new container exited or is unhealthy.
    Broken(String),
}

/// Steps 3–6 of the module doc, from the moment the watchdog is running. `started` is when
/// the watchdog was created, by this process's clock.
///
/// The deadline starts when the watchdog reports the change done (stopping the old container
/// alone may take its whole grace period). Until then there is none: while the watchdog is
/// seen at work, the controller keeps waiting; once it has seen the change done, it follows
/// the watchdog's deadline (read from its status, converted to this clock) minus a margin.
pub(super) async fn follow(c: &Follow<'_>, a: &RollbackAttempt, tok: &Secret, started: Instant) -> Outcome {
    let name = a.watchdog_name();
    let t = &c.timing;
    // Before the change is seen done: as long as the watchdog might still take.
    let patience = c.timeout + t.finish_limit + t.swap_allowance;
    let mut give_up = started + patience;
    let mut deadline: Option<Instant> = None;
    let failed_hash = a.new.as_ref().map(|n| n.spec_hash.clone()).unwrap_or_default();
    let mut swapped_at: Option<Instant> = None;
    let mut confirmed = false;
    let mut aborted: Option<String> = None;
    let mut problem = String::from("no check has run yet");
    loop {
        let now = Instant::now();
        if now >= give_up {
            let reason = if confirmed {
                format!("confirmed, but the watchdog has not reported that it finished ({problem})")
            } else {
                format!("host `{}` cannot be reached: {problem}", a.host)
            };
            return Outcome::Pending {
                attempt: a.id.clone(),
                reason,
            };
        }
        let fresh = match reach::check(c.home, t.check_limit).await {
            Ok(h) => h,
            Err(e) => {
                problem = e;
                tokio::time::sleep(t.poll).await;
                continue;
            }
        };
        let w = match launch::observe(&fresh, &name).await {
            Ok(Some(w)) => w,
            Ok(None) => {
                return Outcome::Pending {
                    attempt: a.id.clone(),
                    reason: format!(
                        "the watchdog container `{name}` is gone (removed by hand?); check `{}` by hand",
                        a.container
                    ),
                }
            }
            Err(e) => {
                problem = e.to_string();
                tokio::time::sleep(t.poll).await;
                continue;
            }
        };
        let status = w.status;
        if deadline.is_none() {
            if let Some(d) = status.as_ref().and_then(|s| s.deadline.as_deref()) {
                let d = local_deadline(d, c.timeout);
                deadline = Some(d);
                give_up = d + t.finish_limit;
            } else {
                // Still at work on the change (or not started yet): keep waiting.
                give_up = now + patience;
            }
        }
        let confirm_by = deadline.map(|d| d.checked_sub(t.margin).unwrap_or(d));
        match status.map(|s| s.phase) {
            Some(Phase::Confirmed) => {
                let _ = launch::remove(&fresh, &name).await;
                tracing::info!(resource = %c.resource, attempt = %a.id, "confirmed");
                return Outcome::Confirmed {
                    attempt: a.id.clone(),
                    new_id: a.new.as_ref().map(|n| n.id.clone()),
                };
            }
            Some(Phase::RolledBack(reason)) => {
                let _ = launch::remove(&fresh, &name).await;
                let outcome = Outcome::RolledBack {
                    attempt: a.id.clone(),
                    failed_spec_hash: failed_hash,
                    by_controller: aborted.is_some(),
                    reason: aborted.unwrap_or(reason),
                };
                tracing::warn!(resource = %c.resource, "{outcome}");
                return outcome;
            }
            Some(Phase::RollbackFailed(reason)) => {
                let outcome = Outcome::RollbackFailed {
                    attempt: a.id.clone(),
                    failed_spec_hash: failed_hash,
                    reason,
                };
                tracing::error!(resource = %c.resource, "{outcome}");
                return outcome;
            }
            Some(Phase::Refused(reason)) => {
                let _ = launch::remove(&fresh, &name).await;
                discard_new(&fresh, a).await;
                return Outcome::RolledBack {
                    attempt: a.id.clone(),
                    failed_spec_hash: failed_hash,
                    reason: format!("the watchdog refused to start the change: {reason}"),
                    by_controller: false,
                };
            }
            Some(Phase::Swapped) if !confirmed && aborted.is_none() => {
                let since = *swapped_at.get_or_insert(now);
                let late = confirm_by.is_some_and(|by| now >= by);
                match checks(c, a, &fresh).await {
                    Check::Pass if !late => match launch::confirm(&fresh, &name, tok).await {
                        Ok(()) => {
                            confirmed = true;
                            tracing::info!(resource = %c.resource, attempt = %a.id, "checks passed over new connections; confirm sent");
                        }
                        Err(e) => problem = e.to_string(),
                    },
                    Check::Pass => {
                        aborted = Some(
                            abort(
                                &fresh,
                                &name,
                                tok,
                                "the checks passed only after the confirm deadline".into(),
                            )
                            .await,
                        )
                    }
                    Check::Broken(why) => aborted = Some(abort(&fresh, &name, tok, why).await),
                    Check::NotYet(why) => {
                        if now.duration_since(since) >= t.grace || late {
                            aborted = Some(
                                abort(
                                    &fresh,
                                    &name,
                                    tok,
                                    format!(
                                        "checks still failing {}s after the change while host `{}` is reachable: {why}",
                                        now.duration_since(since).as_secs(),
                                        a.host
                                    ),
                                )
                                .await,
                            );
                        } else {
                            problem = why;
                        }
                    }
                }
            }
            // Watching, swapping, committing, rolling back: the watchdog is at work.
            _ => {}
        }
        tokio::time::sleep(t.poll).await;
    }
}

/// The watchdog's deadline (RFC 3339, the host's clock) on this process's monotonic clock.
/// Unreadable: a full timeout from now, which only makes the controller more patient; the
/// watchdog keeps its own deadline regardless.
pub(super) fn local_deadline(deadline: &str, timeout: Duration) -> Instant {
    let now = Instant::now();
    match humantime::parse_rfc3339_weak(deadline) {
        Ok(d) => now + d.duration_since(std::time::SystemTime::now()).unwrap_or_default(),
        Err(_) => now + timeout,
    }
}

/// Tells the watchdog to roll back now; returns the reason, for the outcome.
async fn abort(host: &DockerHost, name: &str, tok: &Secret, reason: String) -> String {
    tracing::warn!("rolling back now: {reason}");
    if let Err(e) = launch::abort(host, name, tok).await {
        tracing::warn!("could not tell the watchdog to roll back ({e}); it will at its deadline");
    }
    reason
}

/// One round of checks, over `fresh` (a new connection to the home host) and new connections
/// to every other affected host.
async fn checks(c: &Follow<'_>, a: &RollbackAttempt, fresh: &DockerHost) -> Check {
    // The container that must run: the replacement, or the restarted one.
    let running = match &a.new {
        Some(n) => Some(&n.id),
        None if a.is_restart() => Some(&a.old_id),
        None => None,
    };
    let what = if a.is_restart() { "restarted" } else { "new" };
    if let Some(id) = running {
        match containers::inspect_state(fresh, id).await {
            Err(e) => return Check::NotYet(e.to_string()),
            Ok(s) => match (s.state, s.health) {
                (ContainerState::Exited | ContainerState::Dead, _) => {
                    return Check::Broken(format!(
                        "the {what} container `{}` exited with code {}{}",
                        a.container,
                        s.exit_code.unwrap_or(-1),
                        s.error.map(|e| format!(": {e}")).unwrap_or_default()
                    ))
                }
                (_, Some(Health::Unhealthy)) => {
                    return Check::Broken(format!(
                        "the {what} container `{}` is unhealthy{}",
                        a.container,
                        s.last_health_log.map(|l| format!(" ({l:?})")).unwrap_or_default()
                    ))
                }
                (ContainerState::Running, Some(Health::Healthy)) => {}
                (ContainerState::Running, _) if !c.has_healthcheck => {}
                (state, _) => {
                    return Check::NotYet(format!(
                        "the {what} container `{}` is {state:?}, not ready yet",
                        a.container
                    ))
                }
            },
        }
    }
    for o in c.others {
        if let Err(e) = reach::check(o, c.timing.check_limit).await {
            return Check::NotYet(e);
        }
    }
    Check::Pass
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
