//! [`Operate`]: what an operator does on a host through the controller instead of `docker`
//! there (the VPS is reachable only through the tunnel and the controller): read a
//! resource's container logs, restart its containers. The control loop implements it with
//! its host connections; the API only calls it. Like [`super::Control`], a trait so that the
//! routes are tested with a fake.

use futures::{future::BoxFuture, stream::BoxStream};
use serde::{Deserialize, Serialize};

use crate::{
    desired::Kind,
    docker::operate::{LogOptions, OutputStream},
};

/// Why an operation could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperateError {
    /// No such resource, or no such service in it (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The operation is not allowed on this resource as things are (HTTP 409): a critical
    /// resource's restart needs the commit-confirmed path.
    #[error("{0}")]
    Refused(String),
    /// The controller has no accepted revision yet, or is shutting down (HTTP 503).
    #[error("the controller is not ready: {0}")]
    Unavailable(String),
    /// The host or its engine failed (HTTP 502).
    #[error("{0}")]
    Host(String),
}

/// One container's log, as chunks (not lines) of its two streams.
pub struct ContainerLog {
    pub container: String,
    pub service: String,
    pub chunks: BoxStream<'static, Result<(OutputStream, Vec<u8>), String>>,
}

/// The answer to a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartResult {
    pub kind: Kind,
    pub name: String,
    pub host: String,
    /// The containers restarted, in order.
    pub containers: Vec<String>,
}

pub trait Operate: Send + Sync + 'static {
    /// The logs of `kind`/`name`'s containers (only `service`'s when given), one stream per
    /// container.
    fn logs(
        &self,
        kind: Kind,
        name: String,
        service: Option<String>,
        opts: LogOptions,
    ) -> BoxFuture<'static, Result<Vec<ContainerLog>, OperateError>>;

    /// Restarts `kind`/`name`'s containers (only `service`'s when given) and records it as an
    /// event of the resource.
    fn restart(
        &self,
        kind: Kind,
        name: String,
        service: Option<String>,
    ) -> BoxFuture<'static, Result<RestartResult, OperateError>>;
}

impl From<OperateError> for super::error::ApiError {
    fn from(e: OperateError) -> Self {
        use axum::http::StatusCode;
        let status = match e {
            OperateError::NotFound(_) => StatusCode::NOT_FOUND,
            OperateError::Refused(_) => StatusCode::CONFLICT,
            OperateError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OperateError::Host(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.to_string())
    }
}
