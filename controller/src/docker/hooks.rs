//! Running compose lifecycle hooks (`post_start`, `pre_stop`) in a container, the way
//! Compose v2's `runHook` does: exec create (with the hook's user, privileges, working
//! directory and environment), attached start, exec inspect for the exit code. A non-zero
//! exit is an error holding the last lines of output (stderr's, else stdout's), as v2's.
//!
//! One difference: v2 waits for a hook for ever; a controller must not hang a host's whole
//! pass on one, so a hook still running after [`HOOK_TIMEOUT`] counts as failed.

use std::time::Duration;

use bollard::{
    exec::{CreateExecOptions, StartExecResults},
    models::ExecConfig,
};
use futures::StreamExt;

use super::{error::DockerError, DockerHost};
use crate::desired::{ContainerSpec, Hook};

/// How long one hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(600);
/// Compose v2 keeps the last 10 lines, at most 2048 bytes, for the error.
const TAIL_LINES: usize = 10;
const TAIL_BYTES: usize = 2048;

/// Which hook list ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    PostStart,
    PreStop,
}

impl Phase {
    fn key(self) -> &'static str {
        match self {
            Phase::PostStart => "post_start",
            Phase::PreStop => "pre_stop",
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Phase::PostStart => {
                "the container was started and keeps running (as with Compose v2), but the hook did not \
                 complete; fix the hook's command or what it needs inside the container and push: a changed \
                 hook recreates the container and runs it again (or `aegisctl restart` runs it again)"
            }
            Phase::PreStop => {
                "the container was not stopped (as with Compose v2); fix the hook's command or what it needs \
                 inside the container, then retry"
            }
        }
    }
}

/// Runs `spec`'s hooks of `phase` in container `id`, in order, stopping at the first failure.
/// The error names host, stack, service, container, the command, the exit code, the last
/// output lines and what to do. Environment values never appear in it.
pub async fn run(host: &DockerHost, spec: &ContainerSpec, id: &str, phase: Phase) -> Result<(), String> {
    let hooks = match phase {
        Phase::PostStart => &spec.post_start,
        Phase::PreStop => &spec.pre_stop,
    };
    for (i, hook) in hooks.iter().enumerate() {
        let what = format!(
            "{}[{i}] hook `{}` of service `{}` (stack `{}`, container `{}`) on host `{}`",
            phase.key(),
            shown(&hook.command),
            spec.service,
            spec.stack,
            spec.name,
            host.host(),
        );
        let outcome = match exec(host, id, hook).await {
            Ok(Some(o)) => o,
            // v2: a container already stopped or gone needs no `pre_stop`.
            Ok(None) if phase == Phase::PreStop => return Ok(()),
            Ok(None) => return Err(format!("{what}: the container is not running")),
            Err(e) => return Err(format!("{what}: {e}")),
        };
        tracing::info!(
            container = %spec.name,
            hook = phase.key(),
            index = i,
            exit_code = ?outcome.exit_code,
            "lifecycle hook ran"
        );
        if outcome.exit_code != Some(0) {
            let status = outcome.exit_code.map_or_else(
                || format!("did not finish within {}s", HOOK_TIMEOUT.as_secs()),
                |c| format!("exited with status {c}"),
            );
            let output = if outcome.tail.is_empty() {
                String::new()
            } else {
                format!("; last output:\n{}\n", outcome.tail)
            };
            return Err(format!("{what} {status}{output}; {}", phase.consequence()));
        }
    }
    Ok(())
}

/// The command as a reader would type it.
fn shown(cmd: &[String]) -> String {
    cmd.iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "'\"$;&|<>".contains(c)) {
                format!("'{}'", w.replace('\'', "'\\''"))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Outcome {
    /// `None` when still running at the timeout.
    exit_code: Option<i64>,
    tail: String,
}

/// `None`: the container is not running, or gone (the engine's 409 or 404 on exec create).
async fn exec(host: &DockerHost, id: &str, hook: &Hook) -> Result<Option<Outcome>, DockerError> {
    let config: ExecConfig = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(hook.command.clone()),
        user: hook.user.clone(),
        privileged: Some(hook.privileged),
        working_dir: hook.working_dir.clone(),
        env: (!hook.environment.is_empty()).then(|| hook.env_for_docker()),
        ..Default::default()
    }
    .into();
    let created = match host.call().create_exec(id, config).await {
        Ok(c) => c,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => return Ok(None),
        Err(e) => return Err(DockerError::api(host.host(), "run a hook in", "container", id, e)),
    };
    let started = host
        .call()
        .start_exec(&created.id, None)
        .await
        .map_err(|e| DockerError::api(host.host(), "run a hook in", "container", id, e))?;
    let (mut out, mut err) = (Tail::default(), Tail::default());
    if let StartExecResults::Attached { mut output, .. } = started {
        let read = async {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bollard::container::LogOutput::StdErr { message }) => err.push(&message),
                    Ok(other) => out.push(&other.into_bytes()),
                    Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(HOOK_TIMEOUT, read).await;
    }
    let inspected = host
        .call()
        .inspect_exec(&created.id)
        .await
        .map_err(|e| DockerError::api(host.host(), "inspect a hook in", "container", id, e))?;
    let err = err.finish();
    Ok(Some(Outcome {
        exit_code: if inspected.running == Some(true) {
            None
        } else {
            inspected.exit_code
        },
        tail: if err.is_empty() { out.finish() } else { err },
    }))
}

/// The last [`TAIL_LINES`] non-blank lines of a stream, at most [`TAIL_BYTES`] bytes, as v2's
/// `outputTail` keeps them (a `\r`-rewound progress line keeps its last segment).
#[derive(Default)]
struct Tail {
    lines: std::collections::VecDeque<String>,
    partial: Vec<u8>,
}

impl Tail {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(i) = bytes.iter().position(|b| *b == b'\n') {
            self.append(&bytes[..i]);
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.line(&line);
            bytes = &bytes[i + 1..];
        }
        self.append(bytes);
    }

    fn append(&mut self, b: &[u8]) {
        let room = TAIL_BYTES.saturating_sub(self.partial.len());
        self.partial.extend_from_slice(&b[..b.len().min(room)]);
    }

    fn line(&mut self, line: &str) {
        let line = line.trim_end_matches('\r');
        let line = line.rsplit('\r').next().unwrap_or(line);
        if line.trim().is_empty() {
            return;
        }
        self.lines.push_back(line.to_string());
        if self.lines.len() > TAIL_LINES {
            self.lines.pop_front();
        }
    }

    fn finish(mut self) -> String {
        let partial = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
        self.line(&partial);
        let joined = self.lines.into_iter().collect::<Vec<_>>().join("\n");
        let joined = joined.trim();
        if joined.len() <= TAIL_BYTES {
            return joined.to_string();
        }
        let mut start = joined.len() - TAIL_BYTES;
        while !joined.is_char_boundary(start) {
            start += 1;
        }
        joined[start..].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(chunks: &[&str]) -> String {
        let mut t = Tail::default();
        for c in chunks {
            t.push(c.as_bytes());
        }
        t.finish()
    }

    #[test]
    fn keeps_the_last_ten_non_blank_lines() {
        let many: String = (1..=15).map(|i| format!("line {i}\n\n")).collect();
        let t = tail(&[&many]);
        assert_eq!(t.lines().count(), 10);
        assert!(t.starts_with("line 6") && t.ends_with("line 15"), "{t}");
    }

    #[test]
    fn joins_split_chunks_and_keeps_a_partial_last_line() {
        assert_eq!(tail(&["hel", "lo\nwor", "ld"]), "hello\nworld");
        assert_eq!(tail(&["10%\r50%\r100%\r\ndone\n"]), "100%\ndone");
    }

    #[test]
    fn bounds_bytes() {
        let long = "x".repeat(10_000);
        assert!(tail(&[&long]).len() <= TAIL_BYTES);
    }

    #[test]
    fn shows_commands_quoted() {
        let cmd = vec!["sh".to_string(), "-c".into(), "echo hi; exit 3".into()];
        assert_eq!(shown(&cmd), "sh -c 'echo hi; exit 3'");
    }
}
