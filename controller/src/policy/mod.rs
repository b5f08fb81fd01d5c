//! Security policy, checked on the resolved desired state of a revision before anything
//! touches a host (M14).
//!
//! [`check`] runs on the state [`crate::resolve`] built (compose files loaded, variables
//! interpolated), so it sees the values Docker would get. It is pure: manifests and desired
//! state in, diagnostics out, no Docker. Its errors reject the revision whole, like any
//! invalid revision, in `aegis validate`, `aegisctl diff` and the controller alike, because
//! all three load revisions through [`crate::resolve::load_source_at`].
//!
//! - [`workload`]: a container as the rules see it (effective networks, socket mounts, ports);
//! - [`rules`]: one Policy's rules against one container → violations;
//! - [`warnings`]: risky settings no Policy governs → warnings;
//! - [`coverage`]: rules that match nothing (likely typos) → warnings;
//! - [`locate`]: a finding → `file:line: services.x.key` of the compose key that causes it.
//!
//! Every error names the rule (`Policy/name networks[pangolin-internal].deny` and its
//! file:line), the resource (`Stack/identity service lldap`), and the offending value.

mod coverage;
mod locate;
mod rules;
mod warnings;
mod workload;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_example;

pub use locate::{Origins, StackOrigin};

use crate::{
    desired::{DesiredState, Kind},
    diagnostic::{Diagnostic, Diagnostics},
    manifest::{kinds::PolicySpec, AnyManifest, Located, ManifestSet},
    yaml::FieldPath,
};

/// What the policies say about one revision.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Broken rules: the revision must be rejected.
    pub errors: Diagnostics,
    /// Risky settings nothing governs, and rules that guard nothing.
    pub warnings: Vec<Diagnostic>,
}

/// One Policy manifest and where it was written.
pub(crate) struct PolicyCtx<'a> {
    m: &'a Located<AnyManifest>,
    name: &'a str,
    spec: &'a PolicySpec,
}

impl PolicyCtx<'_> {
    fn covers(&self, host: &str) -> bool {
        self.spec.hosts.is_empty() || self.spec.hosts.iter().any(|h| h == host)
    }

    /// `policy rule Policy/p networks[x].deny (policy.yaml:12)`.
    fn cite(&self, path: &FieldPath, label: &str) -> String {
        let line = self.m.line_of(path).map(|l| format!(":{l}")).unwrap_or_default();
        format!(
            "policy rule Policy/{} {label} ({}{line})",
            self.name,
            self.m.file.display()
        )
    }
}

/// Checks every container of `state` against every Policy of `set` that covers its host, and
/// warns about risky settings no Policy governs. `origins` says where each stack's services
/// were written, so that findings point at the compose key.
pub fn check(set: &ManifestSet, state: &DesiredState, origins: &Origins) -> Outcome {
    let policies: Vec<PolicyCtx> = set
        .of_kind(Kind::Policy)
        .filter_map(|m| match &m.value {
            AnyManifest::Policy(p) => Some(PolicyCtx {
                m,
                name: &p.metadata.name,
                spec: &p.spec,
            }),
            _ => None,
        })
        .collect();
    let mut out = Outcome::default();
    for host in &state.hosts {
        let covering: Vec<&PolicyCtx> = policies.iter().filter(|p| p.covers(&host.host.name)).collect();
        for w in workload::Workload::all(host) {
            let at = |spot: &locate::Spot, message: String, hint: String| {
                let d = match origins.get(w.stack) {
                    Some(o) => o.diag(w.stack, &w.c.service, spot, message),
                    None => Diagnostic::new(&set.root, None, FieldPath::root(), message),
                };
                d.with_hint(hint)
            };
            for p in &covering {
                for v in rules::check(p, &w) {
                    out.errors.push(at(&v.spot, v.message, v.hint));
                }
            }
            for v in warnings::check(&covering, &w) {
                out.warnings.push(at(&v.spot, v.message, v.hint));
            }
        }
    }
    out.warnings.extend(coverage::check(&policies, state));
    out
}
