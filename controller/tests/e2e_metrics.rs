//! Prometheus metrics end to end: a real Prometheus (Debian's `prometheus` 2.42, its own
//! process, config, port and data directory) scrapes a real controller every second; after
//! known events (a converge, a drift repair, a reconcile that fails) the values are read back
//! through Prometheus's query API. `promtool check metrics` accepts the exposition.
//!
//! Needs `prometheus` and `promtool` (`apt-get install prometheus`; scripts/setup-prometheus.sh).
//! Without them the test prints SKIP, except under `CI=true`, where it fails.

#[path = "support/controller.rs"]
mod controller;
mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use controller::ControllerProc;
use support::*;

fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/local/bin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `(prometheus, promtool)`, or `None` with a SKIP notice (a failure under CI).
fn tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (find("prometheus"), find("promtool")) {
        (Some(p), Some(t)) => Some((p, t)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: prometheus/promtool are missing under CI; scripts/setup-prometheus.sh should have installed them"
            );
            eprintln!("SKIP {test}: needs Debian's `prometheus` package (scripts/setup-prometheus.sh)");
            None
        }
    }
}

/// `GET path` on 127.0.0.1:`port`: (status, content type, body).
fn http_get(port: u16, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, ctype, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server of this test's own, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(bin: &PathBuf, target_port: u16) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: aegis\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .expect("write config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let me = Self {
            child,
            port,
            _dir: dir,
        };
        let t = Instant::now();
        // `/-/ready` answers 200 once the TSDB is open (queries get 503 before).
        while TcpStream::connect(("127.0.0.1", port)).is_err() || http_get(port, "/-/ready", None).0 != 200 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "prometheus did not start:\n{}",
                me.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query's `data.result`, asserting that Prometheus accepted the query.
    fn result(&self, q: &str) -> Vec<serde_json::Value> {
        let (status, _, body) = http_get(self.port, &format!("/api/v1/query?query={}", urlencode(q)), None);
        assert_eq!(status, 200, "query {q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(v["status"], "success", "query {q}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of an instant query's first sample, if any.
    fn query(&self, q: &str) -> Option<f64> {
        let r = self.result(q);
        r.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `q`'s value satisfies `ok`; returns it.
    fn wait(&self, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let t = Instant::now();
        loop {
            let v = self.query(q);
            if let Some(v) = v.filter(|v| ok(*v)) {
                return v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(45),
                "`{q}` is {v:?} after 45 s\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_reads_reconciles_drift_repairs_and_failures() {
    let Some((prometheus, promtool)) = tools("prometheus_reads_reconciles_drift_repairs_and_failures") else {
        return;
    };
    ensure_image();
    let src = Source::new();
    let good = unique("mgood");
    let bad = unique("mbad");
    let guard = unique("mdns");
    // The controller deploys the guard's agent: its /etc is a scratch directory, never the
    // machine's own.
    let scratch = tempfile::tempdir().expect("scratch");
    std::fs::create_dir_all(scratch.path().join("etc")).expect("etc");
    std::fs::create_dir_all(scratch.path().join("resolve")).expect("resolve");
    std::fs::write(scratch.path().join("etc/resolv.conf"), "nameserver 192.0.2.53\n").expect("resolv.conf");
    src.write(
        "aegis.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {good}}}\nspec:\n  services:\n    web:\n\
             \x20     image: {IMAGE}\n      command: [sleep, \"3600\"]\n      stop_signal: SIGKILL\n---\n\
             {MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {bad}}}\nspec:\n  services:\n    broken:\n\
             \x20     image: {IMAGE}\n      command: [/no/such/program]\n---\n\
             {MANIFEST_HEAD}\nkind: DnsGuard\nmetadata: {{name: {guard}}}\nspec:\n  host: local\n\
             \x20 probe: {{server: \"127.0.0.1:53\", name: example.test, timeout: 2s}}\n\
             \x20 fallbackNameservers: [\"192.0.2.53\"]\n\
             \x20 hostEtc: {etc}\n  hostResolvedDir: {resolved}\n",
            etc = scratch.path().join("etc").display(),
            resolved = scratch.path().join("resolve").display(),
        ),
    );
    let ctl = ControllerProc::start(&src);
    let status = ctl.wait_ready_status("stacks", &good, None, Duration::from_secs(60));
    let revision = status.observed_revision.expect("revision");
    let prom = Prometheus::start(&prometheus, ctl.port);
    prom.wait("up{job=\"aegis\"}", |v| v == 1.0);

    // A converge and a failure.
    prom.wait(
        &format!("aegis_resource_info{{kind=\"Stack\",name=\"{good}\",revision=\"{revision}\"}}"),
        |v| v == 1.0,
    );
    prom.wait(&format!("aegis_resource_ready{{name=\"{good}\"}}"), |v| v == 1.0);
    prom.wait(&format!("aegis_resource_ready{{name=\"{bad}\"}}"), |v| v == 0.0);
    prom.wait(
        &format!("aegis_source_revision_info{{revision=\"{revision}\"}}"),
        |v| v == 1.0,
    );
    prom.wait("aegis_host_up{host=\"local\"}", |v| v == 1.0);
    let errors = prom.wait("aegis_reconciles_total{kind=\"Stack\",result=\"error\"}", |v| {
        v >= 1.0
    });
    prom.wait("aegis_reconciles_total{kind=\"Stack\",result=\"success\"}", |v| {
        v >= 1.0
    });
    prom.wait(
        "aegis_reconcile_duration_seconds_count{kind=\"Stack\",result=\"error\"}",
        |v| v >= errors,
    );
    prom.wait("aegis_queue_depth", |v| v >= 0.0);
    assert_eq!(
        prom.query(&format!("aegis_drift_repairs_total{{name=\"{good}\"}}")),
        None
    );

    // A drift repair: counted once the container is back.
    let container = format!("{good}-web-1");
    let before = container_id(&container);
    docker(&["rm", "-f", &container]);
    ctl.wait_for(Duration::from_secs(20), "the drift repair", || {
        docker_ok(&["inspect", &container])
            .then(|| container_id(&container))
            .filter(|id| *id != before)
    });
    let repairs = prom.wait(
        &format!("aegis_drift_repairs_total{{host=\"local\",kind=\"Stack\",name=\"{good}\"}}"),
        |v| v >= 1.0,
    );
    assert_eq!(repairs, 1.0, "one container was repaired");
    // The failing stack keeps failing (with backoff): the error count grows.
    prom.wait("aegis_reconciles_total{kind=\"Stack\",result=\"error\"}", |v| {
        v > errors
    });

    // The guard's agent is deployed by the controller (its image built first): its status,
    // and with it its family of action counters, exists once that pass is done.
    ctl.wait_ready_status("dnsguards", &guard, None, Duration::from_secs(240));

    // The exposition: the text format for promtool, OpenMetrics for who asks.
    let (code, ctype, text) = http_get(ctl.port, "/metrics", None);
    assert_eq!(code, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for family in [
        "aegis_rollbacks_total{host=\"local\"} 0",
        &format!("aegis_dnsguard_actions_total{{dnsguard=\"{guard}\",tier=\"fallback\"}} 0"),
        "# TYPE aegis_reconcile_duration_seconds histogram",
    ] {
        assert!(text.contains(family), "no {family} in\n{text}");
    }
    let (_, ctype, om) = http_get(
        ctl.port,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(om.ends_with("# EOF\n"));
    println!("{text}");

    // The dashboard's PromQL runs on this Prometheus, and its resource table lists both
    // stacks, the one that never applied included.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("manifests/grafana/aegis.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut table = None;
    for p in dashboard["panels"].as_array().expect("panels") {
        if p["datasource"]["type"] != "prometheus" {
            continue;
        }
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"]
                .as_str()
                .expect("expr")
                .replace("$host", ".*")
                .replace("$kind", ".*")
                .replace("$__rate_interval", "1m");
            let result = prom.result(&expr);
            if t["format"] == "table" {
                table = Some(result);
            }
        }
    }
    let rows = table.expect("the resources table");
    for name in [&good, &bad] {
        assert!(
            rows.iter().any(|r| r["metric"]["name"] == name.as_str()),
            "the resources table lacks {name}: {rows:?}"
        );
    }
    assert!(rows
        .iter()
        .any(|r| r["metric"]["name"] == good.as_str() && r["metric"]["revision"] == revision.as_str()));
}
