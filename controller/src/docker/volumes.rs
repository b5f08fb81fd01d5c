//! Volumes: create only. Volumes hold data, so removal is not automatic.

use std::collections::{BTreeMap, HashMap};

use bollard::models::VolumeCreateRequest;

use super::{
    client::DockerHost,
    error::{DockerError, Result},
};
use crate::desired::VolumeSpec;

/// Creates the volume with the spec's labels plus `labels` (ownership; they win). Returns its
/// name. Note that the engine answers 201 for a name that already exists (volume create is
/// idempotent), so callers check [`crate::observed::ObservedHost::volumes`] for ownership.
pub async fn create_volume(
    host: &DockerHost,
    spec: &VolumeSpec,
    labels: &BTreeMap<String, String>,
) -> Result<String> {
    let mut all: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let req = VolumeCreateRequest {
        name: Some(spec.name.clone()),
        driver: spec.driver.clone(),
        driver_opts: Some(spec.driver_opts.clone().into_iter().collect()),
        labels: Some(all),
        ..Default::default()
    };
    let v = host
        .api("create_volume", |d| d.create_volume(req))
        .await
        .map_err(|e| DockerError::create(host.host(), "volume", &spec.name, e))?;
    Ok(v.name)
}

/// Removes a volume (only ever called for volumes aegis owns, when asked to).
pub async fn remove_volume(host: &DockerHost, name: &str) -> Result<()> {
    host.api("remove_volume", |d| {
        d.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
    })
    .await
    .map_err(|e| DockerError::api(host.host(), "remove", "volume", name, e))
}
