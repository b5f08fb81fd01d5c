//! aegis: a GitOps reconciling controller for Docker hosts.
//!
//! Data flows one way: source → [`manifest`] → [`desired`] → [`plan`] → [`docker`] → status.
//! `plan` is pure (desired + observed → actions); side effects live in `docker` and `apply`.

pub mod compose;
pub mod desired;
pub mod diagnostic;
pub mod docker;
pub mod graph;
pub mod labels;
pub mod manifest;
pub mod observed;
pub mod plan;
pub mod yaml;
