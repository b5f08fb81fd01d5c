//! A commit-confirmed **restart** of a critical container (`aegisctl restart` of a resource
//! on a management path): the same attempt as a change ([`super::confirmed`]), with the
//! container restarted in place instead of replaced.
//!
//! The watchdog starts on the host first; it stops and starts the container itself (so the
//! restart never runs over the connection it may cut); the controller checks the container
//! and every host whose path carries it over new connections, then confirms.
//!
//! **What a rollback means for a restart.** A restart cannot be undone: the process that was
//! stopped is gone. The one thing to restore is that the container *runs*: if the restart
//! left it stopped (it would not start again, or exited at once), the watchdog (or the
//! controller, when it still reaches the host) starts it again. A container that runs but
//! does not give the path back is started again too if it dies, and otherwise left running;
//! either way the restart is reported as rolled back, a failure, and nothing about the
//! resource's spec is refused (the spec did not change).

use super::{
    confirm_span,
    confirmed::{self, OldContainer},
    critical_last::{AttemptHost, CriticalResult},
};
use crate::{
    agent::rollback::ConfirmKey,
    desired::{DesiredHost, DesiredState, ResourceRef},
};

/// The verb a restart's [`CriticalResult`] carries.
pub const VERB: &str = "restart";

/// Restarts the container `name` of `resource` on `desired`'s host, commit-confirmed.
pub async fn run_restart(
    state: &DesiredState,
    desired: &DesiredHost,
    instance: &str,
    key: &ConfirmKey,
    resource: &ResourceRef,
    name: &str,
) -> CriticalResult {
    let attempt = confirm_span::Attempt {
        host: &desired.host.name,
        resource,
        revision: &state.revision,
        spec_hash: "",
        verb: VERB,
        object: name,
    };
    confirm_span::traced(
        &attempt,
        run_restart_in(state, desired, instance, key, resource, name),
    )
    .await
}

async fn run_restart_in(
    state: &DesiredState,
    desired: &DesiredHost,
    instance: &str,
    key: &ConfirmKey,
    resource: &ResourceRef,
    name: &str,
) -> CriticalResult {
    let result = |result: Result<confirmed::Outcome, String>| CriticalResult {
        resource: resource.clone(),
        verb: VERB,
        object: name.to_string(),
        result,
    };
    let at = match AttemptHost::prepare(state, desired, resource).await {
        Ok(at) => at,
        Err(e) => return result(Err(e)),
    };
    let inspected = at
        .host
        .call()
        .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
        .await;
    let id = match inspected.map(|c| c.id) {
        Ok(Some(id)) => id,
        Ok(None) => return result(Err(format!("container `{name}` has no ID"))),
        Err(e) => return result(Err(format!("cannot inspect container `{name}`: {e}"))),
    };
    let old = OldContainer {
        id,
        name: name.to_string(),
        image_id: String::new(),
    };
    let change = at.change(key, resource, instance, old, None, true);
    result(confirmed::apply(&change).await.map_err(|e| e.to_string()))
}
