//! Ready for a Stack, derived from what its containers are doing.
//!
//! A container that is up but failing its healthcheck is *not* ready. Komodo shows such a
//! container as "Running" (its issue #939); aegis names it.

use super::{
    conditions::{reason, ConditionStatus},
    model::{InventoryItem, InventoryKind},
};

/// The `Ready` condition a Stack's inventory implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

/// Why one container is not ready, worst first (the order decides the reason when
/// several containers are unwell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    NotRunning,
    Restarting,
    Unhealthy,
    Starting,
}

impl Problem {
    fn reason(self) -> &'static str {
        match self {
            Problem::NotRunning => reason::CONTAINER_NOT_RUNNING,
            Problem::Restarting => reason::CONTAINER_RESTARTING,
            Problem::Unhealthy => reason::CONTAINER_UNHEALTHY,
            Problem::Starting => reason::CONTAINER_STARTING,
        }
    }
}

fn problem(item: &InventoryItem) -> Option<(Problem, String)> {
    let name = &item.name;
    if item.state.starts_with("restarting") {
        return Some((Problem::Restarting, format!("container {name} is restarting")));
    }
    // A one-shot job that exited 0 is done, not down.
    if item.state == "completed" {
        return None;
    }
    if item.state != "running" {
        return Some((
            Problem::NotRunning,
            format!("container {name} is not running ({})", item.state),
        ));
    }
    match item.health.as_deref() {
        None | Some("healthy") => None,
        Some("unhealthy") => Some((Problem::Unhealthy, format!("container {name} is unhealthy"))),
        Some("starting") => Some((
            Problem::Starting,
            format!("container {name} is waiting for its first healthy check"),
        )),
        Some(other) => Some((
            Problem::Unhealthy,
            format!("container {name} has health `{other}`"),
        )),
    }
}

/// Ready=True only if every container is running and, where it has a healthcheck,
/// healthy. Otherwise Ready=False with the worst problem's reason and a message naming
/// every container that is not ready. Networks and volumes do not count.
pub fn stack_readiness(inventory: &[InventoryItem]) -> Readiness {
    let containers: Vec<_> = inventory
        .iter()
        .filter(|i| i.kind == InventoryKind::Container)
        .collect();
    let mut problems: Vec<(Problem, String)> = containers.iter().filter_map(|c| problem(c)).collect();
    if problems.is_empty() {
        let n = containers.len();
        return Readiness {
            status: ConditionStatus::True,
            reason: reason::RECONCILIATION_SUCCEEDED,
            message: format!("{n}/{n} containers ready"),
        };
    }
    problems.sort_by_key(|(p, _)| *p);
    Readiness {
        status: ConditionStatus::False,
        reason: problems[0].0.reason(),
        message: problems
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, state: &str, health: Option<&str>) -> InventoryItem {
        InventoryItem::container(name, state, health)
    }

    #[test]
    fn all_running_and_healthy_is_ready() {
        let r = stack_readiness(&[
            c("demo-api-1", "running", Some("healthy")),
            c("demo-web-1", "running", None),
            InventoryItem {
                kind: InventoryKind::Network,
                name: "web".into(),
                state: "present".into(),
                health: None,
            },
        ]);
        assert_eq!(r.status, ConditionStatus::True);
        assert_eq!(r.reason, "ReconciliationSucceeded");
        assert_eq!(r.message, "2/2 containers ready");
    }

    #[test]
    fn a_finished_job_counts_as_ready() {
        let r = stack_readiness(&[
            c("demo-migrate-1", "completed", None),
            c("demo-web-1", "running", None),
        ]);
        assert_eq!(r.status, ConditionStatus::True);
        let r = stack_readiness(&[c("demo-migrate-1", "exited (1)", None)]);
        assert_eq!(r.status, ConditionStatus::False);
    }

    #[test]
    fn running_but_unhealthy_is_not_ready() {
        let r = stack_readiness(&[
            c("demo-api-1", "running", Some("unhealthy")),
            c("demo-web-1", "running", None),
        ]);
        assert_eq!(r.status, ConditionStatus::False);
        assert_eq!(r.reason, "ContainerUnhealthy");
        assert_eq!(r.message, "container demo-api-1 is unhealthy");
    }

    #[test]
    fn exited_container_is_named_with_its_state() {
        let r = stack_readiness(&[c("demo-db-1", "exited (1)", None)]);
        assert_eq!(r.reason, "ContainerNotRunning");
        assert_eq!(r.message, "container demo-db-1 is not running (exited (1))");
    }

    #[test]
    fn restarting_container() {
        let r = stack_readiness(&[c("demo-worker-1", "restarting", None)]);
        assert_eq!(r.status, ConditionStatus::False);
        assert_eq!(r.reason, "ContainerRestarting");
        assert_eq!(r.message, "container demo-worker-1 is restarting");
    }

    #[test]
    fn worst_problem_gives_the_reason_and_all_are_named() {
        let r = stack_readiness(&[
            c("a", "running", Some("unhealthy")),
            c("b", "exited (137)", None),
            c("c", "running", Some("starting")),
        ]);
        assert_eq!(r.reason, "ContainerNotRunning");
        assert_eq!(
            r.message,
            "container b is not running (exited (137)); container a is unhealthy; \
             container c is waiting for its first healthy check"
        );
    }

    #[test]
    fn healthcheck_still_starting_is_not_ready() {
        let r = stack_readiness(&[c("a", "running", Some("starting"))]);
        assert_eq!(r.status, ConditionStatus::False);
        assert_eq!(r.reason, "ContainerStarting");
    }
}
