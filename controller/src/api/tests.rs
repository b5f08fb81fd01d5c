//! Router tests without a network: auth, 404, filters, triggers, watch.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    http::{header::AUTHORIZATION, Request, StatusCode},
    Router,
};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::{
    desired::Kind,
    status::{StatusKey, StatusStore},
};

const TOKEN: &str = "s3cret-token";

#[derive(Default)]
struct FakeControl {
    suspended: Mutex<Vec<(Kind, String, bool)>>,
    not_ready: bool,
}

impl Control for FakeControl {
    fn reconcile(
        &self,
        kind: Kind,
        name: String,
        wait: Duration,
    ) -> BoxFuture<'static, Result<ReconcileResult, ControlError>> {
        Box::pin(async move {
            match name.as_str() {
                "demo" => Ok(ReconcileResult {
                    kind,
                    name,
                    host: "local".into(),
                    succeeded: true,
                    revision: Some("abc123".into()),
                    message: "1 container recreated".into(),
                    duration_ms: 12,
                    run: Some(7),
                }),
                "paused" => Err(ControlError::Suspended { kind, name }),
                // Echoes the wait the route passed, so tests see how `?timeout=` is read.
                "slow" => Err(ControlError::TimedOut(format!(
                    "Stack/slow on local is still queued after {}s",
                    wait.as_secs()
                ))),
                _ => Err(ControlError::NotFound { kind, name }),
            }
        })
    }
    fn reconcile_all(&self, _: Duration) -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn suspend(
        &self,
        kind: Kind,
        name: String,
        suspended: bool,
    ) -> BoxFuture<'static, Result<(), ControlError>> {
        self.suspended.lock().unwrap().push((kind, name, suspended));
        Box::pin(async { Ok(()) })
    }
    fn ready(&self) -> bool {
        !self.not_ready
    }
}

fn store() -> StatusStore {
    let store = StatusStore::in_memory();
    store.update(&StatusKey::new(Kind::Stack, "local", "demo"), |s| {
        s.labels.insert("tier".into(), "edge".into());
    });
    store.update(&StatusKey::new(Kind::Stack, "vps", "pangolin"), |_| {});
    store.update(&StatusKey::new(Kind::Network, "local", "web"), |_| {});
    store
}

fn app_with(control: Arc<FakeControl>) -> (Router, StatusStore) {
    let store = store();
    (router(ApiState::new(store.clone(), control), TOKEN), store)
}

fn app() -> Router {
    app_with(Arc::new(FakeControl::default())).0
}

fn req(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

async fn call(app: Router, r: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = app.oneshot(r).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn names(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn missing_token_is_401_with_only_the_error() {
    let (status, body) = call(app(), req("GET", "/api/v1/resources", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, serde_json::json!({"error": "missing or invalid token"}));
}

#[tokio::test]
async fn wrong_token_or_scheme_is_401() {
    let (status, _) = call(app(), req("GET", "/api/v1/resources", Some("nope"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = Request::builder()
        .uri("/api/v1/resources")
        .header(AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(app(), r).await.0, StatusCode::UNAUTHORIZED);
    // Unknown routes do not reveal themselves to the unauthenticated either.
    assert_eq!(
        call(app(), req("GET", "/api/v2/x", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn right_token_lists_everything() {
    let (status, body) = call(app(), req("GET", "/api/v1/resources", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body), ["web", "demo", "pangolin"]);
}

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    assert_eq!(call(app(), req("GET", "/healthz", None)).await.0, StatusCode::OK);
    assert_eq!(call(app(), req("GET", "/readyz", None)).await.0, StatusCode::OK);
    let (not_ready, _) = app_with(Arc::new(FakeControl {
        not_ready: true,
        ..Default::default()
    }));
    assert_eq!(
        call(not_ready, req("GET", "/readyz", None)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn list_filters() {
    let list = |q: &'static str| async move {
        let (status, body) = call(app(), req("GET", &format!("/api/v1/resources?{q}"), Some(TOKEN))).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        names(&body).into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(list("kind=Stack").await, ["demo", "pangolin"]);
    assert_eq!(list("kind=stacks&host=vps").await, ["pangolin"]);
    assert_eq!(list("host=local").await, ["web", "demo"]);
    assert_eq!(list("selector=tier%3Dedge").await, ["demo"]);
    let (status, body) = call(app(), req("GET", "/api/v1/resources?kind=pods", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("unknown kind `pods`"));
}

#[tokio::test]
async fn get_one_and_404() {
    let (status, body) = call(app(), req("GET", "/api/v1/resources/stack/demo", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["kind"].as_str(), body["host"].as_str()),
        (Some("Stack"), Some("local"))
    );
    let (status, body) = call(app(), req("GET", "/api/v1/resources/Stack/x", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, serde_json::json!({"error": "no Stack named `x`"}));
}

#[tokio::test]
async fn reconcile_maps_control_errors_to_status_codes() {
    let (status, body) = call(
        app(),
        req("POST", "/api/v1/resources/Stack/demo/reconcile", Some(TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["succeeded"], true);
    assert_eq!(body["message"], "1 container recreated");
    let (status, body) = call(
        app(),
        req("POST", "/api/v1/resources/Stack/x/reconcile", Some(TOKEN)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no Stack named `x`"))
    );
    let (status, _) = call(
        app(),
        req("POST", "/api/v1/resources/Stack/paused/reconcile", Some(TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = call(app(), req("POST", "/api/v1/reconcile", Some(TOKEN))).await;
    assert_eq!((status, body), (StatusCode::OK, serde_json::json!([])));
}

/// A request still queued at its deadline is a gateway timeout (504) that says so, not a 500;
/// `?timeout=` sets the deadline (default 10 minutes) and is checked.
#[tokio::test]
async fn reconcile_timeout_is_read_and_a_queued_request_answers_504() {
    let slow = |q: &str| {
        req(
            "POST",
            &format!("/api/v1/resources/Stack/slow/reconcile{q}"),
            Some(TOKEN),
        )
    };
    let (status, body) = call(app(), slow("?timeout=2s")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::GATEWAY_TIMEOUT,
            Some("Stack/slow on local is still queued after 2s")
        )
    );
    let (_, body) = call(app(), slow("")).await;
    assert_eq!(
        body["error"].as_str(),
        Some("Stack/slow on local is still queued after 600s")
    );
    for bad in ["?timeout=soon", "?timeout=0s", "?timeout=2h"] {
        let (status, body) = call(app(), slow(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("timeout `"),
            "{body}"
        );
    }
    let (status, body) = call(
        app(),
        req("POST", "/api/v1/resources/Stack/demo/reconcile", Some(TOKEN)),
    )
    .await;
    assert_eq!((status, body["run"].as_u64()), (StatusCode::OK, Some(7)));
}

#[tokio::test]
async fn suspend_and_resume_reach_control() {
    let control = Arc::new(FakeControl::default());
    let (app, _) = app_with(control.clone());
    let (status, body) = call(
        app.clone(),
        req("POST", "/api/v1/resources/stacks/demo/suspend", Some(TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["suspended"], true);
    call(
        app,
        req("POST", "/api/v1/resources/Stack/demo/resume", Some(TOKEN)),
    )
    .await;
    assert_eq!(
        *control.suspended.lock().unwrap(),
        [
            (Kind::Stack, "demo".into(), true),
            (Kind::Stack, "demo".into(), false)
        ]
    );
}

#[tokio::test]
async fn watch_streams_the_snapshot_then_changes() {
    let (app, store) = app_with(Arc::new(FakeControl::default()));
    let resp = app
        .oneshot(req("GET", "/api/v1/watch?kind=Stack", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let mut body = resp.into_body();
    let mut next_line = async || -> serde_json::Value {
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        serde_json::from_slice(&frame).unwrap()
    };
    let first = next_line().await;
    assert_eq!(
        (first["type"].as_str(), first["resource"]["name"].as_str()),
        (Some("Added"), Some("demo"))
    );
    assert_eq!(next_line().await["resource"]["name"], "pangolin");
    // A change to a Network is filtered out; the Stack change comes through.
    store.update(&StatusKey::new(Kind::Network, "local", "web"), |s| {
        s.suspended = true
    });
    store.update(&StatusKey::new(Kind::Stack, "local", "demo"), |s| {
        s.suspended = true
    });
    let change = next_line().await;
    assert_eq!(change["type"], "Modified");
    assert_eq!(change["resource"]["name"], "demo");
    assert_eq!(change["resource"]["suspended"], true);
}

#[test]
fn non_loopback_without_tls_is_refused() {
    let config = |insecure_api| ApiConfig {
        bind: "0.0.0.0:0".parse().unwrap(),
        token: TOKEN.into(),
        tls: None,
        insecure_api,
        metrics_token_required: false,
    };
    let err = ApiServer::bind(config(false)).err().unwrap();
    assert!(
        err.to_string()
            .contains("refusing to serve the API on 0.0.0.0:0 without TLS"),
        "{err}"
    );
    assert!(ApiServer::bind(config(true)).is_ok());
}

#[test]
fn empty_token_is_refused() {
    let err = ApiServer::bind(ApiConfig {
        bind: DEFAULT_BIND,
        token: "  \n".into(),
        tls: None,
        insecure_api: false,
        metrics_token_required: false,
    })
    .err()
    .unwrap();
    assert!(matches!(err, ServeError::EmptyToken));
}

fn hook_req(sig: Option<&str>, body: &'static str) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri("/api/v1/webhook")
        .header("x-github-event", "push");
    if let Some(s) = sig {
        b = b.header("x-hub-signature-256", s);
    }
    b.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn webhook_needs_no_token_but_its_signature_and_is_off_by_default() {
    use crate::source::{
        webhook::{github_signature, Webhook},
        Tracked, TrackedRef,
    };
    const BODY: &str = r#"{"ref":"refs/heads/main"}"#;
    let sig = github_signature(b"hook-secret", BODY.as_bytes());
    assert_eq!(
        call(app(), hook_req(Some(&sig), BODY)).await.0,
        StatusCode::NOT_FOUND
    );

    let tracked = TrackedRef::default();
    tracked.set(Tracked::Ref("refs/heads/main".into()));
    let wake = Arc::new(tokio::sync::Notify::new());
    let state = ApiState::new(store(), Arc::new(FakeControl::default()))
        .with_webhook(Arc::new(Webhook::new("hook-secret", tracked, wake.clone())));
    let app = router(state, TOKEN);
    let (status, body) = call(app.clone(), hook_req(Some(&sig), BODY)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "triggered");
    wake.notified().await;
    let (status, _) = call(app.clone(), hook_req(Some("sha256=00"), BODY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(app.clone(), hook_req(None, BODY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    const DEV: &str = r#"{"ref":"refs/heads/dev"}"#;
    let dev_sig = github_signature(b"hook-secret", DEV.as_bytes());
    let (status, body) = call(app, hook_req(Some(&dev_sig), DEV)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ignored");
}

/// `/metrics`: open by default, behind the token with `--metrics-token-required`; text
/// format for curl, OpenMetrics for a scraper that asks for it.
#[tokio::test]
async fn metrics_are_open_or_behind_the_token_and_negotiated() {
    let metrics = crate::telemetry::metrics::Metrics::new();
    metrics.observe_reconcile("Stack", true, std::time::Duration::from_millis(5));
    let app = |token_required| {
        router(
            ApiState::new(store(), Arc::new(FakeControl::default()))
                .with_metrics(metrics.clone(), token_required),
            TOKEN,
        )
    };
    let body = |resp: axum::response::Response| async move {
        let ct = resp.headers()[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (ct, String::from_utf8(bytes.to_vec()).unwrap())
    };
    let resp = app(false).oneshot(req("GET", "/metrics", None)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (ct, text) = body(resp).await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert!(
        text.contains("# TYPE aegis_reconciles_total counter\n")
            && text.contains("aegis_reconciles_total{kind=\"Stack\",result=\"success\"} 1\n")
            && !text.contains("# EOF"),
        "{text}"
    );
    let r = Request::builder()
        .uri("/metrics")
        .header(
            axum::http::header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(Body::empty())
        .unwrap();
    let (ct, text) = body(app(false).oneshot(r).await.unwrap()).await;
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    assert_eq!(
        call(app(true), req("GET", "/metrics", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let resp = app(true)
        .oneshot(req("GET", "/metrics", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Without a Metrics, the route is absent (behind the token, like every unknown route).
    assert_eq!(
        call(app_with(Arc::default()).0, req("GET", "/metrics", Some(TOKEN)))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
