//! One plan step → Docker calls.

use std::collections::BTreeMap;

use tracing::Instrument as _;

use super::labels;
use crate::{
    desired::{BindSource, ContainerSpec, MountKind, NetworkMode, RepoFile, ResourceRef},
    docker::{
        self, containers, files,
        hooks::{self, Phase},
        networks, volumes, CreateContext, DockerHost,
    },
    plan::{hash, Action},
};

/// Runs one action. The error names the host, the object and what failed.
pub(super) async fn run(
    host: &DockerHost,
    who: &labels::Ctx,
    resource: &ResourceRef,
    action: &Action,
    specs: &BTreeMap<String, ContainerSpec>,
) -> Result<(), String> {
    use crate::telemetry::spans;
    let span = tracing::info_span!(
        "step",
        otel.name = spans::step_name(action),
        resource = %resource,
        verb = action.verb(),
        object = action.object(),
        aegis.spec_hash = spans::spec_hash(action),
    );
    // `instrument`, not `span.enter()` across `.await` (that leaks the span into other tasks).
    let result = run_step(host, who, resource, action, specs)
        .instrument(span.clone())
        .await;
    if let Err(e) = &result {
        spans::record_error(&span, e);
    }
    result
}

async fn run_step(
    host: &DockerHost,
    who: &labels::Ctx,
    resource: &ResourceRef,
    action: &Action,
    specs: &BTreeMap<String, ContainerSpec>,
) -> Result<(), String> {
    let r = match action {
        Action::CreateNetwork { spec, hash } => {
            let json = serde_json::to_string(spec).unwrap_or_default();
            networks::create_network(host, spec, &labels::owner(who, resource, hash, &json))
                .await
                .map(drop)
        }
        Action::RecreateNetwork {
            spec,
            hash,
            reconnect,
            ..
        } => {
            let json = serde_json::to_string(spec).unwrap_or_default();
            let labels = labels::owner(who, resource, hash, &json);
            let reconnect: Vec<networks::NetworkAttachmentFor> = reconnect
                .iter()
                .map(|r| networks::NetworkAttachmentFor {
                    container: r.container.clone(),
                    attachment: r.attachment.clone(),
                })
                .collect();
            networks::recreate_network(host, spec, &labels, &reconnect).await
        }
        Action::CreateVolume { spec } => {
            let json = serde_json::to_string(spec).unwrap_or_default();
            let labels = labels::owner(who, resource, &hash::volume(spec), &json);
            volumes::create_volume(host, spec, &labels).await.map(drop)
        }
        Action::CreateContainer {
            spec,
            hash,
            spec_json,
        } => {
            let (body, extra) = prepare(host, who, resource, hash, spec_json, spec, specs).await?;
            containers::create_container_for_platform(
                host,
                &spec.name,
                spec.platform.as_deref(),
                body,
                &extra,
                &spec.secret_files,
            )
            .await
            .map_err(|e| step_error(action, &e))?;
            containers::start(host, &spec.name)
                .await
                .map_err(|e| step_error(action, &e))?;
            return hooks::run(host, spec, &spec.name, Phase::PostStart).await;
        }
        Action::ReplaceContainer {
            spec,
            hash,
            spec_json,
            old_id,
            ..
        } => {
            let (body, extra) = prepare(host, who, resource, hash, spec_json, spec, specs).await?;
            // Compose v2 runs no `pre_stop` when `up` recreates: only the new container's
            // `post_start`.
            let new_id = containers::replace_container(
                host,
                old_id,
                &spec.name,
                spec.platform.as_deref(),
                body,
                &extra,
                &spec.secret_files,
            )
            .await
            .map_err(|e| step_error(action, &e))?;
            return hooks::run(host, spec, &new_id, Phase::PostStart).await;
        }
        Action::StartContainer { id, name } => {
            containers::start(host, id)
                .await
                .map_err(|e| step_error(action, &e))?;
            // v2's `up` starts a stopped container through the same path as a new one.
            return match specs.get(name) {
                Some(spec) => hooks::run(host, spec, id, Phase::PostStart).await,
                None => Ok(()),
            };
        }
        Action::RemoveContainer {
            id,
            name,
            pre_stop_of,
        } => {
            if let Some(spec) = pre_stop_of.as_ref().and_then(|n| specs.get(n)) {
                // Scale-down: the service's `pre_stop` runs in the container that goes.
                let gone = ContainerSpec {
                    name: name.clone(),
                    ..spec.clone()
                };
                hooks::run(host, &gone, id, Phase::PreStop).await?;
            }
            containers::remove(host, id, true).await
        }
        Action::RemoveNetwork { name, .. } => networks::remove_network(host, name).await,
        Action::RemoveVolume { name } => volumes::remove_volume(host, name).await,
    };
    r.map_err(|e| step_error(action, &e))
}

fn step_error(action: &Action, e: &docker::DockerError) -> String {
    format!("{} {}: {e}", action.verb(), action.object())
}

/// Everything a container create needs: its repository files on the host, the create body and
/// the networks to connect after create.
pub(super) async fn prepare(
    host: &DockerHost,
    who: &labels::Ctx,
    resource: &ResourceRef,
    hash: &str,
    spec_json: &str,
    spec: &ContainerSpec,
    specs: &BTreeMap<String, ContainerSpec>,
) -> Result<
    (
        bollard::models::ContainerCreateBody,
        Vec<crate::desired::NetworkAttachment>,
    ),
    String,
> {
    let ctx = context(who, resource, hash, spec_json, spec, specs);
    deliver(host, who, resource, spec).await?;
    Ok((
        docker::create_body(spec, &ctx),
        docker::container_config::extra_networks(spec, &ctx),
    ))
}

fn context(
    who: &labels::Ctx,
    resource: &ResourceRef,
    hash: &str,
    spec_json: &str,
    spec: &ContainerSpec,
    specs: &BTreeMap<String, ContainerSpec>,
) -> CreateContext {
    let service_container = match &spec.network_mode {
        NetworkMode::Service(svc) => specs
            .values()
            .find(|c| c.stack == spec.stack && &c.service == svc)
            .map(|c| c.name.clone()),
        _ => None,
    };
    CreateContext {
        labels: labels::container(who, resource, hash, spec_json, &spec.stack, &spec.service),
        service_container,
        ..Default::default()
    }
}

/// Puts the repository files a container bind-mounts onto its host.
async fn deliver(
    host: &DockerHost,
    who: &labels::Ctx,
    resource: &ResourceRef,
    spec: &ContainerSpec,
) -> Result<(), String> {
    let repo: Vec<&RepoFile> = spec
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Bind {
                source: BindSource::Repo(f),
                ..
            } => Some(f),
            _ => None,
        })
        .collect();
    if repo.is_empty() {
        return Ok(());
    }
    let owner = BTreeMap::from([
        (crate::labels::INSTANCE.to_string(), who.instance.clone()),
        (crate::labels::RESOURCE.to_string(), resource.to_string()),
    ]);
    files::deliver(host, &spec.stack, &spec.image, &repo, &owner)
        .await
        .map_err(|e| format!("deliver repository files for {}: {e}", spec.name))
}
