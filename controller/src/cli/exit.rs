//! The exit codes of `aegis` and `aegisctl`: one table for both, as scripts use them (README,
//! "Exit codes"). Like `flux diff`, 1 is a result (there are changes, something failed) and
//! not a crash; like clap (and kubectl), 2 is a command line that cannot run. The causes a
//! script reacts to differently get codes of their own: a revision that is invalid (fix the
//! commit; nothing was applied), and a host, API or git remote that cannot be reached (retry
//! later).
//!
//! When several apply (one host unreachable, another with a failed resource), the highest
//! code wins.

use std::process::ExitCode;

use super::client::ClientError;
use crate::{
    apply::ApplyError,
    docker::DockerError,
    secrets::sops::SopsError,
    source::{LoadError, SourceError},
};

/// What a command's exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: done, and everything is as it should be: valid, converged, no changes, request done.
    Success = 0,
    /// 1: done, and the result is not clean: `diff` found changes; `apply` or `reconcile` ran
    /// and some resources failed (the others were applied).
    Failed = 1,
    /// 2: the command line cannot run: unknown command, flag, kind or value; no API token; a
    /// file named by a flag (token, CA, key, source directory) cannot be read.
    Usage = 2,
    /// 3: the source is invalid: a manifest, compose file or secret of the revision is wrong,
    /// or a SOPS file does not decrypt. Nothing was applied.
    InvalidSource = 3,
    /// 4: cannot reach or authenticate with a Docker host, the aegis API or the git remote.
    Unreachable = 4,
    /// 5: any other error: the controller refused or could not finish the request (no such
    /// resource, suspended, not ready, still queued or running at the deadline), a `diff` that
    /// cannot be computed for some resource (a name conflict), an I/O error.
    Error = 5,
}

impl Exit {
    /// The code, as the shell sees it.
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The highest of `self` and `other`.
    #[must_use]
    pub fn and(self, other: Exit) -> Exit {
        self.max(other)
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

impl From<&ClientError> for Exit {
    fn from(e: &ClientError) -> Self {
        match e {
            ClientError::Unreachable { .. } | ClientError::Tls { .. } | ClientError::Unauthorized => {
                Exit::Unreachable
            }
            ClientError::NoToken | ClientError::Config(_) | ClientError::Usage(_) => Exit::Usage,
            ClientError::NotFound(_) | ClientError::Server { .. } | ClientError::Protocol { .. } => {
                Exit::Error
            }
        }
    }
}

impl From<&SourceError> for Exit {
    fn from(e: &SourceError) -> Self {
        match e {
            SourceError::Unreadable(_) | SourceError::Config(_) => Exit::Usage,
            SourceError::Git(_) => Exit::Unreachable,
            SourceError::Io { .. } => Exit::Error,
        }
    }
}

impl From<&LoadError> for Exit {
    fn from(e: &LoadError) -> Self {
        match e {
            LoadError::Source(s) => s.into(),
            LoadError::Invalid(_) => Exit::InvalidSource,
        }
    }
}

impl From<&ApplyError> for Exit {
    fn from(e: &ApplyError) -> Self {
        match e {
            ApplyError::Docker(DockerError::Connect { .. } | DockerError::Tls { .. }) => Exit::Unreachable,
            _ => Exit::Failed,
        }
    }
}

impl From<&SopsError> for Exit {
    fn from(e: &SopsError) -> Self {
        match e {
            SopsError::Io { .. } | SopsError::Identity { .. } | SopsError::NoIdentities { .. } => Exit::Usage,
            SopsError::Emit { .. } => Exit::Error,
            _ => Exit::InvalidSource,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_the_published_ones_and_the_highest_wins() {
        let codes: Vec<u8> = [
            Exit::Success,
            Exit::Failed,
            Exit::Usage,
            Exit::InvalidSource,
            Exit::Unreachable,
            Exit::Error,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5]);
        assert_eq!(Exit::Failed.and(Exit::Unreachable), Exit::Unreachable);
        assert_eq!(Exit::Success.and(Exit::Failed), Exit::Failed);
    }

    #[test]
    fn client_errors_map_to_their_cause() {
        let unreachable = ClientError::Unreachable {
            server: "http://127.0.0.1:1".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(Exit::from(&unreachable), Exit::Unreachable);
        assert_eq!(Exit::from(&ClientError::Unauthorized), Exit::Unreachable);
        assert_eq!(Exit::from(&ClientError::NoToken), Exit::Usage);
        assert_eq!(Exit::from(&ClientError::Usage("x".into())), Exit::Usage);
        let timeout = ClientError::Server {
            status: 504,
            message: "still queued".into(),
        };
        assert_eq!(Exit::from(&timeout), Exit::Error);
        assert_eq!(
            Exit::from(&ClientError::NotFound("no Stack named `x`".into())),
            Exit::Error
        );
    }

    #[test]
    fn an_invalid_revision_is_not_a_partial_apply() {
        let invalid = LoadError::Invalid(crate::diagnostic::Diagnostics(Vec::new()));
        assert_eq!(Exit::from(&invalid), Exit::InvalidSource);
        assert_ne!(Exit::from(&invalid), Exit::Failed);
        let git = LoadError::Source(SourceError::Git("could not resolve host".into()));
        assert_eq!(Exit::from(&git), Exit::Unreachable);
        let missing = LoadError::Source(SourceError::Unreadable("/nope".into()));
        assert_eq!(Exit::from(&missing), Exit::Usage);
    }
}
