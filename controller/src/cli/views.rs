//! What `aegisctl get` and `describe` print for statuses. Formatting only.

use std::fmt::Write as _;

use super::table::{short_age, Table};
use crate::status::{kind_plural, ConditionType, ResourceStatus, Timestamp};

/// How `get` lays out its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetLayout {
    /// `-o wide`: MESSAGE always, plus CONTAINERS and LAST-APPLIED.
    pub wide: bool,
    /// `get all`: names carry their kind, `stack/demo`.
    pub kind_prefix: bool,
    /// Show MESSAGE (always in wide; otherwise when some row has something to say).
    pub message: bool,
    /// `get dnsguards` / `get tunnelclients`: that kind's own columns after STATUS
    /// ([`super::agent_views`]).
    pub agent: Option<crate::desired::Kind>,
}

impl GetLayout {
    pub fn for_rows(rows: &[ResourceStatus], wide: bool, kind_prefix: bool) -> Self {
        Self {
            wide,
            kind_prefix,
            message: wide || rows.iter().any(|s| !s.message().is_empty()),
            agent: None,
        }
    }
}

/// `0d89988`-style: full git SHAs are cut to 7 characters, anything else is kept.
pub fn short_revision(rev: Option<&str>) -> String {
    match rev {
        None => "-".into(),
        Some(r) if r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()) => r[..7].into(),
        Some(r) => r.into(),
    }
}

fn age(t: &Timestamp) -> String {
    short_age(t.age())
}

/// The `get` table for `rows`.
pub fn get_table(rows: &[ResourceStatus], layout: GetLayout) -> Table {
    let mut header = vec!["NAME", "HOST", "READY", "STATUS"];
    if let Some(kind) = layout.agent {
        header.extend(super::agent_views::header(kind));
    }
    header.extend(["REVISION", "AGE"]);
    if layout.wide {
        header.extend(["CONTAINERS", "LAST-APPLIED"]);
    }
    if layout.message {
        header.push("MESSAGE");
    }
    let mut table = Table::new(header);
    for s in rows {
        table.push(get_row(s, layout, None));
    }
    table
}

/// One `get` row; `status_override` replaces STATUS (`Deleted` in a watch).
pub fn get_row(s: &ResourceStatus, layout: GetLayout, status_override: Option<&str>) -> Vec<String> {
    let name = if layout.kind_prefix {
        format!("{}/{}", s.kind.as_str().to_ascii_lowercase(), s.name)
    } else {
        s.name.clone()
    };
    let mut row = vec![
        name,
        s.host.clone(),
        s.ready().to_string(),
        status_override.unwrap_or(s.status_word()).to_owned(),
    ];
    if let Some(kind) = layout.agent {
        row.extend(super::agent_views::cells(kind, s));
    }
    row.extend([short_revision(s.observed_revision.as_deref()), age(&s.created)]);
    if layout.wide {
        let (running, total) = s.containers_running();
        row.push(if total == 0 {
            "-".into()
        } else {
            format!("{running}/{total}")
        });
        row.push(s.last_applied.as_ref().map_or("-".into(), age));
    }
    if layout.message {
        let message = match s.message() {
            // Wide shows why things are fine too, e.g. "2/2 containers ready".
            "" if layout.wide => s
                .condition(ConditionType::Ready)
                .map_or("", |c| c.message.as_str()),
            m => m,
        };
        row.push(message.to_owned());
    }
    row
}

/// What `get` says when nothing matched, like kubectl's "No resources found".
pub fn nothing_found(kind: Option<crate::desired::Kind>) -> String {
    match kind {
        Some(k) => format!("No {} found.", kind_plural(k)),
        None => "No resources found.".into(),
    }
}

fn indent(table: &Table) -> String {
    table.render().lines().map(|l| format!("  {l}\n")).collect()
}

/// `aegisctl describe`: summary, conditions, inventory and events.
pub fn describe(s: &ResourceStatus) -> String {
    let mut out = String::new();
    let labels = if s.labels.is_empty() {
        "<none>".to_owned()
    } else {
        s.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let last_applied = s
        .last_applied
        .as_ref()
        .map_or("<never>".to_owned(), |t| format!("{t} ({} ago)", age(t)));
    let fields = [
        ("Name", s.name.clone()),
        ("Kind", s.kind.to_string()),
        ("Host", s.host.clone()),
        ("Labels", labels),
        (
            "Revision",
            s.observed_revision.clone().unwrap_or_else(|| "<none>".into()),
        ),
        ("Suspended", s.suspended.to_string()),
        ("Last Applied", last_applied),
        (
            "Last Error",
            s.last_error.clone().unwrap_or_else(|| "<none>".into()),
        ),
        ("Created", format!("{} ({} ago)", s.created, age(&s.created))),
    ];
    for (k, v) in fields {
        let _ = writeln!(out, "{:<14}{v}", format!("{k}:"));
    }

    out.push_str("Conditions:\n");
    if s.conditions.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let mut t = Table::new(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]);
        for c in &s.conditions {
            t.push([
                c.type_.to_string(),
                c.status.to_string(),
                c.reason.clone(),
                age(&c.last_transition),
                c.message.clone(),
            ]);
        }
        out.push_str(&indent(&t));
    }

    out.push_str(&super::agent_views::describe_section(s));

    out.push_str("Inventory:\n");
    if s.inventory.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let mut t = Table::new(["KIND", "NAME", "STATE", "HEALTH"]);
        for i in &s.inventory {
            t.push([
                i.kind.to_string(),
                i.name.clone(),
                i.state.clone(),
                i.health.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        out.push_str(&indent(&t));
    }

    out.push_str("Events:\n");
    if s.events.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let mut t = Table::new(["AGE", "TYPE", "REASON", "MESSAGE"]);
        for e in &s.events {
            t.push([
                age(&e.time),
                e.type_.to_string(),
                e.reason.to_string(),
                e.message.clone(),
            ]);
        }
        out.push_str(&indent(&t));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{
        desired::Kind,
        status::{ConditionStatus, EventReason, EventType, InventoryItem, StatusKey},
    };

    fn ago(secs: u64) -> Timestamp {
        Timestamp(SystemTime::now() - Duration::from_secs(secs))
    }

    fn demo() -> ResourceStatus {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "local", "demo"));
        s.created = ago(4 * 86_400 + 10);
        s.observed_revision = Some("0d89988f3a1b2c3d4e5f60718293a4b5c6d7e8f9".into());
        s.set_condition(
            ConditionType::Ready,
            ConditionStatus::True,
            "ReconciliationSucceeded",
            "2/2 ready",
        );
        s.inventory = vec![
            InventoryItem::container("demo-api-1", "running", Some("healthy")),
            InventoryItem::container("demo-web-1", "running", None),
        ];
        s.last_applied = Some(ago(200));
        s
    }

    fn broken() -> ResourceStatus {
        let mut s = ResourceStatus::new(&StatusKey::new(Kind::Stack, "vps", "pangolin"));
        s.created = ago(45);
        s.set_condition(
            ConditionType::Ready,
            ConditionStatus::False,
            "ContainerUnhealthy",
            "container pangolin-newt-1 is unhealthy",
        );
        s
    }

    #[test]
    fn get_table_when_all_ready_has_no_message_column() {
        let rows = [demo()];
        let t = get_table(&rows, GetLayout::for_rows(&rows, false, false));
        assert_eq!(
            t.render(),
            "NAME   HOST    READY   STATUS                    REVISION   AGE\n\
             demo   local   True    ReconciliationSucceeded   0d89988    4d\n"
        );
    }

    #[test]
    fn get_table_adds_message_when_something_is_not_ready() {
        let rows = [demo(), broken()];
        let t = get_table(&rows, GetLayout::for_rows(&rows, false, false));
        assert_eq!(
            t.render(),
            "NAME       HOST    READY   STATUS                    REVISION   AGE   MESSAGE\n\
             demo       local   True    ReconciliationSucceeded   0d89988    4d\n\
             pangolin   vps     False   ContainerUnhealthy        -          45s   \
             container pangolin-newt-1 is unhealthy\n"
        );
    }

    #[test]
    fn wide_and_all_layouts() {
        let rows = [demo()];
        let t = get_table(&rows, GetLayout::for_rows(&rows, true, true));
        let out = t.render();
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap(),
            "NAME         HOST    READY   STATUS                    REVISION   AGE   CONTAINERS   LAST-APPLIED   MESSAGE"
        );
        assert_eq!(
            lines.next().unwrap(),
            "stack/demo   local   True    ReconciliationSucceeded   0d89988    4d    2/2          3m             2/2 ready"
        );
    }

    #[test]
    fn describe_shows_sections() {
        let mut s = broken();
        s.inventory = vec![InventoryItem::container(
            "pangolin-newt-1",
            "running",
            Some("unhealthy"),
        )];
        s.record_event(EventType::Warning, EventReason::Failed, "health check failed");
        let out = describe(&s);
        assert!(
            out.starts_with("Name:         pangolin\nKind:         Stack\nHost:         vps\n"),
            "{out}"
        );
        assert!(out.contains("Suspended:    false\n"), "{out}");
        assert!(
            out.contains(
                "Conditions:\n  TYPE    STATUS   REASON               AGE   MESSAGE\n  \
                 Ready   False    ContainerUnhealthy   0s    container pangolin-newt-1 is unhealthy\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "Inventory:\n  KIND        NAME              STATE     HEALTH\n  \
                 container   pangolin-newt-1   running   unhealthy\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("Events:\n  AGE   TYPE      REASON   MESSAGE\n  0s    Warning   Failed   health check failed\n"),
            "{out}"
        );
    }

    #[test]
    fn empty_sections_say_none() {
        let s = ResourceStatus::new(&StatusKey::new(Kind::Network, "local", "web"));
        let out = describe(&s);
        assert!(
            out.contains("Conditions:\n  <none>\nInventory:\n  <none>\nEvents:\n  <none>\n"),
            "{out}"
        );
        assert!(out.contains("Revision:     <none>\n"), "{out}");
    }
}
