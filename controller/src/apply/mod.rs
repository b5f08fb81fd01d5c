//! One reconcile pass: connect → observe → ensure images → plan → execute.
//!
//! This is where side effects happen, driven by the pure [`crate::plan`]. Hosts are handled
//! concurrently and independently: one host failing never stops the others.

mod confirm_span;
pub mod confirmed;
pub mod critical_last;
pub mod critical_restart;
mod execute;
pub mod images;
mod labels;
pub mod reach;
pub mod recovery;
mod step;

use std::{collections::BTreeSet, time::Duration};

use futures::future::join_all;
use tracing::Instrument as _;

use crate::{
    desired::{DesiredHost, DesiredState},
    docker::{self, DockerError, DockerHost},
    plan::{self, HostPlan, PlanOptions},
};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Steps run at once per host.
    pub parallel: usize,
    /// How long a `service_healthy` / `service_completed_successfully` dependency may take.
    pub health_timeout: Duration,
    pub plan: PlanOptions,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallel: 8,
            health_timeout: Duration::from_secs(120),
            plan: PlanOptions::default(),
        }
    }
}

/// The outcome of a pass on one host.
#[derive(Debug, Clone)]
pub struct HostReport {
    pub host: String,
    pub api_version: String,
    pub revision: String,
    pub plan: HostPlan,
    /// Docker API calls made in the pass (observe + images + actions).
    pub api_calls: u64,
    /// Unlabelled containers replaced by labelled ones (`apply --adopt`).
    pub adopted: Vec<plan::adopt::Adopted>,
    /// The critical steps of this host, run after every host's other steps, one at a time,
    /// commit-confirmed.
    pub critical: Vec<critical_last::CriticalResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The host could not be reached or observed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The resource can't be applied until someone fixes something (a name conflict, a
    /// missing external network): retrying alone won't help.
    #[error("host `{host}`: {}", .problems.join("\n"))]
    Blocked { host: String, problems: Vec<String> },
    /// Some resources could not be planned or some steps failed; the others were applied.
    #[error("host `{host}`: {} problem(s):\n{}", .failures.len(), .failures.join("\n"))]
    Steps {
        host: String,
        failures: Vec<String>,
        report: Box<HostReport>,
    },
}

/// Applies every host of `state` concurrently; then the critical steps of the whole fleet,
/// one at a time, commit-confirmed ([`critical_last`]).
pub async fn apply_all(state: &DesiredState, opts: &ApplyOptions) -> Vec<Result<HostReport, ApplyError>> {
    let mut results = join_all(
        state
            .hosts
            .iter()
            .map(|h| apply_host(h, &state.revision, opts, false)),
    )
    .await;
    critical_last::run(state, opts, &mut results).await;
    results
}

/// [`apply_all`], adopting: a declared container whose name an unlabelled container holds
/// replaces it instead of failing on the name (see [`plan::adopt`]).
pub async fn adopt_all(state: &DesiredState, opts: &ApplyOptions) -> Vec<Result<HostReport, ApplyError>> {
    let mut results = join_all(
        state
            .hosts
            .iter()
            .map(|h| apply_host(h, &state.revision, opts, true)),
    )
    .await;
    critical_last::run(state, opts, &mut results).await;
    results
}

/// Plans every host without changing anything (`diff`, `apply --dry-run`).
pub async fn plan_all(state: &DesiredState, opts: &PlanOptions) -> Vec<Result<HostPlan, ApplyError>> {
    join_all(state.hosts.iter().map(|h| plan_only(h, opts))).await
}

/// One pass on one host.
pub async fn apply_host(
    desired: &DesiredHost,
    revision: &str,
    opts: &ApplyOptions,
    adopt: bool,
) -> Result<HostReport, ApplyError> {
    // Root: one trace per host and pass of a one-shot apply.
    let span = tracing::info_span!(
        parent: None,
        "apply",
        aegis.host = %desired.host.name,
        aegis.revision = revision,
        aegis.adopt = adopt
    );
    // `instrument`, not `span.enter()` across `.await` (that leaks the span into other tasks).
    let result = apply_host_in(desired, revision, opts, adopt)
        .instrument(span.clone())
        .await;
    if let Err(e) = &result {
        crate::telemetry::spans::record_error(&span, &e.to_string());
    }
    result
}

async fn apply_host_in(
    desired: &DesiredHost,
    revision: &str,
    opts: &ApplyOptions,
    adopt: bool,
) -> Result<HostReport, ApplyError> {
    let host = DockerHost::connect(&desired.host).await?;
    let mut observed = observe(&host).await?;
    let (pulls, builds) = images::needs(desired, |_| true);
    for need in pulls {
        // The agent image (DnsGuard's default) is copied or built, never pulled.
        let platform = need.platform.as_deref();
        let id =
            crate::agent::image::ensure_for_container(&host, &observed.images, &need.image, platform).await?;
        observed.images.insert(need.image, id);
    }
    images::ensure_builds(&host, &mut observed.images, &builds).await?;
    let mut plan = traced_plan(|| plan::plan_host(desired, &observed, &opts.plan));
    let adopted = if adopt {
        let names: BTreeSet<String> = desired
            .stacks
            .iter()
            .flat_map(|s| s.containers.iter().map(|c| c.name.clone()))
            .collect();
        let unowned = docker::unowned::unowned_named(&host, &names).await?;
        plan::adopt::adopt(&mut plan, desired, &unowned)
    } else {
        Vec::new()
    };
    let mut failures = plan.error_messages();
    // Critical steps are not run here: `apply_all` runs them last, commit-confirmed.
    failures.extend(
        execute(
            &host,
            desired,
            &plan.without_critical(),
            &who(desired, revision, opts),
            opts,
        )
        .await,
    );
    let mut report = HostReport::new(&host, desired, revision, plan);
    report.adopted = adopted;
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(ApplyError::Steps {
            host: desired.host.name.clone(),
            failures,
            report: Box::new(report),
        })
    }
}

async fn plan_only(desired: &DesiredHost, opts: &PlanOptions) -> Result<HostPlan, ApplyError> {
    let host = DockerHost::connect(&desired.host).await?;
    let mut observed = docker::observe(&host).await?;
    // No pulls in a dry run: an absent image gets a placeholder ID, which shows as a change.
    let (pulls, builds) = images::needs(desired, |_| true);
    for b in builds {
        // Not built yet: a placeholder ID, which shows as a change.
        let id = crate::desired::built_id(&observed.images, &b.image, &b.build)
            .unwrap_or_else(|| format!("(not built: {})", b.build.tag));
        observed.images.insert(b.image, id);
    }
    for need in pulls {
        if let std::collections::btree_map::Entry::Vacant(slot) = observed.images.entry(need.image) {
            let image = slot.key().clone();
            let id = docker::images::inspect_id(&host, &image).await?;
            slot.insert(id.unwrap_or_else(|| format!("(not pulled: {image})")));
        }
    }
    Ok(plan::plan_host(desired, &observed, opts))
}

impl HostReport {
    fn new(host: &DockerHost, desired: &DesiredHost, revision: &str, plan: HostPlan) -> Self {
        Self {
            host: desired.host.name.clone(),
            api_version: host.api_version(),
            revision: revision.to_string(),
            plan,
            api_calls: host.api_calls(),
            adopted: Vec::new(),
            critical: Vec::new(),
        }
    }
}

/// Who is applying: the labels context of a pass.
fn who(desired: &DesiredHost, revision: &str, opts: &ApplyOptions) -> labels::Ctx {
    labels::Ctx {
        host: desired.host.name.clone(),
        instance: opts.plan.instance.clone(),
        revision: revision.to_string(),
        critical: desired
            .stacks
            .iter()
            .filter(|s| s.critical)
            .map(|s| s.owner())
            .collect(),
    }
}

/// What a per-resource pass did (the control loop's unit of work).
#[derive(Debug, Clone)]
pub struct ResourceReport {
    /// The steps of this resource only.
    pub plan: HostPlan,
    /// The host as observed after the pass (re-observed only when something changed).
    pub observed: crate::observed::ObservedHost,
}

/// Plans one resource of a host from `observed`: the whole host is planned (so pruning and
/// conflicts are judged correctly), then only `resource`'s steps are kept. Returns the whole
/// plan too, for the steps of other resources this one waits for. A resource no longer in
/// `desired` gets only its prune steps. The kept plan's `errors` block the resource
/// ([`ApplyError::Blocked`]).
pub fn plan_resource(
    desired: &DesiredHost,
    observed: &crate::observed::ObservedHost,
    resource: &crate::desired::ResourceRef,
    opts: &PlanOptions,
) -> (HostPlan, HostPlan) {
    let mut full = HostPlan::default();
    // The span counts this resource's steps, as the pass runs them.
    let plan = traced_plan(|| {
        full = plan::plan_host(desired, observed, opts);
        full.only(resource)
    });
    (full, plan)
}

/// Runs one resource's `plan`; one message per failed or skipped step.
pub async fn execute_resource(
    host: &DockerHost,
    desired: &DesiredHost,
    plan: &HostPlan,
    revision: &str,
    opts: &ApplyOptions,
) -> Vec<String> {
    execute(host, desired, plan, &who(desired, revision, opts), opts).await
}

/// The error of a pass whose steps failed.
pub fn steps_failed(
    host: &DockerHost,
    desired: &DesiredHost,
    revision: &str,
    plan: HostPlan,
    failures: Vec<String>,
) -> ApplyError {
    ApplyError::Steps {
        host: desired.host.name.clone(),
        failures,
        report: Box::new(HostReport::new(host, desired, revision, plan)),
    }
}

/// [`docker::observe`] under an `observe` span.
async fn observe(host: &DockerHost) -> Result<crate::observed::ObservedHost, DockerError> {
    let span = tracing::info_span!("observe");
    let r = docker::observe(host).instrument(span.clone()).await;
    if let Err(e) = &r {
        crate::telemetry::spans::record_error(&span, &e.to_string());
    }
    r
}

/// Planning (pure) under a `plan` span that records how many steps it made.
fn traced_plan(plan: impl FnOnce() -> HostPlan) -> HostPlan {
    let span = tracing::info_span!("plan", aegis.steps = tracing::field::Empty);
    let plan = span.in_scope(plan);
    span.record("aegis.steps", plan.steps.len());
    if !plan.errors.is_empty() {
        crate::telemetry::spans::record_error(&span, &plan.error_messages().join("; "));
    }
    plan
}

/// [`execute::run`] under an `execute` span, failed when a step failed.
async fn execute(
    host: &DockerHost,
    desired: &DesiredHost,
    plan: &HostPlan,
    who: &labels::Ctx,
    opts: &ApplyOptions,
) -> Vec<String> {
    let span = tracing::info_span!("execute", aegis.steps = plan.steps.len());
    let failures = execute::run(host, desired, plan, who, opts)
        .instrument(span.clone())
        .await;
    if !failures.is_empty() {
        crate::telemetry::spans::record_error(&span, &failures.join("; "));
    }
    failures
}
