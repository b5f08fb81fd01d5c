//! CONTRACT-LEVEL test of the Pangolin integration API client (`tunnel::pangolin_api`).
//!
//! No Pangolin server runs here. A local HTTP server answers the three calls with the JSON
//! shapes fosrl/pangolin's handlers produce (`server/routers/site/listSites.ts`,
//! `server/routers/client/listClients.ts`,
//! `server/routers/siteResource/listSiteResourceClients.ts`): the `{data, success, error,
//! message, status}` envelope, `data.sites[]` / `data.clients[]` with `pagination`, paging by
//! `pageSize` and `page`, and a bearer API key. This proves the client speaks that contract
//! (paths, paging, auth, fields); it cannot prove a real server still does.

use std::{collections::HashMap, net::SocketAddr};

use aegis::{
    desired::{Kind, PangolinCheck, PangolinObject, ResourceRef},
    secrets::Secret,
    tunnel::pangolin_api::{check, http_client, ApiVerdict},
};
use axum::{
    extract::{Path, Query},
    http::{HeaderMap, StatusCode},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

const KEY: &str = "key-id.key-secret";

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

fn envelope(data: Value, message: &str) -> Json<Value> {
    Json(json!({"data": data, "success": true, "error": false, "message": message, "status": 200}))
}

fn refused() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(
            json!({"data": null, "success": false, "error": true, "message": "Unauthorized", "status": 401}),
        ),
    )
}

/// One page of `items` as Pangolin's paged lists answer it.
fn page(items: &[Value], key: &str, q: &HashMap<String, String>) -> Value {
    let size: usize = q.get("pageSize").and_then(|s| s.parse().ok()).unwrap_or(20);
    let n: usize = q.get("page").and_then(|s| s.parse().ok()).unwrap_or(1);
    let chunk: Vec<Value> = items.iter().skip(size * (n - 1)).take(size).cloned().collect();
    json!({key: chunk, "pagination": {"total": items.len(), "pageSize": size, "page": n}})
}

fn sites() -> Vec<Value> {
    let mut v: Vec<Value> = (0..130)
        .map(|i| json!({"siteId": 100 + i, "niceId": format!("filler-{i}"), "name": format!("filler {i}"), "type": "newt", "online": false, "newtVersion": "1.9.0", "resourceCount": 0, "labels": []}))
        .collect();
    // On the second page of 100: the client must page.
    v.push(json!({"siteId": 7, "niceId": "racknerd-aegis", "name": "racknerd-aegis", "pubKey": "x", "subnet": "100.89.137.4/30", "type": "newt", "online": true, "address": "100.89.137.5", "newtVersion": "1.9.0", "exitNodeId": 1, "resourceCount": 1, "status": "approved", "newtUpdateAvailable": false, "labels": []}));
    // A local site has no `online` field at all.
    v.push(json!({"siteId": 8, "niceId": "local-site", "name": "local", "type": "local", "resourceCount": 3, "labels": []}));
    v
}

fn clients() -> Vec<Value> {
    vec![
        json!({"clientId": 11, "orgId": "homeops", "name": "komodo-mgmt", "niceId": "komodo-mgmt", "pubKey": "x", "subnet": "100.90.128.5/32", "type": "olm", "online": true, "olmVersion": "1.2.0", "userId": null, "approvalState": null, "archived": false, "blocked": false, "sites": [{"siteId": 7, "siteName": "racknerd-aegis", "siteNiceId": "racknerd-aegis"}], "labels": [], "roles": []}),
        json!({"clientId": 12, "orgId": "homeops", "name": "racknerd-aegis-obs", "niceId": "obs", "type": "olm", "online": false, "archived": false, "blocked": false, "sites": [], "labels": [], "roles": []}),
    ]
}

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route(
            "/v1/org/{org}/sites",
            get(
                |Path(org): Path<String>, Query(q): Query<HashMap<String, String>>, h: HeaderMap| async move {
                    if !authorized(&h) || org != "homeops" {
                        return Err(refused());
                    }
                    Ok(envelope(
                        page(&sites(), "sites", &q),
                        "Sites retrieved successfully",
                    ))
                },
            ),
        )
        .route(
            "/v1/org/{org}/clients",
            get(
                |Path(org): Path<String>, Query(q): Query<HashMap<String, String>>, h: HeaderMap| async move {
                    if !authorized(&h) || org != "homeops" {
                        return Err(refused());
                    }
                    Ok(envelope(
                        page(&clients(), "clients", &q),
                        "Clients retrieved successfully",
                    ))
                },
            ),
        )
        .route(
            "/v1/site-resource/{id}/clients",
            get(|Path(id): Path<u64>, h: HeaderMap| async move {
                if !authorized(&h) {
                    return Err(refused());
                }
                // Resource 1 (vps-periphery) is granted to komodo-mgmt; 2 to nobody.
                let granted = match id {
                    1 => json!([{"clientId": 11, "name": "komodo-mgmt", "subnet": "100.90.128.5/32"}]),
                    _ => json!([]),
                };
                Ok(envelope(
                    json!({"clients": granted}),
                    "Site resource clients retrieved successfully",
                ))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn the_check(
    addr: SocketAddr,
    object: PangolinObject,
    name: &str,
    resources: &[u64],
    key: &str,
) -> PangolinCheck {
    PangolinCheck {
        resource: ResourceRef::new(Kind::TunnelClient, name),
        object,
        url: format!("http://{addr}/v1"),
        org: "homeops".into(),
        api_key: Secret::new(key),
        name: name.into(),
        resources: resources.to_vec(),
    }
}

#[tokio::test]
async fn contract_level_pangolin_integration_api() {
    let addr = serve().await;
    let http = http_client().expect("client");

    // A machine client: online, granted resource 1, not 2 (POC finding #3).
    let c = the_check(addr, PangolinObject::Client, "komodo-mgmt", &[1, 2], KEY);
    let v = check(&http, Some(&c)).await;
    let ApiVerdict::Checked(r) = &v else {
        panic!("{v:?}")
    };
    assert!(r.found);
    assert_eq!(r.online, Some(true));
    assert_eq!((r.granted.as_slice(), r.missing.as_slice()), (&[1][..], &[2][..]));
    assert!(!v.ok());
    assert!(
        v.summary(Some(&c)).contains("NOT granted resources 2"),
        "{}",
        v.summary(Some(&c))
    );
    let c = the_check(addr, PangolinObject::Client, "komodo-mgmt", &[1], KEY);
    assert!(check(&http, Some(&c)).await.ok());

    // An offline client (found by its nice id too).
    let c = the_check(addr, PangolinObject::Client, "obs", &[], KEY);
    let v = check(&http, Some(&c)).await;
    assert!(
        matches!(&v, ApiVerdict::Checked(r) if r.found && r.online == Some(false)),
        "{v:?}"
    );
    assert!(!v.ok());

    // A Newt site on the second page.
    let s = the_check(addr, PangolinObject::Site, "racknerd-aegis", &[], KEY);
    let v = check(&http, Some(&s)).await;
    assert!(
        matches!(&v, ApiVerdict::Checked(r) if r.found && r.online == Some(true)),
        "{v:?}"
    );
    assert!(v.ok());
    assert_eq!(v.summary(Some(&s)), "Pangolin API: site `racknerd-aegis` online");
    // A local site reports no online state; a missing one is not found.
    let v = check(
        &http,
        Some(&the_check(addr, PangolinObject::Site, "local-site", &[], KEY)),
    )
    .await;
    assert!(
        matches!(&v, ApiVerdict::Checked(r) if r.found && r.online.is_none()),
        "{v:?}"
    );
    let v = check(
        &http,
        Some(&the_check(addr, PangolinObject::Site, "nope", &[], KEY)),
    )
    .await;
    assert!(matches!(&v, ApiVerdict::Checked(r) if !r.found), "{v:?}");

    // A wrong key: the API's refusal, with a hint, and never the key itself.
    let wrong = "wrong-key-s3cr3t";
    let v = check(
        &http,
        Some(&the_check(
            addr,
            PangolinObject::Site,
            "racknerd-aegis",
            &[],
            wrong,
        )),
    )
    .await;
    let ApiVerdict::Failed(msg) = &v else {
        panic!("{v:?}")
    };
    assert!(
        msg.contains("401") && msg.contains("Unauthorized") && msg.contains("API key"),
        "{msg}"
    );
    assert!(!msg.contains(wrong) && !msg.contains(KEY), "{msg}");

    // Nothing configured: not checked.
    assert_eq!(check(&http, None).await, ApiVerdict::NotChecked);
    assert_eq!(
        ApiVerdict::NotChecked.summary(None),
        "Pangolin API: not checked (no pangolinApi)"
    );
}
