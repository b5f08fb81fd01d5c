//! One pass of a Network or Stack key, planned from its host's view.
//!
//! view → images (background pulls) → plan the whole host, keep this resource's steps →
//! wait for other keys' network steps this one needs → execute → wait until the view shows
//! the writes. List calls only where the view cannot answer: no view yet (the watcher is
//! still connecting), or the writes did not show up in time (events missed).

use std::{sync::Arc, time::Duration};

use tracing::Instrument as _;

use super::{
    gates,
    pulls::{Pull, Pulls},
    view::{settled, HostView},
};
use crate::{
    apply::{self, ApplyError, ApplyOptions, ResourceReport},
    desired::{DesiredHost, ResourceRef},
    docker::{self, DockerError, DockerHost},
    observed::ObservedHost,
    plan::{Action, HostPlan},
    status::StatusKey,
};

/// How long a reconcile waits for the host's view to be listed before it lists itself.
const VIEW_WAIT: Duration = Duration::from_secs(10);
/// How long a reconcile waits for the view to show its own writes before it relists.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// What a pass came to.
#[derive(Debug)]
pub enum Outcome {
    /// Planned and (if anything was to do) applied; with what is still waiting, if some
    /// steps wait for a container's health or completion (run by a later pass).
    Done(Box<ResourceReport>, Option<String>),
    /// Cannot go on yet, and that is no failure: an image is being pulled, or another key's
    /// step this one needs (a network being recreated) has not run. Look again soon.
    Waiting(String),
}

pub struct Pass<'a> {
    pub host: &'a DockerHost,
    pub view: &'a HostView,
    pub pulls: &'a Pulls,
    pub key: &'a StatusKey,
    pub desired: &'a DesiredHost,
    pub resource: &'a ResourceRef,
    pub revision: &'a str,
    pub opts: &'a ApplyOptions,
}

impl Pass<'_> {
    pub async fn run(&self) -> Result<Outcome, ApplyError> {
        let mut observed = self.observed().await?;
        if let Some(waiting) = self.images(&mut observed).await? {
            return Ok(Outcome::Waiting(waiting));
        }
        let (full, plan) = apply::plan_resource(self.desired, &observed, self.resource, &self.opts.plan);
        if !plan.errors.is_empty() {
            return Err(ApplyError::Blocked {
                host: self.desired.host.name.clone(),
                problems: plan.error_messages(),
            });
        }
        if let Some(waiting) = waits_for_others(&full, self.resource) {
            return Ok(Outcome::Waiting(waiting));
        }
        let containers = self.desired.stacks.iter().flat_map(|s| &s.containers);
        let (plan, deferred) = gates::defer_waits(&plan, containers, &observed);
        // Critical steps are left to the caller: the control loop runs them last, one at a
        // time across the fleet, commit-confirmed (`control::critical`). The report has them.
        let normal = plan.without_critical();
        if normal.is_noop() {
            if let Some(waiting) = deferred.clone().filter(|_| plan.is_noop()) {
                return Ok(Outcome::Waiting(waiting));
            }
            let observed = (*observed).clone();
            return Ok(Outcome::Done(
                Box::new(ResourceReport { plan, observed }),
                deferred,
            ));
        }
        self.view.expect(self.key, settled::expected(&normal));
        let result = self.execute(&normal).await;
        self.view.unexpect(self.key);
        result.map(|mut report| {
            report.plan = plan;
            Outcome::Done(Box::new(report), deferred)
        })
    }

    async fn execute(&self, plan: &HostPlan) -> Result<ResourceReport, ApplyError> {
        let failures = apply::execute_resource(self.host, self.desired, plan, self.revision, self.opts).await;
        if !failures.is_empty() {
            return Err(apply::steps_failed(
                self.host,
                self.desired,
                self.revision,
                plan.clone(),
                failures,
            ));
        }
        let seen = self
            .view
            .wait_for(SETTLE_WAIT, |o| settled::reflects(o, plan))
            .await;
        let observed = match seen {
            Some(o) => (*o).clone(),
            None => {
                // The view missed something (or the stream is down): list, and correct the
                // view with it when it is up.
                tracing::debug!(key = %self.key, "the host's view did not show this pass's writes in time: relisting");
                let o = docker::observe(self.host).await?;
                if self.view.current().is_some() {
                    self.view.set(o.clone());
                }
                o
            }
        };
        Ok(ResourceReport {
            plan: plan.clone(),
            observed,
        })
    }

    /// The host's view, or a listing of its own when the view is not there in time, under an
    /// `observe` span that says which (`aegis.source`: `view` or `list`).
    async fn observed(&self) -> Result<Arc<ObservedHost>, DockerError> {
        let span = tracing::info_span!("observe", aegis.source = tracing::field::Empty);
        async {
            if let Some(o) = self.view.wait_for(VIEW_WAIT, |_| true).await {
                tracing::Span::current().record("aegis.source", "view");
                return Ok(o);
            }
            tracing::Span::current().record("aegis.source", "list");
            let r = docker::observe(self.host).await;
            if let Err(e) = &r {
                crate::telemetry::spans::record_error(&tracing::Span::current(), &e.to_string());
            }
            Ok(Arc::new(r?))
        }
        .instrument(span)
        .await
    }

    /// Makes sure this resource's images are on the host: the ones missing are pulled in the
    /// background, and the pass waits for them (`Some(what)`) instead of holding its slot.
    /// (`async` only to keep its large error out of a plain `Result`: it does not wait.)
    async fn images(&self, observed: &mut Arc<ObservedHost>) -> Result<Option<String>, ApplyError> {
        let mut pulling = Vec::new();
        let (pulls, builds) = apply::images::of_resource(self.desired, self.resource);
        for need in builds {
            if crate::desired::built_id(&observed.images, &need.image, &need.build).is_some() {
                continue;
            }
            match self.pulls.ask_build(self.host, &need) {
                Pull::Done(id) => {
                    self.view.add_image(&need.build.tag, &id);
                    self.view.add_image(&need.image, &id);
                    let images = &mut Arc::make_mut(observed).images;
                    images.insert(need.build.tag.clone(), id.clone());
                    images.insert(need.image, id);
                }
                Pull::Running => pulling.push(format!("building {}", need.image)),
                Pull::Failed(reason) => {
                    return Err(ApplyError::Docker(DockerError::ImageBuild {
                        host: self.host.host().to_string(),
                        stack: need.stack,
                        service: need.service,
                        reason,
                    }))
                }
            }
        }
        for need in pulls {
            let image = need.image;
            let present = observed.images.contains_key(&image)
                || observed
                    .images
                    .contains_key(&docker::images::normalize_reference(&image));
            if present {
                continue;
            }
            match self.pulls.ask(self.host, &image, need.platform.as_deref()) {
                Pull::Done(id) => {
                    self.view.add_image(&image, &id);
                    Arc::make_mut(observed).images.insert(image, id);
                }
                Pull::Running => pulling.push(format!("pulling image {image}")),
                Pull::Failed(reason) => {
                    return Err(ApplyError::Docker(DockerError::ImagePull {
                        host: self.host.host().to_string(),
                        image,
                        reason,
                    }))
                }
            }
        }
        Ok((!pulling.is_empty()).then(|| pulling.join(", ")))
    }
}

/// Whether a step of `resource` in the whole-host plan `full` comes after another resource's
/// network or volume step (a network this stack uses, being created or recreated by its own
/// key). Applying now would race that step and fail; the other key runs it, then this one.
fn waits_for_others(full: &HostPlan, resource: &ResourceRef) -> Option<String> {
    full.steps
        .iter()
        .filter(|s| &s.resource == resource)
        .flat_map(|s| s.after.iter())
        .filter_map(|(dep, _)| full.steps.get(*dep))
        .find(|d| {
            &d.resource != resource
                && matches!(
                    d.action,
                    Action::CreateNetwork { .. }
                        | Action::RecreateNetwork { .. }
                        | Action::CreateVolume { .. }
                )
        })
        .map(|d| {
            format!(
                "waiting for {} to {} {}",
                d.resource,
                d.action.verb(),
                d.action.object()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        desired::{Kind, NetworkSpec},
        plan::Step,
    };

    #[test]
    fn a_stack_waits_for_the_network_its_containers_come_after() {
        let net = ResourceRef::new(Kind::Network, "front");
        let stack = ResourceRef::new(Kind::Stack, "web");
        let other = ResourceRef::new(Kind::Stack, "db");
        let step = |id, resource: &ResourceRef, action, after| Step {
            id,
            resource: resource.clone(),
            action,
            after,
            critical: false,
        };
        let recreate = Action::RecreateNetwork {
            spec: NetworkSpec {
                name: "front".into(),
                owner: net.clone(),
                external: false,
                driver: "bridge".into(),
                internal: false,
                attachable: false,
                enable_ipv6: false,
                ipam: None,
                labels: Default::default(),
                options: Default::default(),
            },
            hash: "h".into(),
            old_id: "n1".into(),
            reconnect: Vec::new(),
            changes: Vec::new(),
        };
        let start = |name: &str| Action::StartContainer {
            name: name.into(),
            id: name.into(),
        };
        let full = HostPlan {
            steps: vec![
                step(0, &net, recreate, vec![]),
                step(1, &stack, start("web"), vec![(0, crate::plan::Gate::Done)]),
                step(2, &other, start("db"), vec![]),
            ],
            ..Default::default()
        };
        let w = waits_for_others(&full, &stack).expect("the stack waits");
        assert!(w.contains("Network/front") && w.contains("front"), "{w}");
        assert_eq!(waits_for_others(&full, &other), None);
        assert_eq!(
            waits_for_others(&full, &net),
            None,
            "a key never waits for itself"
        );
    }
}
