//! The Docker Engine API (bollard): connections, observed state, actions.
//!
//! One file per job: [`client`] connects and counts calls, [`observe`] lists a host's state
//! in four calls, [`observe_some`] lists a few objects by ID (a host view's refresh), [`container_config`] turns a spec into a create body (pure), and
//! [`containers`], [`networks`], [`volumes`], [`images`], [`files`] and [`wait`] act, and
//! [`exec`] runs a command in a container (readiness checks), and [`build`] builds compose
//! `build:` images on the host.
//! Every call goes through [`DockerHost`], so [`DockerHost::api_calls`] counts them all.

pub mod build;
pub mod client;
pub mod container_config;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
pub mod files;
pub mod hooks;
mod host_tuning;
pub mod image_transfer;
pub mod images;
mod network_in_use;
pub mod networks;
pub mod observe;
pub mod observe_some;
pub mod operate;
mod tls;
pub mod unowned;
pub mod volumes;
pub mod wait;

pub use client::DockerHost;
pub use container_config::{create_body, CreateContext};
pub use error::{DockerError, Result};
pub use observe::observe;
