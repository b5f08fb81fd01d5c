//! Observed state of a host in exactly four list calls.
//!
//! No per-container inspect: everything `plan` needs (labels with the spec hash, state,
//! health, image, networks) is in the list responses, so a no-op pass over 100 containers
//! costs the same four calls as over one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::{
    models::{ContainerSummary, Network, Volume},
    query_parameters::{
        ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptions, ListVolumesOptions,
    },
};

use super::{
    client::DockerHost,
    error::{DockerError, Result},
    images::normalize_reference,
};
use crate::{
    labels,
    observed::{ContainerState, Health, ObservedContainer, ObservedHost, ObservedNetwork, ObservedVolume},
};

/// Lists the host's aegis-owned containers (all states), and every network, volume and
/// image: 4 API calls, made concurrently.
pub async fn observe(host: &DockerHost) -> Result<ObservedHost> {
    let (containers, networks, volumes, images) = tokio::try_join!(
        list_containers(host),
        list_networks(host),
        list_volumes(host),
        list_images(host)
    )?;
    Ok(ObservedHost {
        api_version: host.api_version(),
        containers,
        networks,
        volumes,
        images,
    })
}

fn list_failed(host: &DockerHost, kind: &'static str, e: bollard::errors::Error) -> DockerError {
    DockerError::api(host.host(), "list", kind, "*", e)
}

async fn list_containers(host: &DockerHost) -> Result<Vec<ObservedContainer>> {
    owned_containers(host, None)
        .await
        .map_err(|e| list_failed(host, "containers", e))
}

/// The host's aegis-owned containers in any state (only those of `ids`, given: the engine
/// matches ID prefixes, so a caller that wants exact IDs filters again). One list call; the
/// caller says what failed.
pub(super) async fn owned_containers(
    host: &DockerHost,
    ids: Option<&BTreeSet<String>>,
) -> std::result::Result<Vec<ObservedContainer>, bollard::errors::Error> {
    // Several `label` filters are ANDed by the engine.
    let mut filters = HashMap::from([(
        "label",
        vec![
            labels::owner_filter(),
            format!("{}={}", labels::HOST, host.host()),
        ],
    )]);
    if let Some(ids) = ids {
        filters.insert("id", ids.iter().cloned().collect());
    }
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let list = host
        .api("list_containers", |d| d.list_containers(Some(opts)))
        .await?;
    Ok(list.into_iter().map(container_from_summary).collect())
}

/// Maps one list entry. Missing fields become empty values rather than errors: an engine
/// that omits something should not stop the whole host from reconciling.
pub(crate) fn container_from_summary(c: ContainerSummary) -> ObservedContainer {
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let state = c
        .state
        .map(|s| ContainerState::parse(s.as_ref()))
        .unwrap_or(ContainerState::Unknown);
    let mut networks: Vec<String> = c
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    networks.sort();
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name,
        labels: c.labels.unwrap_or_default().into_iter().collect(),
        state,
        health: c.status.as_deref().and_then(health_from_status),
        exit_code: c.status.as_deref().and_then(exit_code_from_status),
        image_id: c.image_id.unwrap_or_default(),
        networks,
    }
}

/// Exit code from the list's `Status` text (`Exited (0) 5 minutes ago`), so deciding whether
/// a stopped container is a finished one-shot job needs no inspect.
pub(crate) fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.trim().parse().ok()
}

/// Health from the list's `Status` text (`Up 3 minutes (healthy)`): API 1.41 has no `Health`
/// field in the container list, and the text is what `docker ps` shows on every version.
pub(crate) fn health_from_status(status: &str) -> Option<Health> {
    if status.contains("(healthy)") {
        Some(Health::Healthy)
    } else if status.contains("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.contains("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}

async fn list_networks(host: &DockerHost) -> Result<Vec<ObservedNetwork>> {
    let list = host
        .api("list_networks", |d| d.list_networks(None::<ListNetworksOptions>))
        .await
        .map_err(|e| list_failed(host, "networks", e))?;
    Ok(list.into_iter().map(network_from_api).collect())
}

/// One entry of the network list.
pub(crate) fn network_from_api(n: Network) -> ObservedNetwork {
    ObservedNetwork {
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        labels: n.labels.unwrap_or_default().into_iter().collect(),
    }
}

/// One entry of the volume list.
pub(crate) fn volume_from_api(v: Volume) -> ObservedVolume {
    ObservedVolume {
        name: v.name,
        labels: v.labels.into_iter().collect(),
    }
}

async fn list_volumes(host: &DockerHost) -> Result<Vec<ObservedVolume>> {
    let list = host
        .api("list_volumes", |d| d.list_volumes(None::<ListVolumesOptions>))
        .await
        .map_err(|e| list_failed(host, "volumes", e))?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(volume_from_api)
        .collect())
}

pub(crate) async fn list_images(host: &DockerHost) -> Result<BTreeMap<String, String>> {
    let opts = ListImagesOptionsBuilder::new().build();
    let list = host
        .api("list_images", |d| d.list_images(Some(opts)))
        .await
        .map_err(|e| list_failed(host, "images", e))?;
    let mut map = BTreeMap::new();
    for img in list {
        // `<none>:<none>` / `<none>@<none>` are what old engines report for untagged images.
        for r in img.repo_tags.iter().chain(img.repo_digests.iter()) {
            if r.starts_with("<none>") {
                continue;
            }
            map.insert(r.clone(), img.id.clone());
            map.insert(normalize_reference(r), img.id.clone());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_read_from_the_status_text() {
        assert_eq!(
            health_from_status("Up 3 minutes (healthy)"),
            Some(Health::Healthy)
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            Some(Health::Starting)
        );
        assert_eq!(
            health_from_status("Up 2 hours (unhealthy)"),
            Some(Health::Unhealthy)
        );
        assert_eq!(health_from_status("Exited (0) 5 seconds ago"), None);
    }
}
