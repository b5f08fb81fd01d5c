//! The status of the source itself (Flux's `GitRepository` status): which revision runs,
//! whether the newest one was rejected and why, and whether the last fetch failed. It is
//! what tells an operator why nothing converges when the very first revision is invalid
//! (no resource exists yet to carry the condition) or when the remote refuses the token.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Reasons of [`SourceStatus::reason`].
pub mod source_reason {
    pub const SUCCEEDED: &str = "RevisionAccepted";
    pub const REJECTED: &str = "RevisionRejected";
    pub const FETCH_FAILED: &str = "FetchFailed";
    pub const STATE_NOT_SAVED: &str = "StateNotSaved";
    pub const PROGRESSING: &str = "Progressing";
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// What `--source` names, without credentials (`https://host/repo.git ref main`).
    pub url: String,
    /// The accepted revision (commit id, or a directory's content digest) that runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Timestamp>,
    /// The newest revision, when it was rejected whole; cleared by the next accepted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<RejectedRevision>,
    /// The last fetch's error; cleared by the next fetch that works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetch: Option<Timestamp>,
    /// Warnings of the running revision, `file:line: field: message`: security settings no
    /// `Policy` governs (privileged, Docker socket, host networking, ports on every address),
    /// policy rules that match nothing, obsolete compose keys. They don't stop the revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the state directory (`status.json`) cannot be written, until a save works again
    /// (a full disk). Reconciling goes on meanwhile; only the status on disk is stale. Set
    /// by the store when it serves the status, never saved itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRevision {
    pub revision: String,
    /// Every error of the revision, `file:line: field: message`.
    pub errors: Vec<String>,
}

impl SourceStatus {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// A revision runs, the newest one was accepted, the last fetch worked and the state is
    /// saved.
    pub fn ready(&self) -> bool {
        self.revision.is_some()
            && self.rejected.is_none()
            && self.fetch_error.is_none()
            && self.state_error.is_none()
    }

    /// Why it is (not) ready, most pressing first.
    pub fn reason(&self) -> &'static str {
        if self.state_error.is_some() {
            source_reason::STATE_NOT_SAVED
        } else if self.fetch_error.is_some() {
            source_reason::FETCH_FAILED
        } else if self.rejected.is_some() {
            source_reason::REJECTED
        } else if self.revision.is_none() {
            source_reason::PROGRESSING
        } else {
            source_reason::SUCCEEDED
        }
    }

    /// One line for a table; empty when ready.
    pub fn message(&self) -> String {
        if let Some(e) = &self.state_error {
            return format!("cannot save the state: {e}; reconciling goes on, the status is kept in memory");
        }
        if let Some(e) = &self.fetch_error {
            return e.clone();
        }
        if let Some(r) = &self.rejected {
            let short: String = r.revision.chars().take(12).collect();
            let line = rejection_line(&short, r.errors.first().map(String::as_str), r.errors.len());
            let keeps = match &self.revision {
                Some(_) => "; the last good revision keeps running",
                None => "; no revision was accepted yet",
            };
            return format!("{line}{keeps}");
        }
        if self.revision.is_none() {
            return "waiting for the first fetch".into();
        }
        String::new()
    }

    pub fn fetched(&mut self, at: Timestamp) {
        self.last_fetch = Some(at);
        self.fetch_error = None;
    }

    pub fn fetch_failed(&mut self, at: Timestamp, error: String) {
        self.last_fetch = Some(at);
        self.fetch_error = Some(error);
    }

    pub fn accepted(&mut self, revision: String, at: Timestamp) {
        self.revision = Some(revision);
        self.accepted_at = Some(at);
        self.rejected = None;
    }

    /// The running revision's warnings (replacing the previous revision's).
    pub fn warned(&mut self, warnings: Vec<String>) {
        self.warnings = warnings;
    }

    pub fn rejected(&mut self, revision: String, errors: Vec<String>) {
        self.rejected = Some(RejectedRevision { revision, errors });
    }
}

/// `revision SHORT rejected: FIRST (and N more)`: one line for a rejected revision of
/// `count` errors, shared by the source's status and every resource's `Stalled` message.
pub fn rejection_line(short: &str, first: Option<&str>, count: usize) -> String {
    let Some(first) = first else {
        return format!("revision {short} rejected");
    };
    let more = match count {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    format!("revision {short} rejected: {first}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_revision_rejected_says_nothing_runs_and_names_the_error() {
        let mut s = SourceStatus::new("file:///repo.git");
        assert!(!s.ready());
        assert_eq!(s.reason(), source_reason::PROGRESSING);
        s.fetched(Timestamp::now());
        s.rejected(
            "1a2b3c4d5e6f7a8b".into(),
            vec![
                "stack.yaml:7: spec.dependsOn[0]: Network/nope is not declared".into(),
                "b".into(),
            ],
        );
        assert!(!s.ready());
        assert_eq!(s.reason(), source_reason::REJECTED);
        assert_eq!(
            s.message(),
            "revision 1a2b3c4d5e6f rejected: stack.yaml:7: spec.dependsOn[0]: Network/nope is not \
             declared (and 1 more); no revision was accepted yet"
        );
    }

    #[test]
    fn acceptance_clears_a_rejection_and_fetch_errors_take_precedence() {
        let mut s = SourceStatus::new("dir");
        s.rejected("bad".into(), vec!["x".into()]);
        s.accepted("good".into(), Timestamp::now());
        assert!(s.ready());
        assert_eq!(s.reason(), source_reason::SUCCEEDED);
        assert_eq!(s.message(), "");
        s.fetch_failed(Timestamp::now(), "cannot fetch: refused".into());
        assert_eq!(s.reason(), source_reason::FETCH_FAILED);
        assert_eq!(s.message(), "cannot fetch: refused");
        s.fetched(Timestamp::now());
        assert!(s.ready());
    }

    #[test]
    fn a_state_that_cannot_be_saved_is_the_most_pressing() {
        let mut s = SourceStatus::new("dir");
        s.accepted("good".into(), Timestamp::now());
        s.fetch_failed(Timestamp::now(), "cannot fetch: no space".into());
        s.state_error = Some("/var/lib/aegis/status.json: No space left on device (os error 28)".into());
        assert!(!s.ready());
        assert_eq!(s.reason(), source_reason::STATE_NOT_SAVED);
        assert!(s
            .message()
            .starts_with("cannot save the state: /var/lib/aegis/status.json: No space"));
        assert!(s
            .message()
            .ends_with("reconciling goes on, the status is kept in memory"));
    }
}
