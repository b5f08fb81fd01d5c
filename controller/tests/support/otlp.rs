//! A real OTLP trace receiver for tests: the collector's `TraceService` over gRPC (tonic,
//! `opentelemetry-proto`'s generated server) and `POST /v1/traces` over HTTP/protobuf
//! (axum + prost), both on loopback, in a runtime of their own. Every span received is
//! kept, flattened, for assertions; [`tree`] prints one trace.
//!
//! Include it with `#[path = "support/otlp.rs"] mod otlp;`.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        trace_service_server::{TraceService, TraceServiceServer},
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
    common::v1::{any_value::Value, AnyValue, KeyValue},
};
use prost::Message as _;

/// OpenTelemetry status codes.
pub const STATUS_UNSET: i32 = 0;
pub const STATUS_ERROR: i32 = 2;

/// One span as received, with its resource's attributes.
#[derive(Debug, Clone)]
pub struct RecvSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_id: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
    /// `(name, attributes)` of each span event (the log lines inside the span).
    pub events: Vec<(String, BTreeMap<String, String>)>,
    pub status_code: i32,
    pub status_message: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `grpc` or `http`.
    pub via: &'static str,
}

impl RecvSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// Everything the span carries, as text: to look for a value that must never be there.
    pub fn all_text(&self) -> String {
        let mut s = format!("{} {} ", self.name, self.status_message);
        for (k, v) in self.attributes.iter().chain(self.resource.iter()) {
            let _ = write!(s, "{k}={v} ");
        }
        for (name, attrs) in &self.events {
            let _ = write!(s, "{name} ");
            for (k, v) in attrs {
                let _ = write!(s, "{k}={v} ");
            }
        }
        s
    }
}

fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::ArrayValue(a)) => a
            .values
            .iter()
            .map(|v| value_text(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::KvlistValue(l)) => attrs(&l.values)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
        .collect()
}

/// Flattens one export request into spans.
fn flatten(req: &ExportTraceServiceRequest, via: &'static str) -> Vec<RecvSpan> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(RecvSpan {
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent_id: hex::encode(&s.parent_span_id),
                    name: s.name.clone(),
                    attributes: attrs(&s.attributes),
                    resource: resource.clone(),
                    events: s
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), attrs(&e.attributes)))
                        .collect(),
                    status_code: s.status.as_ref().map(|st| st.code).unwrap_or(STATUS_UNSET),
                    status_message: s.status.as_ref().map(|st| st.message.clone()).unwrap_or_default(),
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    via,
                });
            }
        }
    }
    out
}

type Store = Arc<Mutex<Vec<RecvSpan>>>;

struct Grpc(Store);

#[async_trait::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = flatten(request.get_ref(), "grpc");
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn http_export(
    axum::extract::State(store): axum::extract::State<Store>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct != "application/x-protobuf" {
        return (
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-type {ct}"),
        )
            .into_response();
    }
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) => {
            store.lock().unwrap().extend(flatten(&req, "http"));
            (
                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
                .into_response()
        }
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// Both receivers, running until dropped.
pub struct Receiver {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Self {
        let store: Store = Arc::default();
        let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let s = store.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("receiver runtime");
            rt.block_on(async move {
                let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind grpc");
                let http = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind http");
                addrs_tx
                    .send((grpc.local_addr().unwrap(), http.local_addr().unwrap()))
                    .unwrap();
                let grpc_server = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(Grpc(s.clone())))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc));
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(http_export))
                    .with_state(s);
                let http_server = axum::serve(http, app);
                tokio::select! {
                    r = grpc_server => r.expect("grpc receiver"),
                    r = http_server => r.expect("http receiver"),
                    _ = stop_rx => {}
                }
            });
        });
        let (grpc, http) = addrs_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the receiver starts");
        Self {
            grpc,
            http,
            store,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<RecvSpan> {
        self.store.lock().unwrap().clone()
    }

    /// Waits up to `timeout` until `f` finds something in the spans received.
    pub fn wait_for<T>(&self, timeout: Duration, what: &str, f: impl Fn(&[RecvSpan]) -> Option<T>) -> T {
        let t = Instant::now();
        loop {
            if let Some(v) = f(&self.spans()) {
                return v;
            }
            assert!(
                t.elapsed() < timeout,
                "no {what} after {timeout:?}; received {} spans:\n{}",
                self.spans().len(),
                self.spans()
                    .iter()
                    .map(|s| format!(
                        "{} {} parent={} {:?}",
                        s.trace_id, s.name, s.parent_id, s.attributes
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The spans of trace `trace_id`.
pub fn trace<'a>(spans: &'a [RecvSpan], trace_id: &str) -> Vec<&'a RecvSpan> {
    spans.iter().filter(|s| s.trace_id == trace_id).collect()
}

/// The children of `parent` in `spans`, in start order.
pub fn children<'a>(spans: &[&'a RecvSpan], parent: &RecvSpan) -> Vec<&'a RecvSpan> {
    let mut c: Vec<&RecvSpan> = spans
        .iter()
        .copied()
        .filter(|s| s.parent_id == parent.span_id)
        .collect();
    c.sort_by_key(|s| s.start_ns);
    c
}

/// The whole trace of `root` as an indented tree: name, duration, chosen attributes, status.
pub fn tree(spans: &[&RecvSpan], root: &RecvSpan) -> String {
    fn walk(spans: &[&RecvSpan], s: &RecvSpan, depth: usize, out: &mut String) {
        let ms = s.end_ns.saturating_sub(s.start_ns) as f64 / 1e6;
        let keys = [
            "aegis.host",
            "aegis.kind",
            "aegis.name",
            "aegis.revision",
            "object",
            "aegis.spec_hash",
            "aegis.steps",
        ];
        let attrs: Vec<String> = keys
            .iter()
            .filter_map(|k| {
                s.attr(k)
                    .map(|v| format!("{k}={}", v.chars().take(40).collect::<String>()))
            })
            .collect();
        let status = if s.status_code == STATUS_ERROR {
            format!("  ERROR: {}", s.status_message.lines().next().unwrap_or_default())
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}{} ({ms:.1} ms) {}{status}",
            "  ".repeat(depth),
            s.name,
            attrs.join(" ")
        );
        for c in children(spans, s) {
            walk(spans, c, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(spans, root, 0, &mut out);
    out
}
