//! aegis's side of `docker compose create`: the containers aegis would create for a source,
//! created and never started.
//!
//! aegis has no create-only mode (`apply` starts what it creates, and waits on health gates),
//! and the corpus's containers cannot start: their images are busybox under another name, so
//! `postgres` or `/init` is not there to run. This runs aegis's own pipeline up to the engine
//! — `resolve::load_source` → `apply::plan_all` (the plan against the engine) — and then the
//! plan's create steps with the same functions `apply` uses (`networks::create_network`,
//! `volumes::create_volume`, `files::deliver`, `create_body`, `containers::create_container`),
//! leaving out only the start. Everything it creates carries `aegis.dev/instance=INSTANCE`,
//! so `support::remove_instance_objects` removes exactly that.
#![allow(dead_code)]

use std::{collections::BTreeMap, path::Path};

use aegis::{
    apply::plan_all,
    desired::{BindSource, ContainerSpec, MountKind, NetworkMode, RepoFile, ResourceRef},
    docker::{
        container_config::extra_networks, containers, create_body, files, networks, volumes, CreateContext,
        DockerHost,
    },
    labels,
    plan::{Action, PlanOptions},
};

/// What aegis made of one source: the container names it created, or why it could not.
pub struct Created {
    pub containers: Vec<String>,
    /// Stacks whose repository files were delivered to the host (their directory under
    /// `files::FILES_ROOT` is the caller's to remove).
    pub stacks: Vec<String>,
}

/// Loads `root` as `aegis validate` would; `Err` holds the diagnostics as aegis prints them.
pub fn validate(root: &Path) -> Result<(), String> {
    aegis::resolve::load_source(root)
        .map(drop)
        .map_err(|d| d.to_string())
}

/// Resolves `root`, plans it against the engine and runs the plan's create steps, without
/// starting anything. `Err`: the first error, as text.
pub async fn create(root: &Path, instance: &str) -> Result<Created, String> {
    let resolved = aegis::resolve::load_source(root).map_err(|d| d.to_string())?;
    let opts = PlanOptions {
        instance: instance.to_string(),
        ..Default::default()
    };
    let mut created = Created {
        containers: Vec::new(),
        stacks: Vec::new(),
    };
    // Builds first (compose `build:`), as `aegis apply` does: the dry-run plan finds them.
    for desired in &resolved.state.hosts {
        let (_, builds) = aegis::apply::images::needs(desired, |_| true);
        if builds.is_empty() {
            continue;
        }
        let host = DockerHost::connect(&desired.host)
            .await
            .map_err(|e| e.to_string())?;
        let mut images = BTreeMap::new();
        aegis::apply::images::ensure_builds(&host, &mut images, &builds)
            .await
            .map_err(|e| e.to_string())?;
    }
    let plans = plan_all(&resolved.state, &opts).await;
    for (desired, plan) in resolved.state.hosts.iter().zip(plans) {
        let plan = plan.map_err(|e| e.to_string())?;
        if !plan.errors.is_empty() {
            return Err(plan.error_messages().join("\n"));
        }
        let host = DockerHost::connect(&desired.host)
            .await
            .map_err(|e| e.to_string())?;
        let specs: BTreeMap<String, ContainerSpec> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::CreateContainer { spec, .. } => Some((spec.name.clone(), (**spec).clone())),
                _ => None,
            })
            .collect();
        // The plan is a DAG: run each step once everything it comes after has run.
        let mut done = vec![false; plan.steps.len()];
        while done.iter().any(|d| !d) {
            let ready: Vec<usize> = (0..plan.steps.len())
                .filter(|&i| {
                    !done[i]
                        && plan.steps[i]
                            .after
                            .iter()
                            .all(|(dep, _)| done.get(*dep).copied().unwrap_or(true))
                })
                .collect();
            if ready.is_empty() {
                return Err("the plan has a cycle".into());
            }
            for i in ready {
                let step = &plan.steps[i];
                let owner = owner(instance, &desired.host.name, &step.resource);
                match &step.action {
                    Action::CreateNetwork { spec, .. } => {
                        networks::create_network(&host, spec, &owner)
                            .await
                            .map_err(|e| format!("create network {}: {e}", spec.name))?;
                    }
                    Action::CreateVolume { spec } => {
                        volumes::create_volume(&host, spec, &owner)
                            .await
                            .map_err(|e| format!("create volume {}: {e}", spec.name))?;
                    }
                    Action::CreateContainer { spec, .. } => {
                        deliver(&host, &owner, spec).await?;
                        if !created.stacks.contains(&spec.stack) {
                            created.stacks.push(spec.stack.clone());
                        }
                        let ctx = context(owner.clone(), spec, &specs);
                        let body = create_body(spec, &ctx);
                        let extra = extra_networks(spec, &ctx);
                        containers::create_container_for_platform(
                            &host,
                            &spec.name,
                            spec.platform.as_deref(),
                            body,
                            &extra,
                            &spec.secret_files,
                        )
                        .await
                        .map_err(|e| format!("create container {}: {e}", spec.name))?;
                        created.containers.push(spec.name.clone());
                    }
                    other => {
                        return Err(format!(
                            "unexpected step on a fresh project: {} {}",
                            other.verb(),
                            other.object()
                        ))
                    }
                }
                done[i] = true;
            }
        }
    }
    Ok(created)
}

fn owner(instance: &str, host: &str, resource: &ResourceRef) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::INSTANCE.to_string(), instance.to_string()),
        (labels::RESOURCE.to_string(), resource.to_string()),
        (labels::HOST.to_string(), host.to_string()),
    ])
}

/// The create context `apply` builds (`apply/step.rs`): its labels, and the container that
/// `network_mode: service:X` names.
fn context(
    labels: BTreeMap<String, String>,
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
        labels,
        service_container,
        ..Default::default()
    }
}

/// The repository files the container bind-mounts, delivered as `apply` does.
async fn deliver(
    host: &DockerHost,
    owner: &BTreeMap<String, String>,
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
    files::deliver(host, &spec.stack, &spec.image, &repo, owner)
        .await
        .map_err(|e| format!("deliver repository files for {}: {e}", spec.name))
}
