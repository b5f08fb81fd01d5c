//! Tunnel clients at run time: is a client up ([`readiness`], asked inside its container),
//! and does Pangolin agree ([`pangolin_api`], the optional integration API check)?
//!
//! Their containers come from `resolve::tunnels` (the `TunnelClient` expansion); this module
//! only looks at them once they run.

pub mod pangolin_api;
pub mod readiness;
