//! Dependency graphs: cycle detection and topological order.
//!
//! Used for `dependsOn` between resources and `depends_on` / `network_mode: service:X` inside a
//! stack. A cycle is reported as the path that closes it (`a -> b -> a`), so the user can see
//! which edge to cut.

use std::collections::{BTreeMap, BTreeSet};

/// Finds one cycle in the graph `node -> dependencies`. Nodes only mentioned as dependencies
/// count as leaves. Deterministic: nodes are visited in order.
pub fn find_cycle<N: Ord + Clone>(edges: &BTreeMap<N, Vec<N>>) -> Option<Vec<N>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut marks: BTreeMap<N, Mark> = BTreeMap::new();
    for start in edges.keys() {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative DFS with an explicit path.
        let mut path: Vec<(N, usize)> = vec![(start.clone(), 0)];
        marks.insert(start.clone(), Mark::Active);
        while let Some((node, next)) = path.last().cloned() {
            let deps = edges.get(&node).map(Vec::as_slice).unwrap_or(&[]);
            if next < deps.len() {
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                let dep = deps[next].clone();
                match marks.get(&dep) {
                    Some(Mark::Active) => {
                        let pos = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<N> = path[pos..].iter().map(|(n, _)| n.clone()).collect();
                        cycle.push(dep);
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(dep.clone(), Mark::Active);
                        path.push((dep, 0));
                    }
                }
            } else {
                marks.insert(node, Mark::Done);
                path.pop();
            }
        }
    }
    None
}

/// Nodes in dependency order (dependencies first). `None` if there is a cycle.
pub fn topo_order<N: Ord + Clone>(edges: &BTreeMap<N, Vec<N>>) -> Option<Vec<N>> {
    if find_cycle(edges).is_some() {
        return None;
    }
    let mut done: BTreeSet<N> = BTreeSet::new();
    let mut out = Vec::new();
    fn visit<N: Ord + Clone>(n: &N, edges: &BTreeMap<N, Vec<N>>, done: &mut BTreeSet<N>, out: &mut Vec<N>) {
        if done.contains(n) {
            return;
        }
        done.insert(n.clone());
        for d in edges.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            visit(d, edges, done, out);
        }
        out.push(n.clone());
    }
    for n in edges.keys() {
        visit(n, edges, &mut done, &mut out);
    }
    Some(out)
}

/// Formats a cycle as `a -> b -> a`.
pub fn format_cycle<N: std::fmt::Display>(cycle: &[N]) -> String {
    cycle
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(pairs: &[(&'static str, &[&'static str])]) -> BTreeMap<&'static str, Vec<&'static str>> {
        pairs.iter().map(|(k, v)| (*k, v.to_vec())).collect()
    }

    #[test]
    fn finds_cycles() {
        assert_eq!(
            find_cycle(&g(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
            Some(vec!["a", "b", "c", "a"])
        );
        assert_eq!(find_cycle(&g(&[("a", &["a"])])), Some(vec!["a", "a"]));
        assert_eq!(
            find_cycle(&g(&[("a", &["b"]), ("b", &[]), ("c", &["a", "b"])])),
            None
        );
    }

    #[test]
    fn orders_dependencies_first() {
        let order =
            topo_order(&g(&[("app", &["db", "net"]), ("db", &["net"]), ("net", &[])])).expect("acyclic");
        assert_eq!(order, vec!["net", "db", "app"]);
        assert!(topo_order(&g(&[("a", &["b"]), ("b", &["a"])])).is_none());
    }
}
