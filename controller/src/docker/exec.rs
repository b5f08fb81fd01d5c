//! Running a command inside a running container and reading what it printed (readiness
//! checks such as `pangolin-cli status --json`).

use std::time::Duration;

use bollard::{
    exec::{CreateExecOptions, StartExecResults},
    models::ExecConfig,
};
use futures::StreamExt;

use super::{error::DockerError, DockerHost, Result};

/// Output is cut at this many bytes: a readiness check prints a line or a small JSON document.
const MAX_OUTPUT: usize = 64 * 1024;

/// What an exec'd command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// `None` when the engine did not report one (the command was still running at timeout).
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` in `container` (which must be running), waits for it to finish within
/// `timeout`, and returns its exit code and output. Three calls: create, start (attached),
/// inspect.
pub async fn exec(host: &DockerHost, container: &str, cmd: &[&str], timeout: Duration) -> Result<ExecOutput> {
    let config: ExecConfig = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
    .into();
    let created = host
        .call()
        .create_exec(container, config)
        .await
        .map_err(|e| DockerError::api(host.host(), "exec in", "container", container, e))?;
    let started = host
        .call()
        .start_exec(&created.id, None)
        .await
        .map_err(|e| DockerError::api(host.host(), "exec in", "container", container, e))?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let StartExecResults::Attached { mut output, .. } = started {
        let read = async {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bollard::container::LogOutput::StdErr { message }) => append(&mut stderr, &message),
                    Ok(other) => append(&mut stdout, &other.into_bytes()),
                    Err(_) => break,
                }
            }
        };
        // A hung command leaves its exit code unset; the caller treats that as not ready.
        let _ = tokio::time::timeout(timeout, read).await;
    }
    let inspected = host
        .call()
        .inspect_exec(&created.id)
        .await
        .map_err(|e| DockerError::api(host.host(), "inspect an exec in", "container", container, e))?;
    Ok(ExecOutput {
        exit_code: if inspected.running == Some(true) {
            None
        } else {
            inspected.exit_code
        },
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

fn append(buf: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}
