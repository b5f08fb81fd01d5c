//! aegis: a GitOps reconciling controller for Docker hosts.
//!
//! Data flows one way: source → [`manifest`] → [`resolve`] (checked by [`policy`]) →
//! [`desired`] → [`plan`] → [`docker`] (driven by [`apply`]) → status. `plan` is pure (desired + observed → steps);
//! side effects live in `docker` and `apply`.

pub mod agent;
pub mod api;
pub mod apply;
pub mod cli;
pub mod compose;
pub mod control;
pub mod desired;
pub mod diagnostic;
pub mod docker;
pub mod graph;
pub mod import;
pub mod labels;
pub mod manifest;
pub mod observed;
pub mod plan;
pub mod policy;
pub mod resolve;
pub mod runtime;
pub mod secrets;
pub mod source;
pub mod status;
pub mod telemetry;
pub mod tunnel;
pub mod yaml;
