//! The desired state of one host, fully resolved.
//!
//! This is what the source stage (manifests + compose files) produces and what `plan` compares
//! with observed state. Everything here is plain data: no Docker types, no I/O. Every type is
//! `Serialize` with deterministic ordering, because the spec hash is computed from it.

mod build;
mod container;
mod env;
mod hook;
mod host;
pub mod management;
mod network;
mod pangolin;
mod resource;
mod tuning;

pub use build::{built_id, BuildSpec, BUILD_REPOSITORY};
pub use container::{
    BindSource, ContainerSpec, DependsCondition, DependsOn, Device, DeviceRequest, Healthcheck, Logging,
    Mount, MountKind, NetworkAttachment, NetworkMode, PortBinding, PullPolicy, RepoFile, RestartPolicy,
    Ulimit,
};
pub use env::{EnvValue, SecretFile, SECRET_PREFIX};
pub use hook::Hook;
pub use host::{DesiredHost, DesiredState, Endpoint, HostSpec, StackSpec, TlsFiles};
pub use management::{CriticalResource, HostAccess, Management, Probe, ProbeTarget};
pub use network::{Ipam, IpamPool, NetworkSpec, VolumeSpec};
pub use pangolin::{PangolinCheck, PangolinObject};
pub use resource::{Kind, ResourceRef};
pub use tuning::{DeviceRate, Tuning};
