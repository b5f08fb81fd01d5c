//! The controller's side of a watchdog: start it, read its status, confirm or abort it, find
//! the watchdogs of a host, remove a finished one. Every call works on Docker API 1.41 and
//! goes through whatever [`DockerHost`] it is given, so the caller chooses the connection (a
//! fresh one for the checks after a change).
//!
//! The confirm travels as a file: `PUT /containers/{watchdog}/archive` puts the token into
//! the watchdog's [`CONFIRM_FILE`](super::state::CONFIRM_FILE). No exec (whose command line
//! the engine keeps and shows), no port on the watchdog (it has no network at all).

use std::collections::{BTreeMap, HashMap};

use bollard::{
    models::{ContainerCreateBody, ContainerSummary, HostConfig, RestartPolicy, RestartPolicyNameEnum},
    query_parameters::{
        DownloadFromContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    },
};
use futures::StreamExt;

use super::state::{Status, ABORT_FILE, CONFIRM_FILE, STATUS_FILE};
use crate::{
    agent::image::STATE_DIR,
    docker::{containers, DockerError, DockerHost},
    labels,
    observed::{rollback::AGENT_KIND, RollbackAttempt},
    secrets::Secret,
};

/// Where the host's Docker socket is mounted inside the watchdog.
const SOCKET_IN_CONTAINER: &str = "/var/run/docker.sock";

/// Creates and starts the watchdog of `attempt` on `host`, from `image` (already on the host),
/// with `host_socket` (the socket's path on the host) mounted. It has no network and restarts
/// unless stopped by hand. Returns its container ID.
pub async fn start(
    host: &DockerHost,
    attempt: &RollbackAttempt,
    image: &str,
    host_socket: &str,
) -> Result<String, DockerError> {
    let name = attempt.watchdog_name();
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(
            [
                "agent",
                "rollback",
                "run",
                "--name",
                &name,
                "--socket",
                SOCKET_IN_CONTAINER,
            ]
            .map(String::from)
            .to_vec(),
        ),
        labels: Some(attempt.to_labels().into_iter().collect()),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{host_socket}:{SOCKET_IN_CONTAINER}")]),
            network_mode: Some("none".into()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = containers::create_container(host, &name, body, &[], &[]).await?;
    if let Err(e) = containers::start(host, &id).await {
        let _ = containers::remove(host, &id, true).await;
        return Err(e);
    }
    Ok(id)
}

/// A watchdog as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogState {
    pub id: String,
    /// Running (or restarting: it has not finished).
    pub running: bool,
    /// Its exit code once it has exited.
    pub exit_code: Option<i64>,
    /// Its status file; `None` before it has written one.
    pub status: Option<Status>,
}

/// The watchdog named `name` on `host`, or `None` when there is no such container.
pub async fn observe(host: &DockerHost, name: &str) -> Result<Option<WatchdogState>, DockerError> {
    let c = match host
        .call()
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => c,
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Ok(None),
        Err(e) => return Err(DockerError::api(host.host(), "inspect", "container", name, e)),
    };
    let state = c.state.unwrap_or_default();
    let running = state.running.unwrap_or(false) || state.restarting.unwrap_or(false);
    Ok(Some(WatchdogState {
        id: c.id.unwrap_or_default(),
        running,
        exit_code: (!running).then_some(state.exit_code).flatten(),
        status: read_status(host, name).await?,
    }))
}

/// The watchdog's status file, through `GET /containers/{name}/archive`.
async fn read_status(host: &DockerHost, name: &str) -> Result<Option<Status>, DockerError> {
    let opts = DownloadFromContainerOptionsBuilder::new()
        .path(STATUS_FILE)
        .build();
    let mut stream = host.call().download_from_container(name, Some(opts));
    let mut tar: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => tar.extend_from_slice(&bytes),
            // Not written yet (or the container is gone: the caller inspected it just before).
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                return Ok(None)
            }
            Err(e) => {
                return Err(DockerError::api(
                    host.host(),
                    "read the status of",
                    "container",
                    name,
                    e,
                ))
            }
        }
    }
    let mut archive = tar::Archive::new(&tar[..]);
    let Ok(mut entries) = archive.entries() else {
        return Ok(None);
    };
    let Some(Ok(mut entry)) = entries.next() else {
        return Ok(None);
    };
    let mut json = Vec::new();
    if std::io::Read::read_to_end(&mut entry, &mut json).is_err() {
        return Ok(None);
    }
    Ok(serde_json::from_slice(&json).ok())
}

/// Puts the confirm token into the watchdog.
pub async fn confirm(host: &DockerHost, name: &str, token: &Secret) -> Result<(), DockerError> {
    put_token(host, name, CONFIRM_FILE, token).await
}

/// Puts the token into the watchdog's abort file: it rolls back at once.
pub async fn abort(host: &DockerHost, name: &str, token: &Secret) -> Result<(), DockerError> {
    put_token(host, name, ABORT_FILE, token).await
}

async fn put_token(host: &DockerHost, name: &str, file: &str, token: &Secret) -> Result<(), DockerError> {
    let file_name = file.rsplit('/').next().unwrap_or(file);
    let fail = |reason: String| DockerError::Files {
        host: host.host().into(),
        stack: name.into(),
        path: file.into(),
        reason,
    };
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o600);
    h.set_size(token.len() as u64);
    h.set_mtime(0);
    b.append_data(&mut h, file_name, token.expose())
        .map_err(|e| fail(e.to_string()))?;
    let tar = zeroize::Zeroizing::new(b.into_inner().map_err(|e| fail(e.to_string()))?);
    let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
        .path(STATE_DIR)
        .build();
    host.call()
        .upload_to_container(name, Some(opts), bollard::body_full(tar.to_vec().into()))
        .await
        .map_err(|e| DockerError::api(host.host(), "send the token to", "container", name, e))
}

/// Removes a watchdog container (running or not).
pub async fn remove(host: &DockerHost, name: &str) -> Result<(), DockerError> {
    containers::remove(host, name, true).await
}

/// Every container of `instance` on `host` (one list call), whatever its state, that also has
/// the `extra` labels (`key=value`).
pub async fn list_of_instance(
    host: &DockerHost,
    instance: &str,
    extra: &[String],
) -> Result<Vec<ContainerSummary>, DockerError> {
    let mut wanted = vec![
        labels::owner_filter(),
        format!("{}={instance}", labels::INSTANCE),
        format!("{}={}", labels::HOST, host.host()),
    ];
    wanted.extend_from_slice(extra);
    let filters = HashMap::from([("label", wanted)]);
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    host.call()
        .list_containers(Some(opts))
        .await
        .map_err(|e| DockerError::api(host.host(), "list", "containers", "*", e))
}

/// A watchdog found on a host.
#[derive(Debug, Clone)]
pub struct Found {
    /// `Err`: its labels do not parse (reported, never acted on).
    pub attempt: Result<RollbackAttempt, String>,
    pub name: String,
}

/// Every rollback watchdog of `instance` on `host` (one list call), whatever its state.
pub async fn find(host: &DockerHost, instance: &str) -> Result<Vec<Found>, DockerError> {
    let list = list_of_instance(host, instance, &[format!("{}={AGENT_KIND}", labels::AGENT)]).await?;
    Ok(list
        .into_iter()
        .map(|c| {
            let l: BTreeMap<String, String> = c.labels.unwrap_or_default().into_iter().collect();
            Found {
                attempt: RollbackAttempt::from_labels(&l),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
            }
        })
        .collect())
}
