//! Container actions: create (multi-network on API 1.41), start, stop, remove, rename,
//! inspect, and compose-style replace.

use crate::desired::SecretFile;
use bollard::{
    errors::Error as BollardError,
    models::ContainerCreateBody,
    query_parameters::{
        CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
        StartContainerOptions, StopContainerOptionsBuilder,
    },
};

use super::{
    client::DockerHost,
    error::{DockerError, Result},
    networks,
};
use crate::{
    desired::NetworkAttachment,
    labels,
    observed::{ContainerState, Health},
};

/// Suffix of the temporary name a replacement is created under.
pub const REPLACEMENT_SUFFIX: &str = "_aegis_new";

/// A container's state, from one inspect: what health and completion waits need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Without the leading `/`.
    pub name: String,
    pub state: ContainerState,
    /// `None` when the container has no healthcheck.
    pub health: Option<Health>,
    pub exit_code: Option<i64>,
    /// Output of the most recent health check, trimmed.
    pub last_health_log: Option<String>,
    /// The engine's error for a container that failed to start.
    pub error: Option<String>,
}

fn is_status(e: &BollardError, code: u16) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// Creates `name` from `body`, then connects it to `extra_networks` before anything starts
/// it. The body attaches at most one network (API 1.41 accepts only one at create; see
/// [`super::container_config::extra_networks`]); connecting a created container applies
/// aliases and static IPs just as create would. If a connect fails, the half-made container
/// is removed so that a retry starts clean. A taken name gives [`DockerError::Conflict`].
pub async fn create_container(
    host: &DockerHost,
    name: &str,
    body: ContainerCreateBody,
    extra_networks: &[NetworkAttachment],
    files: &[SecretFile],
) -> Result<String> {
    create_container_for_platform(host, name, None, body, extra_networks, files).await
}

/// [`create_container`] with compose's `platform:` (`os[/arch[/variant]]`), sent as the
/// `platform` query parameter of `/containers/create` as Compose v2 sends it (API >= 1.41):
/// the engine then picks that variant of the image, and refuses an image of another
/// platform ("image ... was found but does not match the specified platform").
pub async fn create_container_for_platform(
    host: &DockerHost,
    name: &str,
    platform: Option<&str>,
    body: ContainerCreateBody,
    extra_networks: &[NetworkAttachment],
    files: &[SecretFile],
) -> Result<String> {
    let mut opts = CreateContainerOptionsBuilder::new().name(name);
    if let Some(p) = platform {
        opts = opts.platform(p);
    }
    let opts = opts.build();
    let resp = host
        .api("create_container", |d| d.create_container(Some(opts), body))
        .await
        .map_err(|e| DockerError::create(host.host(), "container", name, e))?;
    for net in extra_networks {
        if let Err(e) = networks::connect(host, &resp.id, net).await {
            // Best effort: the connect error is the one worth reporting.
            let _ = remove(host, &resp.id, true).await;
            return Err(e);
        }
    }
    if let Err(e) = upload_secret_files(host, name, &resp.id, files).await {
        let _ = remove(host, &resp.id, true).await;
        return Err(e);
    }
    Ok(resp.id)
}

/// Writes compose `secrets:` files into a created, not yet started container: they live in
/// its writable layer (under Docker's root-only data directory) and go away with it, so no
/// plaintext is left on any disk of ours. One API call whatever the number of files.
async fn upload_secret_files(host: &DockerHost, name: &str, id: &str, files: &[SecretFile]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let fail = |reason: String| DockerError::Files {
        host: host.host().into(),
        stack: name.into(),
        path: "secrets".into(),
        reason,
    };
    let mut b = tar::Builder::new(Vec::new());
    for f in files {
        let rel = f.target.trim_start_matches('/');
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_uid(f.uid.into());
        h.set_gid(f.gid.into());
        h.set_size(f.value.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, rel, f.value.expose())
            .map_err(|e| fail(format!("packing {}: {e}", f.target)))?;
    }
    let tar = zeroize::Zeroizing::new(b.into_inner().map_err(|e| fail(e.to_string()))?);
    let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
        .path("/")
        .build();
    host.api("upload_to_container", |d| {
        d.upload_to_container(id, Some(opts), bollard::body_full(tar.to_vec().into()))
    })
    .await
    .map_err(|e| {
        fail(format!(
            "cannot write the secret files into the container (a read_only container can't take them): {}",
            super::error::engine_message(&e)
        ))
    })
}

/// Starts a container; already running is fine.
pub async fn start(host: &DockerHost, id: &str) -> Result<()> {
    match host
        .api("start_container", |d| {
            d.start_container(id, None::<StartContainerOptions>)
        })
        .await
    {
        Err(e) if !is_status(&e, 304) => Err(DockerError::api(host.host(), "start", "container", id, e)),
        _ => Ok(()),
    }
}

/// Stops a container, waiting `timeout_secs` before SIGKILL; `None` uses the container's own
/// `StopTimeout` (compose's `stop_grace_period`), else the engine's 10 s. Already stopped is
/// fine.
pub async fn stop(host: &DockerHost, id: &str, timeout_secs: Option<i32>) -> Result<()> {
    let mut b = StopContainerOptionsBuilder::new();
    if let Some(t) = timeout_secs {
        b = b.t(t);
    }
    match host
        .api("stop_container", |d| d.stop_container(id, Some(b.build())))
        .await
    {
        Err(e) if !is_status(&e, 304) => Err(DockerError::api(host.host(), "stop", "container", id, e)),
        _ => Ok(()),
    }
}

/// Removes a container (`force`: even if running). Anonymous volumes are kept, as compose
/// keeps them. A container that is already gone is not an error.
pub async fn remove(host: &DockerHost, id: &str, force: bool) -> Result<()> {
    let opts = RemoveContainerOptionsBuilder::new().force(force).build();
    match host
        .api("remove_container", |d| d.remove_container(id, Some(opts)))
        .await
    {
        Err(e) if !is_status(&e, 404) => Err(DockerError::api(host.host(), "remove", "container", id, e)),
        _ => Ok(()),
    }
}

/// Renames a container. A taken name gives [`DockerError::Conflict`].
pub async fn rename(host: &DockerHost, id: &str, new_name: &str) -> Result<()> {
    let opts = RenameContainerOptionsBuilder::new().name(new_name).build();
    host.api("rename_container", |d| d.rename_container(id, opts))
        .await
        .map_err(|e| match e {
            e if is_status(&e, 409) => DockerError::create(host.host(), "container", new_name, e),
            e => DockerError::api(host.host(), "rename", "container", id, e),
        })
}

/// One inspect: state, health, exit code.
pub async fn inspect_state(host: &DockerHost, id: &str) -> Result<ContainerStatus> {
    let c = host
        .api("inspect_container", |d| {
            d.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
        })
        .await
        .map_err(|e| DockerError::api(host.host(), "inspect", "container", id, e))?;
    let st = c.state.unwrap_or_default();
    let health = st
        .health
        .as_ref()
        .and_then(|h| match h.status.map(|s| s.to_string()).as_deref() {
            Some("healthy") => Some(Health::Healthy),
            Some("unhealthy") => Some(Health::Unhealthy),
            Some("starting") => Some(Health::Starting),
            _ => None,
        });
    let last_health_log = st
        .health
        .as_ref()
        .and_then(|h| h.log.as_ref())
        .and_then(|l| l.last())
        .and_then(|r| r.output.as_deref())
        .map(|o| o.trim().to_string());
    Ok(ContainerStatus {
        name: c
            .name
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.to_string()),
        state: st
            .status
            .map(|s| ContainerState::parse(s.as_ref()))
            .unwrap_or(ContainerState::Unknown),
        health,
        exit_code: st.exit_code,
        last_health_log,
        error: st.error.filter(|e| !e.is_empty()),
    })
}

/// Replaces container `old_id` by a new one named `name`, the compose way, and returns the
/// new ID:
///
/// 1. create the new container under `<name>_aegis_new` (networks connected, not started);
/// 2. stop the old one, 3. remove it, 4. rename the new one to `name`, 5. start it.
///
/// Starting last matters: with `network_mode: host` or fixed published ports the new
/// container cannot start while the old one still holds the ports. Creating first means a bad
/// spec (unknown network, invalid option) fails before the old container is touched.
/// A leftover `<name>_aegis_new` from an interrupted earlier attempt is removed first, but
/// only if aegis owns it.
pub async fn replace_container(
    host: &DockerHost,
    old_id: &str,
    name: &str,
    platform: Option<&str>,
    body: ContainerCreateBody,
    extra_networks: &[NetworkAttachment],
    files: &[SecretFile],
) -> Result<String> {
    let temp = format!("{name}{REPLACEMENT_SUFFIX}");
    let create = |body| create_container_for_platform(host, &temp, platform, body, extra_networks, files);
    let new_id = match create(body.clone()).await {
        Err(DockerError::Conflict { .. }) if is_owned(host, &temp).await? => {
            remove(host, &temp, true).await?;
            create(body).await?
        }
        other => other?,
    };
    stop(host, old_id, None).await?;
    remove(host, old_id, true).await?;
    rename(host, &new_id, name).await?;
    start(host, &new_id).await?;
    Ok(new_id)
}

/// Whether the container carries aegis's owner label (one inspect).
async fn is_owned(host: &DockerHost, name: &str) -> Result<bool> {
    let c = host
        .api("inspect_container", |d| {
            d.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
        })
        .await
        .map_err(|e| DockerError::api(host.host(), "inspect", "container", name, e))?;
    Ok(c.config
        .and_then(|c| c.labels)
        .and_then(|l| l.get(labels::MANAGED_BY).cloned())
        .as_deref()
        == Some(labels::MANAGED_BY_VALUE))
}
