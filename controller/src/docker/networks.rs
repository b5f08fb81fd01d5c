//! Networks: create, remove, connect, disconnect.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};

use super::{
    client::DockerHost,
    container_config::endpoint_settings,
    error::{DockerError, Result},
    network_in_use,
};
use crate::desired::{NetworkAttachment, NetworkSpec};

/// Creates the network with the spec's labels plus `labels` (ownership; they win). Returns
/// its ID. A name that is taken gives [`DockerError::Conflict`] (the engine enforces unique
/// names for local networks).
pub async fn create_network(
    host: &DockerHost,
    spec: &NetworkSpec,
    labels: &BTreeMap<String, String>,
) -> Result<String> {
    let mut all: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let ipam = spec.ipam.as_ref().map(|i| {
        let pools: Vec<IpamConfig> = i
            .pools()
            .into_iter()
            .map(|p| IpamConfig {
                subnet: p.subnet,
                gateway: p.gateway,
                ip_range: p.ip_range,
                auxiliary_addresses: (!p.aux_addresses.is_empty())
                    .then(|| p.aux_addresses.into_iter().collect()),
            })
            .collect();
        Ipam {
            driver: i.driver.clone(),
            config: (!pools.is_empty()).then_some(pools),
            options: (!i.options.is_empty()).then(|| i.options.clone().into_iter().collect()),
        }
    });
    let req = NetworkCreateRequest {
        name: spec.name.clone(),
        driver: Some(spec.driver.clone()).filter(|d| !d.is_empty()),
        internal: Some(spec.internal),
        attachable: Some(spec.attachable),
        enable_ipv6: Some(spec.enable_ipv6),
        ipam,
        options: Some(spec.options.clone().into_iter().collect()),
        labels: Some(all),
        ..Default::default()
    };
    let resp = host
        .api("create_network", |d| d.create_network(req))
        .await
        .map_err(|e| DockerError::create(host.host(), "network", &spec.name, e))?;
    Ok(resp.id)
}

/// Removes a network by name or ID. Fails while containers are attached; the error then
/// says which ones, or that the engine's endpoint count is stale ([`network_in_use`]).
pub async fn remove_network(host: &DockerHost, name: &str) -> Result<()> {
    let Err(e) = host.api("remove_network", |d| d.remove_network(name)).await else {
        return Ok(());
    };
    let mut err = DockerError::api(host.host(), "remove", "network", name, e);
    if let DockerError::Api { message, .. } = &mut err {
        if network_in_use::is_in_use(message) {
            // Best effort: if the inspect fails too, the engine's own message stands.
            if let Ok(attached) = attached_names(host, name).await {
                message.push_str(" — ");
                message.push_str(&network_in_use::explain(host.host(), &attached));
            }
        }
    }
    Err(err)
}

/// The names of the containers attached to a network now.
async fn attached_names(host: &DockerHost, network: &str) -> Result<Vec<String>> {
    let info = host
        .api("inspect_network", |d| {
            d.inspect_network(network, None::<bollard::query_parameters::InspectNetworkOptions>)
        })
        .await
        .map_err(|e| DockerError::api(host.host(), "inspect", "network", network, e))?;
    let mut names: Vec<String> = info
        .containers
        .unwrap_or_default()
        .into_iter()
        .map(|(id, c)| c.name.unwrap_or(id))
        .collect();
    names.sort();
    Ok(names)
}

/// Connects `container` to the attachment's network with its aliases and static addresses.
/// On a created-but-not-started container this is how a second network is joined on API
/// < 1.44, and the settings apply exactly as if given at create.
pub async fn connect(host: &DockerHost, container: &str, attachment: &NetworkAttachment) -> Result<()> {
    let req = NetworkConnectRequest {
        container: container.to_string(),
        endpoint_config: Some(endpoint_settings(attachment)),
    };
    host.api("connect_network", |d| d.connect_network(&attachment.network, req))
        .await
        .map_err(|e| {
            DockerError::api(
                host.host(),
                "connect container to",
                "network",
                &attachment.network,
                e,
            )
        })
}

/// Disconnects `container` from `network` (`force`: even if the container is gone).
pub async fn disconnect(host: &DockerHost, container: &str, network: &str, force: bool) -> Result<()> {
    let req = NetworkDisconnectRequest {
        container: container.to_string(),
        force: Some(force),
    };
    host.api("disconnect_network", |d| d.disconnect_network(network, req))
        .await
        .map_err(|e| DockerError::api(host.host(), "disconnect container from", "network", network, e))
}

/// Recreates a network whose configuration drifted, the way compose does: disconnect every
/// attached container, remove the network, create it with the new configuration, and connect
/// `reconnect` again (the containers that are not being recreated anyway).
pub async fn recreate_network(
    host: &DockerHost,
    spec: &NetworkSpec,
    labels: &BTreeMap<String, String>,
    reconnect: &[NetworkAttachmentFor],
) -> Result<()> {
    let info = host
        .api("inspect_network", |d| {
            d.inspect_network(
                &spec.name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
        })
        .await
        .map_err(|e| DockerError::api(host.host(), "inspect", "network", &spec.name, e))?;
    for id in info.containers.unwrap_or_default().keys() {
        match disconnect(host, id, &spec.name, true).await {
            // Removed meanwhile (its own stack replaced it): nothing to disconnect.
            Err(DockerError::NotFound { .. }) => {}
            r => r?,
        }
    }
    remove_network(host, &spec.name).await?;
    create_network(host, spec, labels).await?;
    for r in reconnect {
        match connect(host, &r.container, &r.attachment).await {
            // Gone since the plan (its stack's key recreates it, attached), or attached
            // already by that key: either way, where it belongs.
            Err(DockerError::NotFound { .. }) => {}
            Err(DockerError::Api { message, .. }) if message.contains("already exists") => {}
            r => r?,
        }
    }
    Ok(())
}

/// A container to connect to a network, with its attachment settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAttachmentFor {
    pub container: String,
    pub attachment: NetworkAttachment,
}
