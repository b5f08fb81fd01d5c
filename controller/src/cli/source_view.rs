//! What `aegisctl get source` and `describe source` print, and the warning other `get`s print
//! when the source is not ready (a rejected revision, a failing fetch), the way kubectl
//! prints warnings.

use std::fmt::Write as _;

use super::table::{short_age, Table};
use crate::status::SourceStatus;

/// `URL  READY  STATUS  REVISION  AGE  [MESSAGE]`; AGE is the accepted revision's. A ready
/// source whose revision has warnings says how many in MESSAGE.
pub fn source_table(s: &SourceStatus, wide: bool) -> Table {
    let mut message = s.message();
    if message.is_empty() && !s.warnings.is_empty() {
        message = format!(
            "{} warning(s) in the running revision; see `aegisctl describe source`",
            s.warnings.len()
        );
    }
    let show_message = wide || !message.is_empty();
    let mut header = vec!["URL", "READY", "STATUS", "REVISION", "AGE"];
    if show_message {
        header.push("MESSAGE");
    }
    let mut t = Table::new(header);
    let ready = if s.ready() { "True" } else { "False" };
    let age = s.accepted_at.map_or("-".into(), |t| short_age(t.age()));
    let mut row = vec![
        s.url.clone(),
        ready.into(),
        s.reason().into(),
        // 12 characters, as resources' REVISION shows it (commit ids and directory digests).
        s.revision
            .as_deref()
            .map_or("-".into(), |r| r.chars().take(12).collect()),
        age,
    ];
    if show_message {
        row.push(message);
    }
    t.push(row);
    t
}

/// `aegisctl describe source`: every field, every error of a rejected revision, and every
/// warning of the running one.
pub fn describe_source(s: &SourceStatus) -> String {
    let mut out = String::new();
    let when = |t: Option<crate::status::Timestamp>| {
        t.map_or("<never>".to_owned(), |t| {
            format!("{t} ({} ago)", short_age(t.age()))
        })
    };
    let fields = [
        ("URL", s.url.clone()),
        ("Ready", if s.ready() { "True" } else { "False" }.to_owned()),
        ("Status", s.reason().to_owned()),
        ("Revision", s.revision.clone().unwrap_or_else(|| "<none>".into())),
        ("Accepted", when(s.accepted_at)),
        ("Last Fetch", when(s.last_fetch)),
        (
            "Fetch Error",
            s.fetch_error.clone().unwrap_or_else(|| "<none>".into()),
        ),
        (
            "State Error",
            s.state_error.clone().unwrap_or_else(|| "<none>".into()),
        ),
    ];
    for (k, v) in fields {
        let _ = writeln!(out, "{:<13}{v}", format!("{k}:"));
    }
    match &s.rejected {
        None => out.push_str("Rejected:    <none>\n"),
        Some(r) => {
            let _ = writeln!(out, "Rejected:    revision {}", r.revision);
            for e in &r.errors {
                let _ = writeln!(out, "  error: {e}");
            }
        }
    }
    if s.warnings.is_empty() {
        out.push_str("Warnings:    <none>\n");
    } else {
        out.push_str("Warnings:\n");
        for w in &s.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    out
}

/// `warning: source …: …` when the source is not ready; `None` when it is, or before the
/// first fetch (nothing to warn about yet).
pub fn source_warning(s: &SourceStatus) -> Option<String> {
    if s.ready() || (s.rejected.is_none() && s.fetch_error.is_none()) {
        return None;
    }
    Some(format!("warning: source {}: {}", s.url, s.message()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Timestamp;

    #[test]
    fn a_rejected_first_revision_shows_in_the_table_and_as_a_warning() {
        let mut s = SourceStatus::new("file:///r.git");
        s.fetched(Timestamp::now());
        s.rejected(
            "0123456789abcdef0123456789abcdef01234567".into(),
            vec!["a.yaml:3: spec: bad".into()],
        );
        let out = source_table(&s, false).render();
        assert!(out.starts_with("URL"), "{out}");
        assert!(out.contains("False") && out.contains("RevisionRejected"), "{out}");
        assert!(
            out.contains("revision 0123456789ab rejected: a.yaml:3: spec: bad"),
            "{out}"
        );
        assert_eq!(
            source_warning(&s).as_deref(),
            Some(
                "warning: source file:///r.git: revision 0123456789ab rejected: a.yaml:3: spec: bad; \
                 no revision was accepted yet"
            )
        );
        s.accepted(
            "0123456789abcdef0123456789abcdef01234567".into(),
            Timestamp::now(),
        );
        assert_eq!(source_warning(&s), None);
        let out = source_table(&s, false).render();
        assert!(!out.contains("MESSAGE") && out.contains("0123456789ab "), "{out}");
    }

    #[test]
    fn warnings_of_the_running_revision_are_counted_and_described() {
        let mut s = SourceStatus::new("dir");
        s.accepted("abc".into(), Timestamp::now());
        s.warned(vec![
            "p.yaml:3: services.x.privileged: Stack/a service x runs privileged".into(),
        ]);
        assert!(s.ready(), "warnings don't make the source unready");
        assert_eq!(source_warning(&s), None);
        let out = source_table(&s, false).render();
        assert!(out.contains("1 warning(s) in the running revision"), "{out}");
        let out = describe_source(&s);
        assert!(
            out.contains(
                "Warnings:\n  warning: p.yaml:3: services.x.privileged: Stack/a service x runs privileged"
            ),
            "{out}"
        );
        assert!(out.contains("Rejected:    <none>"), "{out}");
    }
}
