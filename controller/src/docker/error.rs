//! Errors of the docker layer, written for the person who has to fix them.
//!
//! Every message names the host, the object (container, network, volume, image) and what
//! failed, and where there is an obvious next step, says what to do.

use bollard::errors::Error as BollardError;

/// An error talking to one Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine could not be reached at all (socket missing, permission denied, TCP refused,
    /// TLS handshake, version negotiation).
    #[error(
        "cannot reach Docker at {endpoint} on host `{host}`: {reason} — is dockerd running \
         there, and may this user use it (docker group, TLS certificates)?"
    )]
    Connect {
        host: String,
        endpoint: String,
        reason: String,
        #[source]
        source: Option<BollardError>,
    },

    /// The TLS handshake failed, or the host's TLS files are unusable: `problem` says which
    /// side distrusts the other and names the `tls.*` file involved.
    #[error("cannot reach Docker at {endpoint} on host `{host}`: {problem}")]
    Tls {
        host: String,
        endpoint: String,
        problem: String,
        #[source]
        source: Option<BollardError>,
    },

    /// A create call hit an existing object with the same name (HTTP 409) that aegis does not
    /// own.
    #[error("{kind} `{name}` already exists on host `{host}` and is not managed by aegis; {hint}")]
    Conflict {
        host: String,
        kind: &'static str,
        name: String,
        /// What to do, depending on the kind of object.
        hint: &'static str,
        #[source]
        source: BollardError,
    },

    /// The object named in a call does not exist (HTTP 404).
    #[error("{kind} `{name}` does not exist on host `{host}` (while trying to {action})")]
    NotFound {
        host: String,
        kind: &'static str,
        name: String,
        action: &'static str,
        #[source]
        source: BollardError,
    },

    /// Any other failed API call: the engine's own message is kept.
    #[error("could not {action} {kind} `{name}` on host `{host}`: {message}")]
    Api {
        host: String,
        action: &'static str,
        kind: &'static str,
        name: String,
        message: String,
        #[source]
        source: BollardError,
    },

    /// The image is not on the host and pulling it failed.
    #[error(
        "image `{image}` is not on host `{host}` and pulling it failed: {reason} — if no \
         registry answered, load the image with `docker load` or build it locally on that host"
    )]
    ImagePull {
        host: String,
        image: String,
        reason: String,
    },

    /// compose `build:` failed on the host; `reason` ends with the builder's last lines.
    #[error(
        "building the image of service `{service}` of stack `{stack}` on host `{host}` failed: {reason}"
    )]
    ImageBuild {
        host: String,
        stack: String,
        service: String,
        reason: String,
    },

    /// Moving an image onto a host through the Docker API (no registry) failed: the export
    /// from the source engine, the load into this one, or the check of the loaded image's ID.
    #[error("cannot put image `{image}` onto host `{host}` through the Docker API: {reason}")]
    ImageTransfer {
        host: String,
        image: String,
        reason: String,
    },

    /// Waiting for a container (health, completion) took longer than allowed.
    #[error(
        "container `{container}` on host `{host}` did not become {wanted} within {timeout_secs}s \
         (last state: {last_state}{})",
        last_log.as_deref().map(|l| format!(", last health check output: {l:?}")).unwrap_or_default()
    )]
    WaitTimeout {
        host: String,
        container: String,
        wanted: &'static str,
        timeout_secs: u64,
        last_state: String,
        last_log: Option<String>,
    },

    /// A container being waited for reached a state from which it cannot succeed.
    #[error("container `{container}` on host `{host}` {what}")]
    WaitFailed {
        host: String,
        container: String,
        what: String,
    },

    /// Repository files could not be packed or a name in them is unsafe.
    #[error("cannot deliver `{path}` of stack `{stack}` to host `{host}`: {reason}")]
    Files {
        host: String,
        stack: String,
        path: String,
        reason: String,
    },
}

impl DockerError {
    /// Classifies a failed call on a named object: 404 → [`DockerError::NotFound`], otherwise
    /// [`DockerError::Api`] with the engine's message.
    pub(crate) fn api(
        host: &str,
        action: &'static str,
        kind: &'static str,
        name: &str,
        source: BollardError,
    ) -> Self {
        match &source {
            BollardError::DockerResponseServerError { status_code: 404, .. } => Self::NotFound {
                host: host.into(),
                kind,
                name: name.into(),
                action,
                source,
            },
            _ => Self::Api {
                host: host.into(),
                action,
                kind,
                name: name.into(),
                message: engine_message(&source),
                source,
            },
        }
    }

    /// Like [`DockerError::api`], but a 409 becomes [`DockerError::Conflict`]: used by create
    /// calls, where 409 means "the name is taken". A 404 is about something the new object
    /// refers to (its image, or an image of another `platform:` than the one asked for; a
    /// network), never the object itself, so the engine's message is kept (an
    /// [`DockerError::Api`]) instead of "`name` does not exist".
    pub(crate) fn create(host: &str, kind: &'static str, name: &str, source: BollardError) -> Self {
        match &source {
            BollardError::DockerResponseServerError { status_code: 409, .. } => Self::Conflict {
                host: host.into(),
                kind,
                name: name.into(),
                hint: match kind {
                    "container" => "rename or remove it, or set container_name",
                    _ => "remove or rename it, or declare it `external: true`",
                },
                source,
            },
            BollardError::DockerResponseServerError { status_code: 404, .. } => Self::Api {
                host: host.into(),
                action: "create",
                kind,
                name: name.into(),
                message: engine_message(&source),
                source,
            },
            _ => Self::api(host, "create", kind, name, source),
        }
    }

    /// True for [`DockerError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// True for [`DockerError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// The engine's own message, without bollard's "Docker responded with status code" wrapper.
pub(crate) fn engine_message(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        BollardError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// The engine's message, or for a transport failure the whole chain of causes
/// (`client error (SendRequest): connection closed before message completed`): for long
/// transfers the top-level message alone says nothing.
pub(crate) fn full_message(e: &BollardError) -> String {
    let mut msg = engine_message(e);
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = cur {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg = format!("{msg}: {part}");
        }
        cur = s.source();
    }
    msg
}

/// A short, human reason for a connection failure, found by walking the source chain (the
/// useful part, e.g. "Permission denied", is usually a few levels down in hyper/io).
pub(crate) fn connect_reason(e: &BollardError) -> String {
    let mut reason = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = cur {
        reason = s.to_string();
        cur = s.source();
    }
    if let BollardError::SocketNotFoundError(path) = e {
        return format!("socket {path} does not exist");
    }
    if matches!(e, BollardError::RequestTimeoutError) {
        return "timed out".into();
    }
    reason
}

pub type Result<T, E = DockerError> = std::result::Result<T, E>;
