//! Docker Compose v2, the reference of the parity tests (`scripts/setup-compose-v2.sh`
//! installs v2.40.3 as the `docker compose` plugin and as `docker-compose-v2`).
//!
//! It always runs with a cleared environment (only `PATH`, `DOCKER_HOST`, `HOME` and the
//! variables the test passes), so nothing of the test runner's environment leaks into
//! interpolation: aegis never reads its process environment either.
#![allow(dead_code)]

use std::{
    path::Path,
    process::{Command, Output},
    sync::OnceLock,
};

/// How to call v2: `docker compose` (the CLI plugin) or the plain `docker-compose-v2`.
#[derive(Debug, Clone, Copy)]
enum Program {
    Plugin,
    Plain,
}

fn program() -> Option<Program> {
    static FOUND: OnceLock<Option<Program>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let is_v2 = |mut c: Command| {
            c.output().is_ok_and(|o| {
                o.status.success()
                    && String::from_utf8_lossy(&o.stdout)
                        .trim()
                        .trim_start_matches('v')
                        .starts_with("2.")
            })
        };
        let mut plugin = Command::new("docker");
        plugin.args(["compose", "version", "--short"]);
        let mut plain = Command::new("docker-compose-v2");
        plain.args(["version", "--short"]);
        if is_v2(plugin) {
            Some(Program::Plugin)
        } else if is_v2(plain) {
            Some(Program::Plain)
        } else {
            None
        }
    })
}

/// Whether Compose v2 is installed. Without it a parity test skips, except under CI
/// (`CI=true`), where it fails: CI installs it (`scripts/setup-compose-v2.sh`).
pub fn available(test: &str) -> bool {
    if program().is_some() {
        return true;
    }
    assert!(
        !super::under_ci(),
        "{test}: Docker Compose v2 is missing (run scripts/setup-compose-v2.sh)"
    );
    eprintln!("SKIP {test}: Docker Compose v2 is missing (run scripts/setup-compose-v2.sh)");
    false
}

/// `docker compose -p PROJECT -f FILE ARGS...` in `dir`, with only `env` as the
/// environment (besides `PATH`, `DOCKER_HOST` and `HOME`).
pub fn run(dir: &Path, project: &str, file: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = match program() {
        Some(Program::Plain) => Command::new("docker-compose-v2"),
        _ => {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        }
    };
    cmd.current_dir(dir).env_clear();
    for k in ["PATH", "DOCKER_HOST", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(env.iter().copied())
        .args([
            "--ansi",
            "never",
            "--progress",
            "quiet",
            "-p",
            project,
            "-f",
            file,
        ])
        .args(args)
        .output()
        .expect("run docker compose")
}
