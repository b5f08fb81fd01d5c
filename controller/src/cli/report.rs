//! Human-readable pass summaries (`aegis apply`) and diffs (`aegisctl diff`).

use std::fmt::Write as _;

use crate::{
    apply::HostReport,
    plan::{Action, HostPlan},
};

/// One line per resource: `Stack/demo  created 2, unchanged 1`.
pub fn print_summary(reports: &[HostReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "host {} (Docker API {}):", r.host, r.api_version);
        let width = r
            .plan
            .resources
            .keys()
            .map(|k| k.to_string().len())
            .max()
            .unwrap_or(0);
        for (res, counts) in &r.plan.resources {
            let _ = writeln!(out, "  {:width$}  {}", res.to_string(), counts.summary());
        }
        for a in &r.adopted {
            let _ = writeln!(
                out,
                "  adopted container {} ({}): the unlabelled container was replaced by a labelled one",
                a.container, a.resource
            );
        }
        for w in &r.plan.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    out
}

/// Per resource and object, what `apply` would do, with the fields that change.
pub fn print_diff(plans: &[HostPlan]) -> String {
    let mut out = String::new();
    for p in plans {
        for step in &p.steps {
            let sign = match step.action.verb() {
                "create" => '+',
                "prune" => '-',
                _ => '~',
            };
            let _ = writeln!(
                out,
                "{sign} {}/{}  {} {}",
                p.host,
                step.resource,
                step.action.verb(),
                step.action.object()
            );
            let changes = match &step.action {
                Action::ReplaceContainer { changes, .. } | Action::RecreateNetwork { changes, .. } => {
                    changes.as_slice()
                }
                _ => &[],
            };
            for c in changes {
                let _ = writeln!(out, "    {c}");
            }
        }
        for w in &p.warnings {
            let _ = writeln!(out, "! {}: warning: {w}", p.host);
        }
        for e in p.error_messages() {
            let _ = writeln!(out, "! {}: error: {e}", p.host);
        }
    }
    out
}
