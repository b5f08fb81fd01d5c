//! The watchdog process: `aegis agent rollback run --name aegis-rollback-<attempt>`, in a
//! container on the host whose critical container is being changed.
//!
//! It reads its attempt from its own labels (they survive its restarts) and its phase and
//! deadline (set when the swap is done, by the host's clock) from its status file,
//! then loops: [`super::state::decide`] on what it sees, and one idempotent move from
//! [`super::swap`]. It talks only to its host's Docker socket; the controller's connection
//! and process may come and go.

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use super::{
    state::{decide, exit, Move, Phase, Status, Tick},
    swap, token,
};
use crate::{
    desired::{Endpoint, HostSpec},
    docker::DockerHost,
    observed::RollbackAttempt,
};

/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(200);
/// A rollback whose Docker calls keep failing this many times in a row gives up (exit 4,
/// both containers kept) instead of looping forever.
const MAX_ROLLBACK_ERRORS: u32 = 50;

/// `aegis agent rollback run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The watchdog's own container name (`aegis-rollback-<attempt>`): its labels hold the
    /// attempt.
    #[arg(long)]
    pub name: String,
    /// The host's Docker socket, as mounted into this container.
    #[arg(long, default_value = "/var/run/docker.sock")]
    pub socket: String,
    /// The directory holding the status file and where the confirm arrives.
    #[arg(long, default_value = super::super::image::STATE_DIR)]
    pub state_dir: String,
}

/// Runs the watchdog until a terminal phase; returns the process exit code.
pub async fn run(args: &RunArgs) -> i32 {
    match run_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("rollback watchdog {}: {e}", args.name);
            exit::INTERNAL
        }
    }
}

async fn run_inner(args: &RunArgs) -> Result<i32, String> {
    let spec = HostSpec {
        name: "local".into(),
        endpoint: Endpoint::Unix(args.socket.clone().into()),
        labels: Default::default(),
    };
    // The engine may be restarting with us: keep trying to reach it.
    let host = loop {
        match DockerHost::connect(&spec).await {
            Ok(h) => break h,
            Err(e) => {
                tracing::warn!("cannot reach the Docker socket yet: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let me = host
        .call()
        .inspect_container(
            &args.name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(|e| format!("cannot inspect my own container `{}`: {e}", args.name))?;
    let labels: std::collections::BTreeMap<String, String> = me
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let attempt = RollbackAttempt::from_labels(&labels).map_err(|e| format!("my labels: {e}"))?;
    let dir = Path::new(&args.state_dir);
    let status_path = dir.join("status.json");
    // After a restart the deadline is the one recorded when the swap was done.
    let deadline = read_status(&status_path)
        .and_then(|s| s.deadline)
        .and_then(|d| humantime::parse_rfc3339_weak(&d).ok());
    let mut wd = Watchdog {
        host,
        attempt,
        deadline,
        status_path,
        confirm_path: dir.join("confirm"),
        abort_path: dir.join("abort"),
        self_name: args.name.clone(),
        rollback_errors: 0,
    };
    tracing::info!(
        "rollback watchdog for {} (attempt {}, container `{}`): confirm within {}s of the change",
        wd.attempt.resource,
        wd.attempt.id,
        wd.attempt.container,
        wd.attempt.timeout.as_secs()
    );
    loop {
        let tick = wd.tick();
        match decide(&tick, wd.attempt.timeout.as_secs()) {
            Move::Validate => match swap::validate(&wd.host, &wd.attempt).await {
                Ok(()) => wd.set(Phase::Watching)?,
                Err(reason) => wd.set(Phase::Refused(reason))?,
            },
            Move::Swap => {
                wd.set(Phase::Swapping)?;
                match swap::swap(&wd.host, &wd.attempt).await {
                    Ok(()) => {
                        wd.deadline = Some(SystemTime::now() + wd.attempt.timeout);
                        wd.set(Phase::Swapped)?
                    }
                    Err(e) => wd.set(Phase::RollingBack(format!("the swap failed: {e}")))?,
                }
            }
            Move::Wait => tokio::time::sleep(TICK).await,
            Move::Commit => {
                wd.set(Phase::Committing)?;
                match swap::commit(&wd.host, &wd.attempt).await {
                    Ok(()) => wd.set(Phase::Confirmed)?,
                    Err(e) => {
                        tracing::warn!("removing the old container failed (retrying): {e}");
                        tokio::time::sleep(TICK).await;
                    }
                }
            }
            Move::Rollback(reason) => {
                wd.set(Phase::RollingBack(reason.clone()))?;
                match swap::rollback(&wd.host, &wd.attempt).await {
                    Ok(Ok(())) => wd.set(Phase::RolledBack(reason))?,
                    Ok(Err(why)) => wd.set(Phase::RollbackFailed(format!("{reason}; {why}")))?,
                    Err(e) if e.is_not_found() => wd.set(Phase::RollbackFailed(format!(
                        "{reason}; a container the rollback needs is gone: {e}"
                    )))?,
                    Err(e) => {
                        wd.rollback_errors += 1;
                        tracing::warn!("rollback step failed (attempt {}): {e}", wd.rollback_errors);
                        if wd.rollback_errors >= MAX_ROLLBACK_ERRORS {
                            wd.set(Phase::RollbackFailed(format!(
                                "{reason}; the rollback kept failing: {e}"
                            )))?;
                        } else {
                            tokio::time::sleep(TICK).await;
                        }
                    }
                }
            }
            Move::Exit(code) => {
                wd.finish().await;
                return Ok(code);
            }
        }
    }
}

struct Watchdog {
    host: DockerHost,
    attempt: RollbackAttempt,
    /// Set when the swap is done; `None` before.
    deadline: Option<SystemTime>,
    status_path: std::path::PathBuf,
    confirm_path: std::path::PathBuf,
    abort_path: std::path::PathBuf,
    self_name: String,
    rollback_errors: u32,
}

impl Watchdog {
    fn tick(&self) -> Tick {
        Tick {
            phase: read_status(&self.status_path).map(|s| s.phase),
            confirmed: self.has_token(&self.confirm_path),
            aborted: self.has_token(&self.abort_path),
            past_deadline: self.deadline.is_some_and(|d| SystemTime::now() >= d),
        }
    }

    /// Whether `path` holds this attempt's token. Any other content is ignored (a stale file,
    /// another attempt's token, a half-written upload): only the right token counts.
    fn has_token(&self, path: &Path) -> bool {
        std::fs::read(path)
            .map(|b| token::token_sha256(b.trim_ascii()) == self.attempt.token_sha256)
            .unwrap_or(false)
    }

    /// Records a phase (atomically: written, then renamed) and logs it.
    fn set(&self, phase: Phase) -> Result<(), String> {
        let status = Status {
            attempt: self.attempt.id.clone(),
            phase,
            deadline: self
                .deadline
                .map(|d| humantime::format_rfc3339_millis(d).to_string()),
            updated: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        };
        match (status.phase.reason(), &status.deadline) {
            (Some(r), _) => tracing::info!("phase {}: {r}", status.phase.name()),
            (None, Some(d)) if status.phase == Phase::Swapped => {
                tracing::info!("phase {}: confirm by {d}", status.phase.name())
            }
            _ => tracing::info!("phase {}", status.phase.name()),
        }
        let json = serde_json::to_vec(&status).map_err(|e| e.to_string())?;
        if let Some(dir) = self.status_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = self.status_path.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &self.status_path))
            .map_err(|e| format!("cannot write {}: {e}", self.status_path.display()))
    }

    /// At a terminal phase: the restart policy has done its job; turn it off so the exit code
    /// stays as the report (a restart would only exit again with the same code).
    async fn finish(&self) {
        let body = bollard::models::ContainerUpdateBody {
            restart_policy: Some(bollard::models::RestartPolicy {
                name: Some(bollard::models::RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        if let Err(e) = self.host.call().update_container(&self.self_name, body).await {
            tracing::warn!("cannot turn off my restart policy: {e}");
        }
    }
}

/// The status file, if there is a readable one.
pub fn read_status(path: &Path) -> Option<Status> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}
