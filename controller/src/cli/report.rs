//! Human-readable pass summaries (`aegis apply`) and diffs (`aegisctl diff`).

use std::{collections::BTreeMap, fmt::Write as _};

use crate::{
    apply::HostReport,
    plan::{critical, Action, HostPlan},
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
        for h in &r.plan.held {
            let _ = writeln!(out, "  held: {}: {h}", h.resource);
        }
        for c in &r.critical {
            let _ = writeln!(out, "  critical: {c}");
        }
    }
    out
}

/// Per resource and object, what `apply` would do, with the fields that change.
pub fn print_diff(plans: &[HostPlan]) -> String {
    print_diff_ordered(plans, &BTreeMap::new())
}

/// [`print_diff`] in the order `apply` runs the steps: every host's normal steps, then the
/// critical steps of the whole fleet, one at a time (`depth` from
/// [`crate::desired::Management::reach_depth`]), each marked; then what is held back.
pub fn print_diff_ordered(plans: &[HostPlan], depth: &BTreeMap<String, usize>) -> String {
    let mut out = String::new();
    for p in plans {
        for step in p.steps.iter().filter(|s| !s.critical) {
            write_step(&mut out, &p.host, step, "");
        }
        for w in &p.warnings {
            let _ = writeln!(out, "! {}: warning: {w}", p.host);
        }
        for e in p.error_messages() {
            let _ = writeln!(out, "! {}: error: {e}", p.host);
        }
    }
    for (i, (p, step)) in critical::fleet_sequence(plans, depth).into_iter().enumerate() {
        let mark = format!(
            "  [critical {}: after all other changes, alone, commit-confirmed with a rollback watchdog on {}]",
            i + 1,
            p.host
        );
        write_step(&mut out, &p.host, step, &mark);
    }
    for p in plans {
        for h in &p.held {
            let _ = writeln!(out, "! {}/{}  {h}", p.host, h.resource);
        }
    }
    out
}

fn write_step(out: &mut String, host: &str, step: &crate::plan::Step, mark: &str) {
    let sign = match step.action.verb() {
        "create" => '+',
        "prune" => '-',
        _ => '~',
    };
    let _ = writeln!(
        out,
        "{sign} {host}/{}  {} {}{mark}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        desired::{Kind, ResourceRef},
        plan::{
            critical::{Held, HoldReason},
            Step,
        },
    };

    fn step(id: usize, stack: &str, name: &str, critical: bool) -> Step {
        Step {
            id,
            resource: ResourceRef::new(Kind::Stack, stack),
            action: Action::RemoveContainer {
                name: name.into(),
                id: format!("id-{name}"),
                pre_stop_of: None,
            },
            after: vec![],
            critical,
        }
    }

    #[test]
    fn diff_puts_critical_steps_last_marked_and_deepest_host_first() {
        let a = HostPlan {
            host: "a".into(),
            steps: vec![step(0, "relay", "relay-1", true), step(1, "app", "app-1", false)],
            ..Default::default()
        };
        let b = HostPlan {
            host: "b".into(),
            steps: vec![step(0, "fwd", "fwd-1", true), step(1, "web", "web-1", false)],
            held: vec![Held {
                resource: ResourceRef::new(Kind::Network, "n"),
                verb: "recreate",
                object: "n".into(),
                reason: HoldReason::CriticalAttached {
                    containers: vec!["fwd-1".into()],
                },
            }],
            ..Default::default()
        };
        let depth = BTreeMap::from([("a".to_string(), 0), ("b".to_string(), 1)]);
        let text = print_diff_ordered(&[a, b], &depth);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "- a/Stack/app  prune app-1");
        assert_eq!(lines[1], "- b/Stack/web  prune web-1");
        assert!(lines[2].starts_with("- b/Stack/fwd  prune fwd-1  [critical 1: after all other changes, alone, commit-confirmed with a rollback watchdog on b]"), "{text}");
        assert!(
            lines[3].starts_with("- a/Stack/relay  prune relay-1  [critical 2:"),
            "{text}"
        );
        assert!(
            lines[4].starts_with(
                "! b/Network/n  recreate n held back: it would disconnect critical container(s) fwd-1"
            ),
            "{text}"
        );
    }
}
