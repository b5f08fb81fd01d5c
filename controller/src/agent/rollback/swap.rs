//! The three changes a rollback attempt makes, as idempotent Docker procedures: each looks at
//! the containers (by ID) and does only what is still missing, so it can be repeated after an
//! interruption. The watchdog runs them on its own host; the controller runs [`rollback`]
//! itself only when the watchdog is gone.
//!
//! **Never both gone.** The old container is removed only by [`commit`], after a confirm; the
//! new one only by [`rollback`], which then brings the old one back. No procedure removes the
//! container it would need to fall back on.

use std::time::Duration;

use crate::{
    docker::{containers, DockerError, DockerHost},
    observed::{ContainerState, RollbackAttempt},
};

/// How long a restored container must keep running before the rollback counts as done.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Checks, before anything changes, that the containers are as the attempt says: the old one
/// under the name, the new one created (not running) under its temporary name. `Err` is the
/// reason to refuse.
pub async fn validate(host: &DockerHost, a: &RollbackAttempt) -> Result<(), String> {
    let old = containers::inspect_state(host, &a.old_id)
        .await
        .map_err(|e| format!("the container to replace is not there: {e}"))?;
    if old.name != a.container {
        return Err(format!(
            "the container to replace ({}) is named `{}`, not `{}`",
            short(&a.old_id),
            old.name,
            a.container
        ));
    }
    if let Some(n) = &a.new {
        let new = containers::inspect_state(host, &n.id)
            .await
            .map_err(|e| format!("the new container is not there: {e}"))?;
        if new.name != n.temp_name || new.state == ContainerState::Running {
            return Err(format!(
                "the new container ({}) should be `{}` and not running, but is `{}` ({:?})",
                short(&n.id),
                n.temp_name,
                new.name,
                new.state
            ));
        }
    }
    Ok(())
}

/// Stops the old container and parks it under its parked name, then renames the new one to
/// the container's name and starts it. A removal attempt only parks the old one. A restart
/// attempt ([`RollbackAttempt::is_restart`]) stops the container and starts it again under
/// its own name (redone after an interruption, it may restart it twice: harmless).
pub async fn swap(host: &DockerHost, a: &RollbackAttempt) -> Result<(), DockerError> {
    let old = containers::inspect_state(host, &a.old_id).await?;
    if matches!(
        old.state,
        ContainerState::Running | ContainerState::Restarting | ContainerState::Paused
    ) {
        // `None`: the container's own stop timeout (compose's stop_grace_period).
        containers::stop(host, &a.old_id, None).await?;
    }
    if old.name != a.old_parked {
        containers::rename(host, &a.old_id, &a.old_parked).await?;
    }
    if a.is_restart() {
        containers::start(host, &a.old_id).await?;
    }
    if let Some(n) = &a.new {
        let new = containers::inspect_state(host, &n.id).await?;
        if new.name != a.container {
            containers::rename(host, &n.id, &a.container).await?;
        }
        if new.state != ContainerState::Running {
            containers::start(host, &n.id).await?;
        }
    }
    Ok(())
}

/// After a confirm: removes the parked old container. A restart has none: the "old"
/// container is the one that runs, and stays.
pub async fn commit(host: &DockerHost, a: &RollbackAttempt) -> Result<(), DockerError> {
    if a.is_restart() {
        return Ok(());
    }
    containers::remove(host, &a.old_id, true).await
}

/// Restores the old container: removes the new one, gives the old one its name back, starts
/// it (for a restart: starts it again if the restart left it stopped), and checks that it keeps running for [`SETTLE`]. `Err(DockerError)` is worth retrying;
/// `Ok(Err(reason))` means the old container was restored but does not stay up.
pub async fn rollback(host: &DockerHost, a: &RollbackAttempt) -> Result<Result<(), String>, DockerError> {
    if let Some(n) = &a.new {
        containers::remove(host, &n.id, true).await?;
    }
    let old = containers::inspect_state(host, &a.old_id).await?;
    if old.name != a.container {
        containers::rename(host, &a.old_id, &a.container).await?;
    }
    if old.state != ContainerState::Running {
        containers::start(host, &a.old_id).await?;
    }
    tokio::time::sleep(SETTLE).await;
    let after = containers::inspect_state(host, &a.old_id).await?;
    if after.state == ContainerState::Running {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "the old container `{}` was restored but is {:?} (exit code {}){}",
            a.container,
            after.state,
            after.exit_code.unwrap_or(-1),
            after.error.map(|e| format!(": {e}")).unwrap_or_default()
        )))
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
