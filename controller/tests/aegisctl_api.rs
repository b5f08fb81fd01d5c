//! `aegisctl` against a real API server on loopback: a real `StatusStore`, a fake
//! `Control`, the built binary. Covers plain HTTP, TLS with and without the CA, auth and
//! error messages, and `get -w`.

#[path = "support/certs.rs"]
mod certs;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::Arc,
    time::Duration,
};

use aegis::{
    api::{ApiConfig, ApiServer, ApiState, Control, ControlError, ReconcileResult, TlsFiles},
    desired::Kind,
    status::{ConditionStatus, ConditionType, EventReason, EventType, InventoryItem, StatusKey, StatusStore},
};
use futures::future::BoxFuture;

const TOKEN: &str = "integration-token";

struct FakeControl;

impl Control for FakeControl {
    fn reconcile(
        &self,
        kind: Kind,
        name: String,
        _: Duration,
    ) -> BoxFuture<'static, Result<ReconcileResult, ControlError>> {
        Box::pin(async move {
            if name != "demo" {
                return Err(ControlError::NotFound { kind, name });
            }
            Ok(ReconcileResult {
                kind,
                name,
                host: "local".into(),
                succeeded: true,
                revision: Some("0d89988f3a1b2c3d4e5f60718293a4b5c6d7e8f9".into()),
                message: "no changes".into(),
                duration_ms: 1200,
                run: Some(3),
            })
        })
    }
    fn reconcile_all(&self, _: Duration) -> BoxFuture<'static, Result<Vec<ReconcileResult>, ControlError>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn suspend(&self, _: Kind, _: String, _: bool) -> BoxFuture<'static, Result<(), ControlError>> {
        Box::pin(async { Ok(()) })
    }
    fn ready(&self) -> bool {
        true
    }
}

fn seeded_store() -> StatusStore {
    let store = StatusStore::in_memory();
    store.update(&StatusKey::new(Kind::Stack, "local", "demo"), |s| {
        s.observed_revision = Some("0d89988f3a1b2c3d4e5f60718293a4b5c6d7e8f9".into());
        s.inventory = vec![
            InventoryItem::container("demo-api-1", "running", Some("unhealthy")),
            InventoryItem::container("demo-web-1", "running", None),
        ];
        let r = aegis::status::stack_readiness(&s.inventory);
        s.set_condition(ConditionType::Ready, r.status, r.reason, r.message);
        s.record_event(EventType::Normal, EventReason::Created, "created demo-api-1");
    });
    store.update(&StatusKey::new(Kind::Stack, "vps", "pangolin"), |s| {
        s.set_condition(
            ConditionType::Ready,
            ConditionStatus::True,
            "ReconciliationSucceeded",
            "1/1 ready",
        );
    });
    store.update(&StatusKey::new(Kind::Network, "local", "web"), |_| {});
    store
}

/// Serves the API on 127.0.0.1:0 in the background; returns its address.
async fn serve(store: StatusStore, tls: Option<TlsFiles>) -> SocketAddr {
    let server = ApiServer::bind(ApiConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        tls,
        insecure_api: false,
        metrics_token_required: false,
    })
    .unwrap();
    let addr = server.local_addr();
    let state = ApiState::new(store, Arc::new(FakeControl));
    tokio::spawn(server.run(state, std::future::pending()));
    addr
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(dir.path().join("wrong-token"), "nope\n").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a clean environment: no user config, no AEGIS_* from outside.
    fn command(&self, server: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegisctl"));
        for var in [
            "AEGIS_SERVER",
            "AEGIS_TOKEN",
            "AEGIS_TOKEN_FILE",
            "AEGIS_CA",
            "XDG_CONFIG_HOME",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.dir.path())
            .env("AEGIS_CONFIG", self.path("no-config.yaml"))
            .arg("--server")
            .arg(server)
            .args(args);
        cmd
    }

    async fn run(&self, server: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(server, args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_describe_reconcile_over_http() {
    let env = Env::new();
    let server = format!("http://{}", serve(seeded_store(), None).await);
    let token = env.path("token");
    let token = token.to_str().unwrap();

    let out = env.run(&server, &["get", "stacks", "--token-file", token]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<_> = text.lines().collect();
    assert!(
        lines[0].starts_with("NAME       HOST    READY   STATUS                    REVISION   AGE   MESSAGE"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("demo       local   False   ContainerUnhealthy        0d89988 "),
        "{text}"
    );
    assert!(lines[1].ends_with("container demo-api-1 is unhealthy"), "{text}");
    assert!(lines[2].starts_with("pangolin   vps     True "), "{text}");
    assert_eq!(lines.len(), 3, "{text}");

    let out = env
        .run(&server, &["get", "stack", "-o", "json", "--token-file", token])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo", "pangolin"]);

    let out = env
        .run(&server, &["get", "all", "--host", "local", "--token-file", token])
        .await;
    assert!(stdout(&out).contains("network/web "), "{}", stdout(&out));

    let out = env
        .run(&server, &["describe", "stack", "demo", "--token-file", token])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Host:         local\n"), "{text}");
    assert!(text.contains("ContainerUnhealthy"), "{text}");
    assert!(
        text.contains("container   demo-api-1   running   unhealthy"),
        "{text}"
    );
    assert!(text.contains("Normal   Created   created demo-api-1"), "{text}");

    let out = env
        .run(&server, &["describe", "stack", "x", "--token-file", token])
        .await;
    assert_eq!(out.status.code(), Some(5), "no such resource: exit 5");
    assert_eq!(stderr(&out), "error: no Stack named `x`\n");

    let out = env
        .run(&server, &["reconcile", "stack", "demo", "--token-file", token])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Stack/demo reconciled on local at 0d89988 in 1.2s (run #3): no changes\n"
    );

    let out = env
        .run(&server, &["suspend", "stack", "demo", "--token-file", token])
        .await;
    assert_eq!(stdout(&out), "Stack/demo suspended\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_errors_are_clear() {
    let env = Env::new();
    let server = format!("http://{}", serve(seeded_store(), None).await);
    let wrong = env.path("wrong-token");
    let out = env
        .run(
            &server,
            &["get", "stacks", "--token-file", wrong.to_str().unwrap()],
        )
        .await;
    assert_eq!(out.status.code(), Some(4), "a rejected token: exit 4");
    assert_eq!(
        stderr(&out),
        "error: the server rejected the token — check --token-file / AEGIS_TOKEN\n"
    );

    // AEGIS_TOKEN holds the token itself.
    let mut cmd = env.command(&server, &["get", "stacks"]);
    cmd.env("AEGIS_TOKEN", TOKEN);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // And the config file can name server and token.
    let config = env.path("config.yaml");
    std::fs::write(&config, format!("server: {server}\ntoken-file: token\n")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegisctl"));
    cmd.env_remove("AEGIS_SERVER")
        .env_remove("AEGIS_TOKEN")
        .env_remove("AEGIS_TOKEN_FILE")
        .env("AEGIS_CONFIG", &config)
        .args(["get", "networks"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("web "), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_server_says_what_to_do() {
    let env = Env::new();
    // Bind and drop: a port with nobody listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let token = env.path("token");
    let out = env
        .run(
            &server,
            &["get", "stacks", "--token-file", token.to_str().unwrap()],
        )
        .await;
    assert_eq!(out.status.code(), Some(4), "an unreachable API: exit 4");
    assert_eq!(
        stderr(&out),
        format!(
            "error: cannot reach aegis at {server}: connection refused — is `aegis controller` running? \
             set --server or AEGIS_SERVER\n"
        )
    );
}

/// A throwaway CA (`ca.pem` in `dir`) and a server certificate for 127.0.0.1 signed by it.
fn write_certs(dir: &Path) -> TlsFiles {
    let c = certs::write(dir);
    TlsFiles {
        cert: c.cert,
        key: c.key,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_the_ca_works_and_without_it_fails() {
    let env = Env::new();
    let tls = write_certs(env.dir.path());
    let server = format!("https://{}", serve(seeded_store(), Some(tls)).await);
    let token = env.path("token");
    let token = token.to_str().unwrap();
    let ca = env.path("ca.pem");

    let out = env
        .run(
            &server,
            &[
                "get",
                "stacks",
                "--token-file",
                token,
                "--ca",
                ca.to_str().unwrap(),
            ],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("pangolin"), "{}", stdout(&out));

    let out = env.run(&server, &["get", "stacks", "--token-file", token]).await;
    assert_eq!(out.status.code(), Some(4), "an unverifiable certificate: exit 4");
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("error: cannot verify aegis at {server}: ")),
        "{err}"
    );
    assert!(err.contains("pass --ca"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_prints_a_row_per_change() {
    let env = Env::new();
    let store = seeded_store();
    let server = format!("http://{}", serve(store.clone(), None).await);
    let token = env.path("token");
    let mut child = env
        .command(
            &server,
            &["get", "stacks", "-w", "--token-file", token.to_str().unwrap()],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("aegisctl printed nothing within 10 s")
            .expect("aegisctl ended")
    };
    assert!(next().await.starts_with("NAME "));
    assert!(next().await.starts_with("demo "));
    assert!(next().await.starts_with("pangolin "));
    // Once the watch is subscribed to the store (not after a pause), change a stack.
    tokio::time::timeout(Duration::from_secs(10), async {
        while store.subscribers() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("aegisctl get -w never subscribed to the store");
    store.update(&StatusKey::new(Kind::Stack, "vps", "pangolin"), |s| {
        s.set_condition(
            ConditionType::Stalled,
            ConditionStatus::True,
            "HostUnreachable",
            "no route to vps",
        );
    });
    let row = next().await;
    assert!(
        row.starts_with("pangolin   vps     True    HostUnreachable"),
        "{row}"
    );
    assert!(row.ends_with("no route to vps"), "{row}");
    child.kill().unwrap();
    child.wait().unwrap();
}
