//! `TunnelClient.spec.pangolinApi`, resolved: what to ask Pangolin's integration API about
//! one tunnel client.

use super::ResourceRef;
use crate::secrets::Secret;

/// What the client is in Pangolin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PangolinObject {
    /// A Newt site (`GET /org/{org}/sites`).
    Site,
    /// A machine client (`GET /org/{org}/clients`), granted access to site resources.
    Client,
}

/// One TunnelClient's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PangolinCheck {
    /// `TunnelClient/<name>`.
    pub resource: ResourceRef,
    pub object: PangolinObject,
    /// The integration API's base URL, without a trailing `/`.
    pub url: String,
    pub org: String,
    /// Sent as `Authorization: Bearer ...`; never printed.
    pub api_key: Secret,
    /// The site's or client's name (or nice id) in Pangolin.
    pub name: String,
    /// Site resources the client must have been granted access to.
    pub resources: Vec<u64>,
}
