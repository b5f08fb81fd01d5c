//! What `aegisctl get source` prints, and the warning other `get`s print when the source is
//! not ready (a rejected revision, a failing fetch), the way kubectl prints warnings.

use super::table::{short_age, Table};
use crate::status::SourceStatus;

/// `URL  READY  STATUS  REVISION  AGE  [MESSAGE]`; AGE is the accepted revision's.
pub fn source_table(s: &SourceStatus, wide: bool) -> Table {
    let message = s.message();
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
}
