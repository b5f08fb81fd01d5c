//! Waiting for a container to become healthy, or to finish successfully (compose's
//! `depends_on` conditions `service_healthy` and `service_completed_successfully`).

use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::{
    client::DockerHost,
    containers::{inspect_state, ContainerStatus},
    error::{DockerError, Result},
};
use crate::observed::{ContainerState, Health};

/// How often the container is inspected while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Waits until the container's healthcheck reports healthy. Fails at once if it has no
/// healthcheck, turns unhealthy (compose fails the dependency then too), or stops running;
/// fails after `timeout` with the last health check output.
pub async fn wait_healthy(host: &DockerHost, id: &str, timeout: Duration) -> Result<()> {
    poll(host, id, timeout, "healthy", |s| match (s.state, s.health) {
        (_, Some(Health::Healthy)) => Ok(true),
        (_, Some(Health::Unhealthy)) => Err(format!(
            "is unhealthy{}",
            s.last_health_log
                .as_deref()
                .map(|l| format!(" (last health check output: {l:?})"))
                .unwrap_or_default()
        )),
        (ContainerState::Running, None) => Err(
            "has no healthcheck, so it can never become healthy; add one or use \
                 `condition: service_started`"
                .into(),
        ),
        (ContainerState::Exited | ContainerState::Dead, _) => Err(format!(
            "exited with code {} before becoming healthy",
            s.exit_code.unwrap_or(-1)
        )),
        _ => Ok(false),
    })
    .await
}

/// Waits until the container has exited with code 0. Fails at once on a non-zero exit code.
pub async fn wait_exited_ok(host: &DockerHost, id: &str, timeout: Duration) -> Result<()> {
    poll(host, id, timeout, "completed successfully", |s| match s.state {
        ContainerState::Exited | ContainerState::Dead => match s.exit_code {
            Some(0) => Ok(true),
            code => Err(format!(
                "exited with code {}{}",
                code.unwrap_or(-1),
                s.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            )),
        },
        _ => Ok(false),
    })
    .await
}

/// Inspects every [`POLL_INTERVAL`] until `done` says `Ok(true)` (success) or `Err` (failure).
async fn poll(
    host: &DockerHost,
    id: &str,
    timeout: Duration,
    wanted: &'static str,
    done: impl Fn(&ContainerStatus) -> std::result::Result<bool, String>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = inspect_state(host, id).await?;
        match done(&status) {
            Ok(true) => return Ok(()),
            Err(what) => {
                return Err(DockerError::WaitFailed {
                    host: host.host().into(),
                    container: status.name,
                    what,
                })
            }
            Ok(false) => {}
        }
        if Instant::now() >= deadline {
            return Err(DockerError::WaitTimeout {
                host: host.host().into(),
                last_state: describe(&status),
                container: status.name,
                wanted,
                timeout_secs: timeout.as_secs(),
                last_log: status.last_health_log,
            });
        }
        sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

fn describe(s: &ContainerStatus) -> String {
    let state = format!("{:?}", s.state).to_lowercase();
    match s.health {
        Some(h) => format!("{state}, health {}", format!("{h:?}").to_lowercase()),
        None => state,
    }
}
