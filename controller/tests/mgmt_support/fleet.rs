//! The source of the two-engine fleet the `e2e_mgmt_*` tests declare: host `a` (the first
//! engine), host `b` (engine 2, with its agent socket and management path), b's forwarder
//! (socat on b's host network, b's socket mounted), a relay on `a` and plain apps, as YAML
//! documents that a test joins in the order it wants.

use super::{Engine2, BUSYBOX, SOCAT};

/// Host `a`: this machine's engine. A whole document, without a `---` before it.
pub const HOST_A: &str = r#"apiVersion: aegis.dev/v1alpha1
kind: Host
metadata: {name: a}
spec: {endpoint: "unix:///var/run/docker.sock"}
"#;

/// What the forwarder on b connects to: b's socket, mounted into it.
pub const TO_SOCKET: &str = "UNIX-CONNECT:/var/run/docker.sock";

/// socat arguments: listen on loopback `port` (with `extra` flags first), go to `to`.
pub fn socat_listen(port: u16, to: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    v.push(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"));
    v.push(to.to_string());
    v
}

/// `args` as the items of a YAML flow list: `"a", "b"`.
pub fn quoted(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hosts `a` and `b`, then b's forwarder Stack `fwd` running socat with `fwd_args`. b is
/// reached at `b_endpoint`; its `managementPath` is the Stacks `path`.
pub fn hosts_and_forwarder(
    e2: &Engine2,
    b_endpoint: &str,
    path: &[&str],
    fwd: &str,
    fwd_args: &[String],
) -> String {
    let path: Vec<String> = path.iter().map(|s| format!("Stack/{s}")).collect();
    format!(
        r#"{HOST_A}---
apiVersion: aegis.dev/v1alpha1
kind: Host
metadata: {{name: b}}
spec:
  endpoint: "{b_endpoint}"
  agentSocket: {sock}
  managementPath: [{path}]
---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {fwd}}}
spec:
  host: b
  confirmTimeout: 10s
  services:
    socat:
      image: {SOCAT}
      network_mode: host
      volumes: ["{sock}:/var/run/docker.sock"]
      command: [{cmd}]
"#,
        sock = e2.sock_path,
        path = path.join(", "),
        cmd = quoted(fwd_args),
    )
}

/// A relay Stack `name` on `a` (socat on a's host network) running `args`.
pub fn relay(name: &str, args: &[String]) -> String {
    format!(
        r#"---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {name}}}
spec:
  host: a
  confirmTimeout: 10s
  services:
    socat: {{image: "{SOCAT}", network_mode: host, command: [{cmd}]}}
"#,
        cmd = quoted(args)
    )
}

/// A plain Stack `name` on `host`: one busybox `sleep {sleep}`.
pub fn app(name: &str, host: &str, sleep: &str) -> String {
    format!(
        r#"---
apiVersion: aegis.dev/v1alpha1
kind: Stack
metadata: {{name: {name}}}
spec:
  host: {host}
  services:
    main: {{image: "{BUSYBOX}", command: ["sleep", "{sleep}"], stop_grace_period: 1s}}
"#
    )
}
