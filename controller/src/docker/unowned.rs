//! Containers aegis does not own that hold names it wants: what `aegis apply --adopt`
//! replaces. Only that command lists them; a normal pass never looks at unlabelled objects.

use std::collections::BTreeSet;

use bollard::query_parameters::ListContainersOptionsBuilder;

use super::{
    client::DockerHost,
    error::{DockerError, Result},
    observe::container_from_summary,
};
use crate::{labels, observed::ObservedContainer};

/// The containers (any state) named one of `names` that carry no aegis owner label. One list
/// call, whatever the number of names.
pub async fn unowned_named(host: &DockerHost, names: &BTreeSet<String>) -> Result<Vec<ObservedContainer>> {
    let opts = ListContainersOptionsBuilder::new().all(true).build();
    let list = host
        .call()
        .list_containers(Some(opts))
        .await
        .map_err(|e| DockerError::api(host.host(), "list", "containers", "*", e))?;
    Ok(list
        .into_iter()
        .map(container_from_summary)
        .filter(|c| names.contains(&c.name) && !c.labels.contains_key(labels::MANAGED_BY))
        .collect())
}
