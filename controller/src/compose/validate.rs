//! Checks across services: references to other services, and dependency cycles.
//!
//! Ordering edges come from `depends_on` and from `network_mode: service:X` (which the
//! conversion has already added to `depends_on`). A cycle is reported once, as the path
//! `a -> b -> a`, at the first service in it.

use std::collections::{BTreeMap, BTreeSet};

use super::report::Report;
use crate::{
    desired::{ContainerSpec, NetworkMode},
    yaml::FieldPath,
};

/// `services` maps a service name to its path and spec.
pub fn check(report: &mut Report, services: &BTreeMap<String, (FieldPath, ContainerSpec)>) {
    for (name, (path, c)) in services {
        if let NetworkMode::Service(target) = &c.network_mode {
            if !services.contains_key(target) {
                report.error(
                    &path.key("network_mode"),
                    format!("service `{name}` shares the network of `{target}`, which is not a service of this file"),
                );
            }
        }
        for d in &c.depends_on {
            if d.required && !services.contains_key(&d.service) {
                let is_net = matches!(&c.network_mode, NetworkMode::Service(t) if *t == d.service);
                if !is_net {
                    report.error_hint(
                        &path.key("depends_on").key(d.service.clone()),
                        format!(
                            "service `{name}` depends on `{}`, which is not a service of this file",
                            d.service
                        ),
                        "fix the name, or mark the dependency `required: false`",
                    );
                }
            }
        }
    }
    for cycle in cycles(services) {
        let first = &cycle[0];
        let path = services[first].0.key("depends_on");
        report.error(&path, format!("dependency cycle: {}", cycle.join(" -> ")));
    }
}

/// Every elementary cycle found by a depth-first search, each reported once, closed
/// (`[a, b, a]`).
fn cycles(services: &BTreeMap<String, (FieldPath, ContainerSpec)>) -> Vec<Vec<String>> {
    let edges = |n: &str| -> Vec<String> {
        let mut out: Vec<String> = services[n]
            .1
            .depends_on
            .iter()
            .filter(|d| services.contains_key(&d.service))
            .map(|d| d.service.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    let mut seen_sets: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in services.keys() {
        if done.contains(start) {
            continue;
        }
        let mut stack: Vec<String> = Vec::new();
        visit(start, &edges, &mut stack, &mut done, &mut |cycle| {
            let set: BTreeSet<String> = cycle.iter().cloned().collect();
            if seen_sets.insert(set) {
                found.push(cycle);
            }
        });
    }
    found
}

fn visit(
    node: &str,
    edges: &dyn Fn(&str) -> Vec<String>,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    on_cycle: &mut dyn FnMut(Vec<String>),
) {
    if let Some(pos) = stack.iter().position(|s| s == node) {
        let mut cycle = stack[pos..].to_vec();
        cycle.push(node.to_string());
        on_cycle(cycle);
        return;
    }
    if done.contains(node) {
        return;
    }
    stack.push(node.to_string());
    for next in edges(node) {
        visit(&next, edges, stack, done, on_cycle);
    }
    stack.pop();
    done.insert(node.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{DependsCondition, DependsOn};

    fn svc(deps: &[&str]) -> (FieldPath, ContainerSpec) {
        let c = ContainerSpec {
            depends_on: deps
                .iter()
                .map(|d| DependsOn {
                    service: (*d).into(),
                    condition: DependsCondition::Started,
                    required: true,
                })
                .collect(),
            ..ContainerSpec::default()
        };
        (FieldPath::root(), c)
    }

    #[test]
    fn finds_cycles_once() {
        let s: BTreeMap<String, _> = [
            ("a".to_string(), svc(&["b"])),
            ("b".to_string(), svc(&["c"])),
            ("c".to_string(), svc(&["a"])),
            ("d".to_string(), svc(&["d"])),
            ("e".to_string(), svc(&["a"])),
        ]
        .into_iter()
        .collect();
        let c = cycles(&s);
        assert_eq!(c, vec![vec!["a", "b", "c", "a"], vec!["d", "d"]]);
    }

    #[test]
    fn no_cycle_in_a_diamond() {
        let s: BTreeMap<String, _> = [
            ("a".to_string(), svc(&["b", "c"])),
            ("b".to_string(), svc(&["d"])),
            ("c".to_string(), svc(&["d"])),
            ("d".to_string(), svc(&[])),
        ]
        .into_iter()
        .collect();
        assert!(cycles(&s).is_empty());
    }
}
