//! The optional check against Pangolin's integration API: is the site or client online, and
//! has a machine client been granted access to the resources it needs?
//!
//! The grant is the seed's POC finding #3: a machine client reaches nothing until someone
//! grants it access in the resource's Access Policy tab, and nothing on the host says so. The
//! three calls, with a bearer API key (the shapes are fosrl/pangolin's `listSites.ts`,
//! `listClients.ts` and `listSiteResourceClients.ts`):
//!
//! - `GET /org/{org}/sites?pageSize=&page=` → `data.sites[]` (`siteId`, `niceId`, `name`,
//!   `online`; `online` is absent for local sites) and `data.pagination.total`;
//! - `GET /org/{org}/clients?pageSize=&page=` → `data.clients[]` (`clientId`, `niceId`,
//!   `name`, `online`, `blocked`, `archived`);
//! - `GET /site-resource/{id}/clients` → `data.clients[]` (`clientId`, `name`): who is granted.
//!
//! Every answer is wrapped as `{data, success, error, message, status}`. A TunnelClient with
//! no `pangolinApi` is "not checked".

use std::time::Duration;

use serde::Deserialize;

use crate::desired::{PangolinCheck, PangolinObject};

/// Items asked for per page (Pangolin's default is 20).
const PAGE_SIZE: usize = 100;
/// A bound on paging, against an API that keeps answering full pages.
const MAX_PAGES: usize = 100;

/// The outcome for one TunnelClient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVerdict {
    /// No `pangolinApi` configured.
    NotChecked,
    Checked(ApiReport),
    /// The API could not be asked (unreachable, refused the key, unexpected answer).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiReport {
    /// The site or client with that name exists in the organisation.
    pub found: bool,
    /// Pangolin's `online` flag (`None` for a local site, which has none).
    pub online: Option<bool>,
    /// Resources the client has been granted, and those it has not (clients only).
    pub granted: Vec<u64>,
    pub missing: Vec<u64>,
}

impl ApiVerdict {
    /// Everything is as it should be (or nothing was asked).
    pub fn ok(&self) -> bool {
        match self {
            ApiVerdict::NotChecked => true,
            ApiVerdict::Checked(r) => r.found && r.online != Some(false) && r.missing.is_empty(),
            ApiVerdict::Failed(_) => false,
        }
    }

    /// One line for status and `aegisctl describe`.
    pub fn summary(&self, check: Option<&PangolinCheck>) -> String {
        let what = check.map_or("it".to_string(), |c| {
            let kind = match c.object {
                PangolinObject::Site => "site",
                PangolinObject::Client => "client",
            };
            format!("{kind} `{}`", c.name)
        });
        match self {
            ApiVerdict::NotChecked => "Pangolin API: not checked (no pangolinApi)".into(),
            ApiVerdict::Failed(e) => format!("Pangolin API: {e}"),
            ApiVerdict::Checked(r) if !r.found => {
                format!("Pangolin API: {what} does not exist in the organisation")
            }
            ApiVerdict::Checked(r) => {
                let online = match r.online {
                    Some(true) => "online",
                    Some(false) => "offline",
                    None => "online state not reported",
                };
                let mut s = format!("Pangolin API: {what} {online}");
                if !r.granted.is_empty() {
                    s.push_str(&format!("; granted resources {}", list(&r.granted)));
                }
                if !r.missing.is_empty() {
                    s.push_str(&format!(
                        "; NOT granted resources {} (grant access in each resource's Access Policy)",
                        list(&r.missing)
                    ));
                }
                s
            }
        }
    }
}

fn list(ids: &[u64]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Asks the API (see the module doc). `None` → not checked.
pub async fn check(http: &reqwest::Client, check: Option<&PangolinCheck>) -> ApiVerdict {
    let Some(c) = check else {
        return ApiVerdict::NotChecked;
    };
    match ask(http, c).await {
        Ok(r) => ApiVerdict::Checked(r),
        Err(e) => ApiVerdict::Failed(e),
    }
}

/// An HTTP client for the API: a bounded time per call.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize, Default)]
struct Pagination {
    #[serde(default)]
    total: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SitesPage {
    #[serde(default)]
    sites: Vec<Site>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Site {
    #[serde(default)]
    name: String,
    #[serde(default)]
    nice_id: String,
    #[serde(default)]
    online: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientsPage {
    #[serde(default)]
    clients: Vec<Client>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Client {
    client_id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    nice_id: String,
    #[serde(default)]
    online: Option<bool>,
}

async fn ask(http: &reqwest::Client, c: &PangolinCheck) -> Result<ApiReport, String> {
    match c.object {
        PangolinObject::Site => {
            let sites: Vec<Site> = paged(http, c, "sites", |p: SitesPage| (p.sites, p.pagination)).await?;
            let site = sites
                .into_iter()
                .find(|s| s.name == c.name || s.nice_id == c.name);
            Ok(ApiReport {
                found: site.is_some(),
                online: site.and_then(|s| s.online),
                granted: Vec::new(),
                missing: Vec::new(),
            })
        }
        PangolinObject::Client => {
            let clients: Vec<Client> =
                paged(http, c, "clients", |p: ClientsPage| (p.clients, p.pagination)).await?;
            let Some(client) = clients
                .into_iter()
                .find(|x| x.name == c.name || x.nice_id == c.name)
            else {
                return Ok(ApiReport {
                    found: false,
                    online: None,
                    granted: Vec::new(),
                    missing: c.resources.clone(),
                });
            };
            let (mut granted, mut missing) = (Vec::new(), Vec::new());
            for id in &c.resources {
                let page: ClientsPage = get(http, c, &format!("/site-resource/{id}/clients")).await?;
                if page.clients.iter().any(|x| x.client_id == client.client_id) {
                    granted.push(*id);
                } else {
                    missing.push(*id);
                }
            }
            Ok(ApiReport {
                found: true,
                online: client.online,
                granted,
                missing,
            })
        }
    }
}

/// Every item of a paged list under `/org/{org}/{what}`.
async fn paged<P, T>(
    http: &reqwest::Client,
    c: &PangolinCheck,
    what: &str,
    split: impl Fn(P) -> (Vec<T>, Option<Pagination>),
) -> Result<Vec<T>, String>
where
    P: for<'de> Deserialize<'de>,
{
    let mut all = Vec::new();
    for page in 1..=MAX_PAGES {
        let path = format!("/org/{}/{what}?pageSize={PAGE_SIZE}&page={page}", c.org);
        let (items, pagination) = split(get(http, c, &path).await?);
        let n = items.len();
        all.extend(items);
        let total = pagination.map_or(all.len(), |p| p.total);
        if n == 0 || all.len() >= total {
            break;
        }
    }
    Ok(all)
}

async fn get<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    c: &PangolinCheck,
    path: &str,
) -> Result<T, String> {
    let url = format!("{}{path}", c.url.trim_end_matches('/'));
    let key = c.api_key.expose_str().unwrap_or_default();
    let resp = http
        .get(&url)
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| format!("GET {url} failed: {}", without_url(&e)))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: cannot read the answer: {}", without_url(&e)))?;
    let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&body);
    if !status.is_success() {
        let msg = envelope.map(|e| e.message).unwrap_or_default();
        let hint = match status.as_u16() {
            401 | 403 => " (check the API key and its permissions for this organisation)",
            404 => " (check the URL: the integration API's base, e.g. https://api.pangolin.example/v1)",
            _ => "",
        };
        return Err(format!(
            "GET {url} answered {status}{}{hint}",
            if msg.is_empty() {
                String::new()
            } else {
                format!(": {msg}")
            }
        ));
    }
    match envelope {
        Ok(Envelope { data: Some(d), .. }) => Ok(d),
        Ok(Envelope { data: None, message }) => Err(format!("GET {url}: no data in the answer ({message})")),
        Err(e) => Err(format!("GET {url}: unexpected answer ({e})")),
    }
}

/// reqwest's message without the URL (already said by the caller).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" for url ({u})"), "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Kind, ResourceRef};

    fn check(object: PangolinObject) -> PangolinCheck {
        PangolinCheck {
            resource: ResourceRef::new(Kind::TunnelClient, "komodo-mgmt"),
            object,
            url: "https://api.pangolin.example/v1".into(),
            org: "homeops".into(),
            api_key: crate::secrets::Secret::new("key"),
            name: "komodo-mgmt".into(),
            resources: vec![1, 2],
        }
    }

    #[test]
    fn summaries() {
        let c = check(PangolinObject::Client);
        assert_eq!(
            ApiVerdict::NotChecked.summary(None),
            "Pangolin API: not checked (no pangolinApi)"
        );
        let r = ApiVerdict::Checked(ApiReport {
            found: true,
            online: Some(true),
            granted: vec![1],
            missing: vec![2],
        });
        assert!(!r.ok());
        assert_eq!(
            r.summary(Some(&c)),
            "Pangolin API: client `komodo-mgmt` online; granted resources 1; NOT granted resources 2 (grant access in each resource's Access Policy)"
        );
        let gone = ApiVerdict::Checked(ApiReport {
            found: false,
            online: None,
            granted: vec![],
            missing: vec![],
        });
        assert!(gone.summary(Some(&c)).contains("does not exist"));
        assert!(ApiVerdict::Checked(ApiReport {
            found: true,
            online: None,
            granted: vec![],
            missing: vec![]
        })
        .ok());
    }
}
