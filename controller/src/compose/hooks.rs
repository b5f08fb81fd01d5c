//! compose `post_start` and `pre_stop`: lists of commands exec'd in a service's containers.
//!
//! Compose v2's semantics (docker/compose `pkg/compose/hook.go` and its callers), which aegis
//! follows:
//! - **`post_start`** runs after every container start Compose does: `up` and `start`
//!   (`startServiceContainer`, which also starts recreated and stopped containers) and
//!   `restart` (after the engine's restart). The hooks run in order, each to completion.
//! - **`pre_stop`** runs before `stop`, `down` (of a service still in the file),
//!   `restart`, and `up`'s scale-down (v2.40.3, the reference: `stopAndRemoveContainer`
//!   with the service) stop a container. It does *not* run when `up` recreates a container
//!   (`ContainerStop` directly), nor for orphans (no service config). A container already
//!   stopped or gone is skipped. In aegis: scale-down and `aegisctl restart`.
//! - A hook is an exec (`user`, `privileged`, `working_dir`, `environment`, `command`); a
//!   non-zero exit fails the operation with `<service> hook exited with status N` (newer
//!   v2 adds the last 10 lines of stderr, else stdout; aegis does too). A failed `post_start` leaves the
//!   container running; a failed `pre_stop` leaves it not stopped.
//! - Output is streamed to `up`'s display; for the error only the tail is kept.
//! - Hooks are part of the service config hash: changing one recreates the container.
//!
//! A string `command` is split into words (compose-go's `ShellCommand`), not run by a shell.

use super::{flex::Bool, flex::CommandLine, flex::ListOrMap, flex::Scalar, options, report::Report};
use crate::{desired::Hook, yaml::FieldPath};
use serde::Deserialize;

/// One hook as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookDef {
    pub command: Option<CommandLine>,
    pub user: Option<Scalar>,
    pub privileged: Option<Bool>,
    pub working_dir: Option<String>,
    #[serde(default)]
    pub environment: ListOrMap,
}

/// Validates a hook list; errors name `services.<svc>.post_start[i].<field>`.
pub fn convert(report: &mut Report, path: &FieldPath, defs: Vec<HookDef>) -> Vec<Hook> {
    let mut hooks = Vec::new();
    for (i, def) in defs.into_iter().enumerate() {
        let at = path.index(i);
        let command = match def.command {
            None => {
                report.error_hint(
                    &at,
                    "a hook needs a `command`",
                    "e.g. `command: [\"sh\", \"-c\", \"echo started\"]`",
                );
                continue;
            }
            Some(c) => match report.check(&at.key("command"), options::command(c)) {
                Some(c) if !c.is_empty() => c,
                Some(_) => {
                    report.error(&at.key("command"), "the hook's command is empty");
                    continue;
                }
                None => continue,
            },
        };
        let mut environment = std::collections::BTreeMap::new();
        for (k, v) in def.environment.0 {
            match v {
                Some(v) => {
                    environment.insert(k, v);
                }
                None => report.error_hint(
                    &at.key("environment").key(k.clone()),
                    format!("`{k}` has no value"),
                    format!("write `{k}=value` (or `{k}: ${{{k}}}` to take it from the environment)"),
                ),
            }
        }
        hooks.push(Hook {
            command,
            user: def.user.map(|u| u.0).filter(|u| !u.is_empty()),
            privileged: def.privileged.is_some_and(|b| b.0),
            working_dir: def.working_dir.filter(|w| !w.is_empty()),
            environment,
        });
    }
    hooks
}
