//! `aegisctl`: the operator's CLI.

use std::process::ExitCode;

use aegis::{
    apply,
    cli::{self, exit::Exit},
    source::{self, LoadError, SourceArgs},
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aegisctl",
    version,
    about = "Operate aegis: inspect and change what it manages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connect: cli::connect::ConnectArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Show what `aegis apply` would change against the live hosts.
    /// Exit 0: nothing to change; 1: changes; 2 or more: error (like `flux diff`; the README
    /// lists every code).
    Diff {
        #[command(flatten)]
        source: SourceArgs,
        /// The aegis instance whose objects to compare against.
        #[arg(long, env = "AEGIS_INSTANCE", default_value = aegis::labels::DEFAULT_INSTANCE)]
        instance: String,
    },
    /// Convert another tool's configuration into aegis manifests.
    Import {
        #[command(subcommand)]
        what: cli::import::ImportCommand,
    },
    #[command(flatten)]
    Remote(cli::commands::RemoteCommand),
    #[command(flatten)]
    Operate(cli::operate::OperateCommand),
}

fn main() -> ExitCode {
    aegis::telemetry::init_logs("warn");
    let cli = Cli::parse();
    match cli.command {
        Command::Remote(cmd) => run_remote(cmd, &cli.connect),
        Command::Operate(cmd) => block_on_remote(cli::operate::run(cmd, &cli.connect)),
        Command::Import { what } => match cli::import::run(what) {
            Ok(()) => Exit::Success.into(),
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Usage.into()
            }
        },
        Command::Diff { source, instance } => diff(&source, instance).into(),
    }
}

/// `diff`: 0 no changes, 1 changes, otherwise the error's code (README, "Exit codes").
fn diff(source: &SourceArgs, instance: String) -> Exit {
    let location = match source.location() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let (_checkout, resolved) = match source::load_once(&location) {
        Ok(r) => r,
        Err(e) => {
            match &e {
                LoadError::Invalid(diags) => {
                    eprintln!("{diags}");
                    eprintln!("{} error(s): the revision is invalid", diags.len());
                }
                LoadError::Source(s) => eprintln!("error: {s}"),
            }
            return Exit::from(&e);
        }
    };
    for w in &resolved.warnings {
        eprintln!("warning: {w}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Error;
        }
    };
    let mut plans = Vec::new();
    let mut exit = Exit::Success;
    for r in runtime.block_on(apply::plan_all(
        &resolved.state,
        &aegis::plan::PlanOptions {
            instance,
            ..Default::default()
        },
    )) {
        match r {
            Ok(p) => plans.push(p),
            Err(e) => {
                // A host that cannot be planned: its diff is unknown, which is an error here
                // (1 means "changes").
                exit = exit.and(match Exit::from(&e) {
                    Exit::Failed => Exit::Error,
                    other => other,
                });
                eprintln!("error: {e}");
            }
        }
    }
    print!(
        "{}",
        cli::print_diff_ordered(&plans, &resolved.state.management.reach_depth())
    );
    if plans.iter().any(|p| !p.errors.is_empty()) {
        exit = exit.and(Exit::Error);
    }
    if plans.iter().any(|p| !p.is_noop() || !p.held.is_empty()) {
        exit = exit.and(Exit::Failed);
    }
    exit
}

/// get/describe/reconcile/suspend/resume; exit codes as in the README's table.
fn run_remote(cmd: cli::commands::RemoteCommand, connect: &cli::connect::ConnectArgs) -> ExitCode {
    block_on_remote(cli::commands::run(cmd, connect))
}

/// Runs one remote command (also logs/events/restart); exit codes as in the README's table.
fn block_on_remote(
    fut: impl std::future::Future<Output = Result<bool, cli::client::ClientError>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(fut) {
        Ok(true) => Exit::Success.into(),
        Ok(false) => Exit::Failed.into(),
        Err(e) => {
            eprintln!("error: {e}");
            Exit::from(&e).into()
        }
    }
}
