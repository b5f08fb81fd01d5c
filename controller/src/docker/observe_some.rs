//! The same list calls as [`super::observe`], filtered to a few objects: what a host's view
//! fetches when an event does not say enough (a container created or started, a network or a
//! volume created). One call per kind, whatever the number of objects.

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{ListNetworksOptionsBuilder, ListVolumesOptionsBuilder};

use super::{
    client::DockerHost,
    error::{DockerError, Result},
    observe::{network_from_api, owned_containers, volume_from_api},
};
use crate::observed::{ObservedContainer, ObservedNetwork, ObservedVolume};

fn failed(host: &DockerHost, kind: &'static str, e: bollard::errors::Error) -> DockerError {
    DockerError::api(host.host(), "list", kind, "(refresh)", e)
}

/// The host's aegis containers among `ids`, in any state. An ID not returned is gone.
pub async fn containers(host: &DockerHost, ids: &BTreeSet<String>) -> Result<Vec<ObservedContainer>> {
    let list = owned_containers(host, Some(ids))
        .await
        .map_err(|e| failed(host, "containers", e))?;
    Ok(list
        .into_iter()
        // The engine matches ID prefixes: keep exact matches only.
        .filter(|c| ids.contains(&c.id))
        .collect())
}

/// The networks among `ids`.
pub async fn networks(host: &DockerHost, ids: &BTreeSet<String>) -> Result<Vec<ObservedNetwork>> {
    let filters = HashMap::from([("id", ids.iter().cloned().collect::<Vec<_>>())]);
    let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let list = host
        .api("list_networks", |d| d.list_networks(Some(opts)))
        .await
        .map_err(|e| failed(host, "networks", e))?;
    Ok(list
        .into_iter()
        .map(network_from_api)
        .filter(|n| ids.contains(&n.id))
        .collect())
}

/// The volumes among `names`.
pub async fn volumes(host: &DockerHost, names: &BTreeSet<String>) -> Result<Vec<ObservedVolume>> {
    let filters = HashMap::from([("name", names.iter().cloned().collect::<Vec<_>>())]);
    let opts = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let list = host
        .api("list_volumes", |d| d.list_volumes(Some(opts)))
        .await
        .map_err(|e| failed(host, "volumes", e))?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(volume_from_api)
        .filter(|v| names.contains(&v.name))
        .collect())
}
